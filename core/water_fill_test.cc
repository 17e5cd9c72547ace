// Tests for weighted water-filling.
#include "core/water_fill.h"

#include <gtest/gtest.h>

#include <numeric>
#include <random>

namespace rackos {
namespace {

int64_t sum(const std::vector<int64_t>& v) { return std::accumulate(v.begin(), v.end(), int64_t{0}); }

TEST(WaterFill, FloorsThenWeights) {
  std::vector<FillClaim> c = {{100, 1000, 1}, {100, 1000, 3}};
  auto out = water_fill(1000, c);
  EXPECT_EQ(sum(out), 1000);
  EXPECT_EQ(out[0], 100 + 200);
  EXPECT_EQ(out[1], 100 + 600);
}

TEST(WaterFill, CappedClaimantsReleaseToOthers) {
  std::vector<FillClaim> c = {{0, 100, 1}, {0, 5000, 1}, {0, 5000, 1}};
  auto out = water_fill(3000, c);
  EXPECT_EQ(out[0], 100);
  EXPECT_EQ(out[1] + out[2], 2900);
  EXPECT_LE(std::abs(out[1] - out[2]), 1);
}

TEST(WaterFill, NotEnoughDemandLeavesCapacityIdle) {
  std::vector<FillClaim> c = {{50, 200, 1}, {0, 300, 1}};
  auto out = water_fill(10000, c);
  EXPECT_EQ(out[0], 200);
  EXPECT_EQ(out[1], 300);
}

TEST(WaterFill, OvercommittedFloorsScale) {
  std::vector<FillClaim> c = {{600, 600, 1}, {600, 600, 1}};
  auto out = water_fill(1000, c);
  EXPECT_EQ(sum(out), 1000);
  EXPECT_EQ(out[0], 500);
}

TEST(WaterFill, RandomProperties) {
  std::mt19937_64 rng(3);
  for (int iter = 0; iter < 2000; ++iter) {
    size_t n = 1 + rng() % 20;
    std::vector<FillClaim> c(n);
    int64_t floors = 0, ceilings = 0;
    int64_t cap = static_cast<int64_t>(rng() % 20000);
    for (auto& x : c) {
      x.floor = static_cast<int64_t>(rng() % 500);
      x.ceiling = x.floor + static_cast<int64_t>(rng() % 3000);
      x.weight = 1 + static_cast<int64_t>(rng() % 100);
      floors += x.floor;
      ceilings += x.ceiling;
    }
    if (floors > cap) cap = floors;
    auto out = water_fill(cap, c);
    ASSERT_EQ(sum(out), std::min(cap, ceilings)) << iter;
    for (size_t i = 0; i < n; ++i) {
      ASSERT_GE(out[i], c[i].floor);
      ASSERT_LE(out[i], c[i].ceiling);
    }
    // Fairness: an uncapped claimant never gets less per weight (above its
    // floor) than another claimant, beyond rounding.
    for (size_t i = 0; i < n; ++i) {
      if (out[i] == c[i].ceiling) continue;
      for (size_t j = 0; j < n; ++j) {
        if (out[j] == c[j].floor) continue;
        double gi = static_cast<double>(out[i] - c[i].floor + 1) / static_cast<double>(c[i].weight);
        double gj = static_cast<double>(out[j] - c[j].floor - 1) / static_cast<double>(c[j].weight);
        ASSERT_GE(gi + 1e-9, gj) << "iter " << iter;
      }
    }
  }
}

}  // namespace
}  // namespace rackos

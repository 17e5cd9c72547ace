// Property tests of the node allocator with random nodes and processes (fixed
// seeds), run over many consecutive loops so credits and squeezes evolve:
// Σ allocations ≤ capacity, min honoured, caps respected, work-conserving,
// memory never squeezed below min and only processes above min evicted.
#include <gtest/gtest.h>

#include <random>

#include "core/allocator.h"

namespace rackos {
namespace {

constexpr int64_t MiB = 1ll << 20;

class AllocatorProperty : public ::testing::TestWithParam<uint64_t> {};

TEST_P(AllocatorProperty, HoldsOverManyLoops) {
  const uint64_t seed = GetParam();
  std::mt19937_64 rng(seed);
  const size_t n = 1 + rng() % 40;
  std::vector<AllocInput> in(n);
  int64_t cpu_min_total = 0, mem_min_total = 0;
  for (size_t i = 0; i < n; ++i) {
    auto& p = in[i];
    p.id = ProcessId::make(static_cast<uint32_t>(i), 1);
    p.priority = static_cast<PriorityClass>(rng() % 4);
    int64_t mn = static_cast<int64_t>(rng() % 1000);
    int64_t mx = mn + 1 + static_cast<int64_t>(rng() % 3000);
    int64_t bu = mx + static_cast<int64_t>(rng() % 2) * static_cast<int64_t>(rng() % 3000);
    p.envelope.cpu_millis = {mn, mx, bu};
    int64_t mmn = MiB * static_cast<int64_t>(rng() % 512);
    int64_t mmx = mmn + MiB * static_cast<int64_t>(1 + rng() % 1024);
    p.envelope.memory_bytes = {mmn, mmx, mmx + MiB * static_cast<int64_t>(rng() % 512)};
    p.created_ms = static_cast<int64_t>(i);
    cpu_min_total += mn;
    mem_min_total += mmn;
  }
  // Admission control guarantees Σmin ≤ capacity; add random headroom.
  const int64_t cpu_cap = cpu_min_total + static_cast<int64_t>(rng() % 8000);
  const int64_t mem_cap = mem_min_total + MiB * static_cast<int64_t>(rng() % 4096);
  AllocatorConfig cfg;
  cfg.burst_window_ms = 2000;
  int64_t now = 0;
  for (int loop = 0; loop < 200; ++loop) {
    for (auto& p : in) {
      p.cpu_demand_millis = static_cast<int64_t>(rng() % 5000);
      p.memory_used_bytes = std::min(p.envelope.memory_bytes.burst,
                                     p.envelope.memory_bytes.min + MiB * static_cast<int64_t>(rng() % 1024));
    }
    auto out = allocate_node(cpu_cap, mem_cap, in, now, cfg);
    ASSERT_EQ(out.processes.size(), n);
    int64_t sum = 0, wanted = 0;
    for (size_t i = 0; i < n; ++i) {
      const auto& p = in[i];
      const auto& a = out.processes[i];
      const auto& cpu = p.envelope.cpu_millis;
      const auto& mem = p.envelope.memory_bytes;
      sum += a.cpu_target_millis;
      int64_t ceiling = a.state.cpu.bursting ? cpu.burst : cpu.max;
      int64_t upper = std::min(p.cpu_demand_millis, ceiling);
      wanted += upper;
      // Caps: never above the ceiling in force, which is max or burst.
      ASSERT_LE(a.cpu_target_millis, a.cpu_quota_millis) << "seed " << seed << " loop " << loop;
      ASSERT_LE(a.cpu_quota_millis, ceiling);
      if (out.cpu_contended) {
        ASSERT_GE(a.cpu_quota_millis, a.cpu_target_millis);
        ASSERT_GE(a.cpu_quota_millis, std::min(cpu.min, ceiling));  // room up to min stays open
      } else {
        ASSERT_TRUE(a.cpu_quota_millis == cpu.max || a.cpu_quota_millis == cpu.burst);
      }
      ASSERT_LE(a.cpu_target_millis, p.cpu_demand_millis);
      // Min honoured: at least min of what it asks for.
      ASSERT_GE(a.cpu_target_millis, std::min(p.cpu_demand_millis, cpu.min)) << "seed " << seed << " loop " << loop;
      ASSERT_GE(a.cpu_shares, 2u);
      ASSERT_LE(a.cpu_shares, 262144u);
      // Memory: low = min ≤ high ≤ max = burst.
      ASSERT_EQ(a.memory_low_bytes, mem.min);
      ASSERT_GE(a.memory_high_bytes, mem.min);
      ASSERT_LE(a.memory_high_bytes, mem.burst);
      ASSERT_EQ(a.memory_max_bytes, mem.burst);
    }
    ASSERT_LE(sum, cpu_cap) << "seed " << seed << " loop " << loop;
    ASSERT_EQ(sum, std::min(cpu_cap, wanted)) << "not work-conserving, seed " << seed << " loop " << loop;
    for (ProcessId e : out.evict) {
      const auto& p = in[e.slot()];
      ASSERT_GT(p.memory_used_bytes, p.envelope.memory_bytes.min) << "evicted at or below min, seed " << seed;
    }
    // Lower priority is evicted before higher.
    for (size_t k = 1; k < out.evict.size(); ++k) {
      ASSERT_LE(in[out.evict[k - 1].slot()].priority, in[out.evict[k].slot()].priority);
    }
    for (size_t i = 0; i < n; ++i) {
      in[i].state = out.processes[i].state;
      in[i].cpu_used_millis = out.processes[i].cpu_target_millis;
    }
    now += 50;
  }
}

INSTANTIATE_TEST_SUITE_P(Seeds, AllocatorProperty, ::testing::Range<uint64_t>(1, 101));

TEST(AllocatorProperty, DeterministicForSameInput) {
  std::vector<AllocInput> in(3);
  for (size_t i = 0; i < 3; ++i) {
    in[i].id = ProcessId::make(static_cast<uint32_t>(i), 1);
    in[i].envelope.cpu_millis = {100, 1000, 2000};
    in[i].envelope.memory_bytes = {MiB, 2 * MiB, 4 * MiB};
    in[i].cpu_demand_millis = 777;
  }
  auto a = allocate_node(1000, 1ll << 30, in, 5, {});
  auto b = allocate_node(1000, 1ll << 30, in, 5, {});
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(a.processes[i].cpu_target_millis, b.processes[i].cpu_target_millis);
    EXPECT_EQ(a.processes[i].cpu_shares, b.processes[i].cpu_shares);
  }
}

}  // namespace
}  // namespace rackos

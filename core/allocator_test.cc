// Allocator tests: min honoured, priority-weighted rest, caps, burst credits,
// memory reclaim and eviction.
#include "core/allocator.h"

#include <gtest/gtest.h>

namespace rackos {
namespace {

constexpr int64_t MiB = 1ll << 20;

AllocInput proc(uint32_t id, int64_t cpu_min, int64_t cpu_max, int64_t cpu_burst, int64_t demand,
                PriorityClass prio = PriorityClass::normal) {
  AllocInput p;
  p.id = ProcessId::make(id, 1);
  p.priority = prio;
  p.envelope.cpu_millis = {cpu_min, cpu_max, cpu_burst};
  p.envelope.memory_bytes = {64 * MiB, 256 * MiB, 512 * MiB};
  p.cpu_demand_millis = demand;
  p.cpu_used_millis = demand;
  p.memory_used_bytes = 64 * MiB;
  return p;
}

TEST(Allocator, SplitsContendedNodeInProportionToMin) {
  // Two busy processes, min 200m and 1000m, node of 1 core... scaled to fit:
  // Σmin must fit, so 1 core with mins 200m and 800m.
  std::vector<AllocInput> in = {proc(1, 200, 1000, 1000, 1000), proc(2, 800, 1000, 1000, 1000)};
  auto out = allocate_node(1000, 1ll << 30, in, 0, {});
  EXPECT_TRUE(out.cpu_contended);
  EXPECT_EQ(out.processes[0].cpu_target_millis, 200);
  EXPECT_EQ(out.processes[1].cpu_target_millis, 800);
  // Contended: quotas hold each at its target, so the split holds on any number of cores.
  EXPECT_EQ(out.processes[0].cpu_quota_millis, 200);
  EXPECT_EQ(out.processes[1].cpu_quota_millis, 800);
  EXPECT_EQ(out.processes[0].cpu_burst_millis, 0);
}

TEST(Allocator, RestGoesByPriorityWeight) {
  std::vector<AllocInput> in = {proc(1, 100, 4000, 4000, 4000, PriorityClass::batch),
                                proc(2, 100, 4000, 4000, 4000, PriorityClass::high)};
  auto out = allocate_node(2000, 1ll << 30, in, 0, {});
  // Each gets its min (100), the remaining 1800 split 1:4.
  EXPECT_EQ(out.processes[0].cpu_target_millis, 100 + 360);
  EXPECT_EQ(out.processes[1].cpu_target_millis, 100 + 1440);
  // Contended: shares make the kernel deliver the targets.
  EXPECT_LT(out.processes[0].cpu_shares, out.processes[1].cpu_shares);
}

TEST(Allocator, MinHonouredAgainstHigherClasses) {
  std::vector<AllocInput> in = {proc(1, 500, 2000, 2000, 2000, PriorityClass::batch),
                                proc(2, 500, 2000, 2000, 2000, PriorityClass::system)};
  auto out = allocate_node(1000, 1ll << 30, in, 0, {});
  EXPECT_EQ(out.processes[0].cpu_target_millis, 500);
  EXPECT_EQ(out.processes[1].cpu_target_millis, 500);
  EXPECT_EQ(out.processes[0].cpu_shares, out.processes[1].cpu_shares);
}

TEST(Allocator, IdleCapacityIsHandedOutUpToTheCap) {
  std::vector<AllocInput> in = {proc(1, 100, 500, 500, 3000), proc(2, 100, 4000, 4000, 50)};
  auto out = allocate_node(8000, 1ll << 30, in, 0, {});
  EXPECT_FALSE(out.cpu_contended);
  EXPECT_EQ(out.processes[0].cpu_target_millis, 500);  // capped at max
  EXPECT_EQ(out.processes[0].cpu_quota_millis, 500);
  EXPECT_EQ(out.processes[1].cpu_target_millis, 50);   // only what it wants
}

TEST(Allocator, BurstWhileCreditsLastThenMax) {
  AllocatorConfig cfg;
  cfg.burst_window_ms = 1000;  // bucket = (2000 − 1000) × 1 s
  std::vector<AllocInput> in = {proc(1, 100, 1000, 2000, 2000)};
  auto out = allocate_node(4000, 1ll << 30, in, 0, cfg);
  EXPECT_EQ(out.processes[0].cpu_quota_millis, 2000);  // starts with a full bucket
  EXPECT_EQ(out.processes[0].cpu_burst_millis, 1000);
  EXPECT_EQ(out.processes[0].cpu_target_millis, 2000);
  // Using 2 cores against max 1: 1 core·s of credits lasts 1 s.
  int64_t now = 0;
  int64_t fell_back_at = -1;
  for (int i = 0; i < 40; ++i) {
    in[0].state = out.processes[0].state;
    in[0].cpu_used_millis = out.processes[0].cpu_target_millis;
    now += 50;
    out = allocate_node(4000, 1ll << 30, in, now, cfg);
    if (out.processes[0].cpu_quota_millis == 1000 && fell_back_at < 0) fell_back_at = now;
  }
  EXPECT_EQ(fell_back_at, 1000);
  EXPECT_EQ(out.processes[0].cpu_target_millis, 1000);
  EXPECT_EQ(out.processes[0].cpu_burst_millis, 0);
  // Idle for a while earns credits back.
  in[0].cpu_used_millis = 0;
  in[0].state = out.processes[0].state;
  out = allocate_node(4000, 1ll << 30, in, now + 500, cfg);
  EXPECT_EQ(out.processes[0].cpu_quota_millis, 2000);
}

TEST(Allocator, MemoryLimitsFollowTheEnvelope) {
  std::vector<AllocInput> in = {proc(1, 100, 1000, 1000, 0)};
  auto out = allocate_node(4000, 1ll << 30, in, 0, {});
  EXPECT_EQ(out.processes[0].memory_low_bytes, 64 * MiB);
  EXPECT_EQ(out.processes[0].memory_high_bytes, 512 * MiB);  // credits: high = burst
  EXPECT_EQ(out.processes[0].memory_max_bytes, 512 * MiB);
  EXPECT_TRUE(out.evict.empty());
}

TEST(Allocator, MemoryPressureSqueezesLowestPriorityAboveMinThenEvicts) {
  AllocatorConfig cfg;
  cfg.evict_after_ms = 1000;
  auto hi = proc(1, 100, 1000, 1000, 0, PriorityClass::high);
  auto lo = proc(2, 100, 1000, 1000, 0, PriorityClass::batch);
  auto at_min = proc(3, 100, 1000, 1000, 0, PriorityClass::batch);
  hi.memory_used_bytes = 400 * MiB;
  lo.memory_used_bytes = 400 * MiB;
  at_min.memory_used_bytes = 64 * MiB;  // at its min: never touched
  std::vector<AllocInput> in = {hi, lo, at_min};
  const int64_t node_mem = 800 * MiB;   // 864 used: 64 too many
  auto out = allocate_node(4000, node_mem, in, 0, cfg);
  EXPECT_EQ(out.memory_deficit_bytes, 64 * MiB);
  EXPECT_FALSE(out.processes[0].squeezed);
  EXPECT_TRUE(out.processes[1].squeezed);
  EXPECT_EQ(out.processes[1].memory_high_bytes, 336 * MiB);
  EXPECT_FALSE(out.processes[2].squeezed);
  EXPECT_GE(out.processes[2].memory_high_bytes, out.processes[2].memory_low_bytes);
  EXPECT_TRUE(out.evict.empty());  // not yet: grace period
  for (size_t i = 0; i < in.size(); ++i) in[i].state = out.processes[i].state;
  out = allocate_node(4000, node_mem, in, 1000, cfg);
  ASSERT_EQ(out.evict.size(), 1u);
  EXPECT_EQ(out.evict[0], lo.id);
}

TEST(Allocator, SharesConvertToV2Weights) {
  EXPECT_EQ(shares_to_weight(2), 1u);
  EXPECT_EQ(shares_to_weight(262144), 10000u);
  EXPECT_EQ(shares_to_weight(1024), 39u);
}

}  // namespace
}  // namespace rackos

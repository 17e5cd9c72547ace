// Simulator tests with fixed seeds: determinism, and each fault kind with the
// invariants checked every step and the recovery bound.
#include "sim/simulator.h"

#include <gtest/gtest.h>

#include "sim/report.h"

namespace rackos::sim {
namespace {

SimConfig small_cluster(uint64_t seed) {
  SimConfig c;
  c.machines = synthetic_machines(60, seed);
  c.start_s = 100'000;
  c.duration_s = 4 * 3600;
  c.step_s = 120;
  c.pods = synthetic_pods(900, c.start_s, c.duration_s, seed);
  c.usage = synthetic_usage(64, seed);
  c.seed = seed;
  c.nodes_per_rack = 10;
  return c;
}

TEST(Simulator, SameSeedSameJson) {
  SimConfig c = small_cluster(7);
  c.faults.fail_nodes = 3;
  auto a = run_simulation(c);
  auto b = run_simulation(c);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(figures_json(*a, std::nullopt).dump(), figures_json(*b, std::nullopt).dump());
  c.seed = 8;
  auto other = run_simulation(c);
  ASSERT_TRUE(other);
  EXPECT_NE(figures_json(*a, std::nullopt).dump(), figures_json(*other, std::nullopt).dump());
}

class SimFaults : public ::testing::TestWithParam<uint64_t> {};

TEST_P(SimFaults, NodeCrashesRecoverWithinASecond) {
  SimConfig c = small_cluster(GetParam());
  c.faults.fail_nodes = 5;
  auto r = run_simulation(c);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->violations.empty()) << r->violations.front();
  ASSERT_EQ(r->recovery_ms.size(), 5u);
  EXPECT_GT(r->lost, 0u);
  EXPECT_EQ(r->rescheduled + r->lost_unplaceable, r->lost);
  EXPECT_LE(percentile(r->recovery_ms, 99), 1000.0) << "seed " << GetParam();
}

TEST_P(SimFaults, RackFailureRecovers) {
  SimConfig c = small_cluster(GetParam());
  c.faults.fail_rack = true;
  auto r = run_simulation(c);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->violations.empty()) << r->violations.front();
  EXPECT_GE(r->recovery_ms.size(), 1u);  // the busy nodes of the rack (best fit packs some, leaves others empty)
  EXPECT_GT(r->lost, 0u);
  EXPECT_EQ(r->rescheduled + r->lost_unplaceable, r->lost);
  EXPECT_LE(percentile(r->recovery_ms, 99), 1000.0) << "seed " << GetParam();
}

TEST_P(SimFaults, PartitionedNodesFenceBeforeTheirProcessesRunElsewhere) {
  SimConfig c = small_cluster(GetParam());
  c.faults.partition_nodes = 4;
  c.net_delay_ms_max = 40;  // slow network: the dangerous case for at-most-one
  auto r = run_simulation(c);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->violations.empty()) << r->violations.front();  // includes "runs twice"
  EXPECT_EQ(r->recovery_ms.size(), 4u);
}

TEST_P(SimFaults, SlowHeartbeatsFenceBeforeBeingDeclaredDead) {
  SimConfig c = small_cluster(GetParam());
  c.faults.slow_nodes = 6;
  c.faults.slow_delay_ms = 450;  // with the lease at 500 ms, some nodes are declared dead
  c.faults.slow_loss = 0.5;
  auto r = run_simulation(c);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->violations.empty()) << r->violations.front();  // fence before dead, nothing runs twice
  EXPECT_GT(r->false_deaths, 0u) << "seed " << GetParam();
  EXPECT_EQ(r->rescheduled + r->lost_unplaceable, r->lost);
  EXPECT_LE(percentile(r->recovery_ms, 99), 2000.0);
}

TEST_P(SimFaults, ShortControllerPauseStopsNothingLongOneFencesSingletons) {
  SimConfig c = small_cluster(GetParam());
  c.faults.controller_pause_ms = 200;  // within the node lease
  auto short_pause = run_simulation(c);
  ASSERT_TRUE(short_pause);
  EXPECT_EQ(short_pause->fenced_stops, 0u);
  EXPECT_EQ(short_pause->lost, 0u);
  c.faults.controller_pause_ms = 2000;  // longer than the node lease
  auto long_pause = run_simulation(c);
  ASSERT_TRUE(long_pause);
  EXPECT_TRUE(long_pause->violations.empty());
  EXPECT_GT(long_pause->fenced_stops, 0u);
  EXPECT_EQ(long_pause->lost, 0u);  // no node declared dead: the new controller grants fresh leases
  EXPECT_LE(percentile(long_pause->recovery_ms, 99), 2000.0 + 200.0);
}

INSTANTIATE_TEST_SUITE_P(Seeds, SimFaults, ::testing::Values(1, 2, 3, 42));

TEST(Simulator, BaselineIsStaticAndSlowToRecover) {
  SimConfig c = small_cluster(5);
  c.faults.fail_nodes = 2;
  SimConfig b = c;
  b.baseline = true;
  auto mine = run_simulation(c);
  auto base = run_simulation(b);
  ASSERT_TRUE(mine && base);
  EXPECT_GT(base->slack_percent, mine->slack_percent);
  EXPECT_GE(percentile(base->recovery_ms, 50), 340'000.0);
  EXPECT_LT(percentile(mine->recovery_ms, 99), 1000.0);
}

TEST(Simulator, FewerMachinesStillRun) {
  SimConfig c = small_cluster(9);
  c.node_limit = 20;
  auto r = run_simulation(c);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->nodes, 20);
  EXPECT_TRUE(r->violations.empty());
}

}  // namespace
}  // namespace rackos::sim

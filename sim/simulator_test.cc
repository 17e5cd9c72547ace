// Simulator tests with fixed seeds: the real controller over a synthetic
// workload — determinism, and each fault kind (crash, rack, partition, slow
// heartbeats, controller pause, controller restart) with the invariants
// checked every step (nothing runs twice, nothing is lost, the controller and
// the nodes agree) and the recovery bound.
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
  c.faults.restart_controller_at = 0.7;
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
  EXPECT_GT(r->frozen_ms.size(), 0u) << "seed " << GetParam();
  EXPECT_EQ(r->rescheduled + r->lost_unplaceable, r->lost);
  EXPECT_EQ(r->processes_doubled, 0);
  EXPECT_EQ(r->processes_lost, 0);
  // A node whose acks come back later than its lease flaps (fenced, an ack
  // lifts it and thaws its singletons, fenced again) for as long as the
  // network stays slow; within 2 s of it healing everything runs.
  EXPECT_LE(percentile(r->recovery_ms, 99), static_cast<double>(c.faults.slow_for_ms) + 2000.0);
}

TEST_P(SimFaults, ShortControllerPauseStopsNothingLongOneFreezesSingletons) {
  SimConfig c = small_cluster(GetParam());
  c.faults.controller_pause_ms = 200;  // within the node lease
  auto short_pause = run_simulation(c);
  ASSERT_TRUE(short_pause);
  EXPECT_EQ(short_pause->fenced_stops, 0u);
  EXPECT_EQ(short_pause->frozen_ms.size(), 0u);
  EXPECT_EQ(short_pause->lost, 0u);
  c.faults.controller_pause_ms = 2000;  // longer than the node lease, within lease + grace
  auto long_pause = run_simulation(c);
  ASSERT_TRUE(long_pause);
  EXPECT_TRUE(long_pause->violations.empty());
  EXPECT_EQ(long_pause->fenced_stops, 0u) << "frozen, then thawed by the controller's acks";
  EXPECT_GT(long_pause->frozen_ms.size(), 0u);
  EXPECT_LE(percentile(long_pause->frozen_ms, 100), 2000.0);
  EXPECT_EQ(long_pause->false_deaths, 0u);  // it reads every waiting heartbeat before it looks at a lease
  EXPECT_EQ(long_pause->processes_doubled, 0);
  EXPECT_EQ(long_pause->processes_lost, 0);
  EXPECT_LE(percentile(long_pause->recovery_ms, 99), 2000.0 + 500.0);
}

TEST_P(SimFaults, AControllerKilledMidWindowIsRebuiltFromItsStoreAndLosesNothing) {
  SimConfig c = small_cluster(GetParam());
  c.faults.restart_controller_at = 0.5;
  auto quick = run_simulation(c);
  ASSERT_TRUE(quick);
  EXPECT_TRUE(quick->violations.empty()) << quick->violations.front();
  EXPECT_EQ(quick->controller_restarts, 1);
  EXPECT_EQ(quick->fenced_stops, 0u);  // back within the lease
  EXPECT_EQ(quick->processes_doubled, 0);
  EXPECT_EQ(quick->processes_lost, 0);
  c.faults.controller_down_ms = 3000;  // longer than the lease: singletons frozen, then thawed
  c.faults.fail_nodes = 2;             // and nodes crash while it is down
  c.faults.at_fraction = 0.5001;       //   (1.4 s after the kill)
  auto slow = run_simulation(c);
  ASSERT_TRUE(slow);
  EXPECT_TRUE(slow->violations.empty()) << slow->violations.front();
  EXPECT_GT(slow->frozen_ms.size(), 0u);
  EXPECT_EQ(slow->processes_doubled, 0);
  EXPECT_EQ(slow->processes_lost, 0);
  c.faults.controller_down_ms = 6000;  // past the lease and the grace: frozen singletons are killed, then started again
  c.faults.fail_nodes = 0;
  auto long_down = run_simulation(c);
  ASSERT_TRUE(long_down);
  EXPECT_TRUE(long_down->violations.empty()) << long_down->violations.front();
  EXPECT_GT(long_down->fenced_stops, 0u);
  EXPECT_EQ(long_down->processes_doubled, 0);
  EXPECT_EQ(long_down->processes_lost, 0);
}

TEST_P(SimFaults, AnUnplannedFailoverOfTheControllerPairFreezesButKillsNothing) {
  SimConfig c = small_cluster(GetParam());
  c.faults.controller_failover_at = 0.5;  // the standby leads after the 600 ms leader lease
  auto r = run_simulation(c);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->violations.empty()) << r->violations.front();
  EXPECT_EQ(r->controller_restarts, 1);
  EXPECT_EQ(r->fenced_stops, 0u) << "seed " << GetParam();
  EXPECT_GT(r->frozen_ms.size(), 0u) << "the lease is shorter than the failover: singletons freeze";
  EXPECT_LE(percentile(r->frozen_ms, 99), 1000.0) << "seed " << GetParam();
  EXPECT_EQ(r->false_deaths, 0u);
  EXPECT_EQ(r->processes_doubled, 0);
  EXPECT_EQ(r->processes_lost, 0);
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
  EXPECT_TRUE(r->violations.empty()) << r->violations.front();
}

}  // namespace
}  // namespace rackos::sim

namespace rackos::sim {
namespace {

// Learned mins (the default mapping) against fixed fractions of the request,
// on a cluster small enough that CPU and memory bind: the controller's
// recommender raises and lowers mins, nothing runs twice, the invariants hold
// every step, and the learned mins reserve far less than static sizing while
// leaving as little demand unserved.
TEST(SimLearnedMins, PackTighterThanStaticSizingAndServeAsWell) {
  for (uint64_t seed : {3, 11}) {
    SimConfig c = small_cluster(seed);
    c.node_limit = 12;  // 60 machines' worth of tasks on 12
    auto learned = run_simulation(c);
    ASSERT_TRUE(learned) << learned.error().message;
    EXPECT_TRUE(learned->violations.empty()) << learned->violations.front();
    EXPECT_GT(learned->learned_raises, 0u);
    EXPECT_GT(learned->learned_lowers, 0u);
    EXPECT_EQ(learned->processes_doubled, 0);
    SimConfig b = c;
    b.baseline = true;
    auto base = run_simulation(b);
    ASSERT_TRUE(base);
    // Static sizing cannot place everything there; learned mins do, and
    // serve nearly all demand.
    EXPECT_LT(learned->unplaceable, base->unplaceable) << "seed " << seed;
    EXPECT_LE(learned->unserved_percent, 1.0) << "seed " << seed;
    EXPECT_LT(learned->allocation_percent, base->allocation_percent);
    EXPECT_LT(learned->slack_percent, base->slack_percent);
  }
}

}  // namespace
}  // namespace rackos::sim

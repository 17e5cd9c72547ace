// The real ClusterController in virtual time: steady state, a node crash, a
// controller killed and rebuilt from its store — nothing runs twice, nothing
// is lost, and the same seed gives the same result.
#include "sim/controller_sim.h"

#include <gtest/gtest.h>

#include <cstdio>

namespace rackos::sim {
namespace {

// The invariants every run must keep, whatever its faults.
void expect_nothing_doubled_or_lost(const ControllerSimResult& r) {
  EXPECT_EQ(r.processes_doubled, 0);
  EXPECT_EQ(r.processes_lost, 0);
  EXPECT_EQ(r.running_at_end, r.expected_at_end);
}

TEST(ControllerSim, EverythingRunsOnceInSteadyState) {
  ControllerSimConfig cfg;
  cfg.duration_ms = 3000;
  auto r = run_controller_sim(cfg);
  EXPECT_EQ(r.expected_at_end, 60);
  EXPECT_EQ(r.running_at_end, 60);
  EXPECT_EQ(r.processes_doubled, 0);
  EXPECT_EQ(r.processes_lost, 0);
  EXPECT_GT(r.commits, 0);
}

TEST(ControllerSim, ANodeCrashIsRecoveredWithinASecondAndNothingDoubles) {
  ControllerSimConfig cfg;
  cfg.crash_node_at_ms = 3000;
  cfg.duration_ms = 6000;
  auto r = run_controller_sim(cfg);
  std::printf("node crash: recovered in %lld ms; %lld messages, %lld commits\n", static_cast<long long>(r.recovery_ms),
              static_cast<long long>(r.messages), static_cast<long long>(r.commits));
  expect_nothing_doubled_or_lost(r);
  EXPECT_GT(r.recovery_ms, 400);   // the lease has to run out first
  EXPECT_LE(r.recovery_ms, 1000);
}

TEST(ControllerSim, AControllerKilledAndRebuiltFromItsStoreLosesAndDoublesNothing) {
  ControllerSimConfig cfg;
  cfg.restart_controller_at_ms = 3000;
  cfg.controller_down_ms = 800;  // longer than the monitors' lease: singletons are fenced, then started again
  cfg.duration_ms = 9000;
  auto r = run_controller_sim(cfg);
  EXPECT_EQ(r.controller_restarts, 1);
  expect_nothing_doubled_or_lost(r);
}

TEST(ControllerSim, ACrashAndARestartTogether) {
  ControllerSimConfig cfg;
  cfg.crash_node_at_ms = 2500;
  cfg.restart_controller_at_ms = 2700;  // while the crashed node's lease runs
  cfg.duration_ms = 9000;
  auto r = run_controller_sim(cfg);
  expect_nothing_doubled_or_lost(r);
}

TEST(ControllerSim, SameSeedSameResult) {
  ControllerSimConfig cfg;
  cfg.crash_node_at_ms = 2000;
  cfg.restart_controller_at_ms = 3000;
  cfg.duration_ms = 6000;
  cfg.seed = 42;
  auto a = run_controller_sim(cfg);
  auto b = run_controller_sim(cfg);
  EXPECT_EQ(a.messages, b.messages);
  EXPECT_EQ(a.commits, b.commits);
  EXPECT_EQ(a.recovery_ms, b.recovery_ms);
}

}  // namespace
}  // namespace rackos::sim

// The real ClusterController in the simulated world: steady state, a node
// crash, a partition, a controller killed and rebuilt from its store, a
// controller paused — nothing runs twice, nothing is lost, and the same seed
// gives the same result.
#include "sim/sim_world.h"

#include <gtest/gtest.h>

namespace rackos::sim {
namespace {

std::vector<NodeSpec> nodes(int count) {
  std::vector<NodeSpec> out;
  for (int i = 0; i < count; ++i) {
    NodeSpec n;
    n.name = "n" + std::to_string(i);
    n.cpu_millis = 8000;
    n.memory_bytes = 16ll << 30;
    out.push_back(n);
  }
  return out;
}

// 10 singletons (at-most-one) and 10 services of 5 instances (may run twice).
std::vector<ServiceSpec> services() {
  std::vector<ServiceSpec> out;
  for (int i = 0; i < 20; ++i) {
    ServiceSpec s;
    s.name = (i < 10 ? "one" : "many") + std::to_string(i);
    s.command = {"sleep", "1"};
    s.envelope.cpu_millis = {100, 500, 500};
    s.envelope.memory_bytes = {64 << 20, 128 << 20, 128 << 20};
    s.instances = i < 10 ? InstanceRange{1, 1} : InstanceRange{5, 5};
    out.push_back(s);
  }
  return out;
}

struct Booted {
  std::unique_ptr<World> world;
  int64_t t0 = 1'000'000;
};

Booted booted(uint64_t seed = 1) {
  WorldConfig cfg;
  cfg.seed = seed;
  Booted r{std::make_unique<World>(cfg, nodes(20))};
  r.world->boot(r.t0);
  r.world->set_detailed(true);
  auto applied = r.world->apply(services());
  EXPECT_EQ(applied.errors_size(), 0) << (applied.errors_size() ? applied.errors(0) : "");
  r.world->run_until(r.t0 + 2'000);
  return r;
}

size_t running_total(const World& w) {
  size_t k = 0;
  for (size_t i = 0; i < w.node_count(); ++i) k += w.node_alive(i) ? w.processes_on(i) : 0;
  return k;
}

void expect_clean(const World& w) {
  EXPECT_EQ(w.counters().processes_doubled, 0);
  EXPECT_EQ(w.counters().records_gone, 0);
  const DisruptionReport d = w.disruptions();
  EXPECT_EQ(d.lost, 0) << (d.lost_names.empty() ? "" : d.lost_names.front());
  EXPECT_TRUE(w.check_agreement().empty()) << w.check_agreement().front();
  EXPECT_EQ(running_total(w), 60u);
}

size_t busiest(const World& w) {
  size_t best = 0;
  for (size_t i = 0; i < w.node_count(); ++i) {
    if (w.processes_on(i) > w.processes_on(best)) best = i;
  }
  return best;
}

TEST(SimWorld, EverythingRunsOnceInSteadyState) {
  Booted r = booted();
  expect_clean(*r.world);
  EXPECT_GT(r.world->store_commits(), 0u);
  EXPECT_EQ(r.world->counters().processes_disrupted, 0);
}

TEST(SimWorld, ANodeCrashIsRecoveredWithinASecond) {
  Booted r = booted();
  r.world->crash(busiest(*r.world));
  r.world->run_until(r.t0 + 6'000);
  expect_clean(*r.world);
  ASSERT_EQ(r.world->counters().recovery_ms.size(), 1u);
  const double rec = r.world->counters().recovery_ms[0];
  EXPECT_GT(rec, 400);  // the lease has to run out first
  EXPECT_LE(rec, 1000);
}

TEST(SimWorld, APartitionedNodeFreezesItsSingletonsBeforeTheyRunElsewhere) {
  for (uint64_t seed : {1, 2, 3}) {
    for (int64_t cut_ms : {3'000, 6'000}) {  // healed within the lease + grace, and after it
      WorldConfig cfg;
      cfg.seed = seed;
      cfg.net_delay_max_ms = 40;  // a slow network: the dangerous case for at-most-one
      World w(cfg, nodes(20));
      w.boot(1'000'000);
      w.set_detailed(true);
      ASSERT_EQ(w.apply(services()).errors_size(), 0);
      w.run_until(1'002'000);
      w.partition(busiest(w), cut_ms);
      w.run_until(1'012'000);
      EXPECT_GT(w.counters().frozen_ms.size(), 0u) << "seed " << seed;
      // Cut off past the grace: the frozen copies die on the node; before it,
      // the controller's word on reconnection (they run elsewhere) kills them.
      if (cut_ms > cfg.fence_grace_ms + 500) EXPECT_GT(w.counters().fenced_stops, 0) << "seed " << seed;
      else EXPECT_EQ(w.counters().fenced_stops, 0) << "seed " << seed;
      expect_clean(w);
    }
  }
}

TEST(SimWorld, MoreThanHalfTheNodesCutOffAtOnceIsHeldNotRescheduled) {
  Booted r = booted();
  // 11 of 20 nodes lose the controller for 3 s: from its side that looks
  // like the controller being cut off, not like 11 machines dying together.
  for (size_t i = 0; i < 11; ++i) r.world->partition(i, 3'000);
  r.world->run_until(r.t0 + 4'000);
  EXPECT_EQ(r.world->counters().false_deaths, 0);
  const ClusterState& st = r.world->controller()->state();
  for (size_t i = 0; i < 11; ++i) {
    EXPECT_NE(st.node(*st.find_node(r.world->node_name(i))).health.liveness, NodeState::dead) << i;
  }
  r.world->run_until(r.t0 + 9'000);  // healed: the fenced singletons start again where they were
  expect_clean(*r.world);
}

TEST(SimWorld, HalfTheNodesCrashingIsStillRecovered) {
  Booted r = booted();
  for (size_t i = 0; i < 10; ++i) r.world->crash(i);
  r.world->run_until(r.t0 + 6'000);
  EXPECT_EQ(r.world->counters().processes_doubled, 0);
  EXPECT_EQ(r.world->disruptions().lost, 0);
  EXPECT_EQ(running_total(*r.world), 60u);  // everything on the ten that are left
}

TEST(SimWorld, AControllerKilledAndRebuiltFromItsStoreLosesAndDoublesNothing) {
  Booted r = booted();
  r.world->kill_controller(800);  // longer than the node lease: singletons are frozen, then thawed
  r.world->run_until(r.t0 + 9'000);
  EXPECT_EQ(r.world->counters().controller_restarts, 1);
  EXPECT_EQ(r.world->counters().fenced_stops, 0) << "frozen and thawed, never killed";
  EXPECT_GT(r.world->counters().frozen_ms.size(), 0u);
  for (double ms : r.world->counters().frozen_ms) EXPECT_LT(ms, 1'000);
  expect_clean(*r.world);
}

TEST(SimWorld, ACrashAndARestartTogether) {
  Booted r = booted();
  r.world->crash(busiest(*r.world));
  r.world->run_until(r.t0 + 2'200);  // while the crashed node's lease runs
  r.world->kill_controller(300);
  r.world->run_until(r.t0 + 9'000);
  expect_clean(*r.world);
}

TEST(SimWorld, AShortControllerPauseStopsNothing) {
  Booted r = booted();
  r.world->pause_controller(200);
  r.world->run_until(r.t0 + 5'000);
  EXPECT_EQ(r.world->counters().fenced_stops, 0);
  EXPECT_EQ(r.world->counters().false_deaths, 0);
  expect_clean(*r.world);
}

TEST(SimWorld, SameSeedSameResult) {
  auto once = [] {
    Booted r = booted(42);
    r.world->crash(busiest(*r.world));
    r.world->run_until(r.t0 + 3'000);
    r.world->kill_controller(300);
    r.world->run_until(r.t0 + 6'000);
    return std::make_tuple(r.world->counters().messages, r.world->store_commits(), r.world->counters().recovery_ms);
  };
  EXPECT_EQ(once(), once());
}

}  // namespace
}  // namespace rackos::sim

// Property tests of the scheduler on random clusters (fixed seeds): it never
// over-commits min, spreads (shares a node only when nothing else fits),
// preempts only lower priority, and places whenever some node fits.
#include <gtest/gtest.h>

#include <random>

#include "core/scheduler.h"
#include "core/test_cluster.h"

namespace rackos {
namespace {
using namespace rackos::testing;

struct World {
  ClusterState st;
  std::vector<ServiceId> services;
};

World random_world(std::mt19937_64& rng, int nodes, int services) {
  World w;
  for (int i = 0; i < nodes; ++i) {
    std::map<std::string, std::string> labels{{"rack", "r" + std::to_string(rng() % 4)},
                                              {"zone", "z" + std::to_string(rng() % 2)}};
    std::map<std::string, int64_t> res;
    if (rng() % 4 == 0) res["gpu"] = static_cast<int64_t>(rng() % 4);
    add_node(w.st, "n" + std::to_string(i), 1000 * static_cast<int64_t>(2 + rng() % 15),
             GiB * static_cast<int64_t>(2 + rng() % 30), labels, res);
    if (rng() % 10 == 0) {
      NodeHealth h = w.st.node(static_cast<NodeId>(i)).health;
      if (rng() % 2) h.draining = true; else h.liveness = NodeState::suspect;
      w.st.update_health(static_cast<NodeId>(i), h);
    }
  }
  for (int s = 0; s < services; ++s) {
    auto spec = service_spec("s" + std::to_string(s), 100 * static_cast<int64_t>(1 + rng() % 30),
                             MiB * 256 * static_cast<int64_t>(1 + rng() % 16), static_cast<PriorityClass>(rng() % 4),
                             static_cast<uint32_t>(1 + rng() % 6));
    if (rng() % 5 == 0) spec.resources["gpu"] = 1;
    if (rng() % 6 == 0) spec.constraints.push_back({"zone", Constraint::Op::in, {"z0"}});
    w.services.push_back(add_service(w.st, spec));
  }
  return w;
}

bool feasible(const ClusterState& st, const Service& s, const Node& n) { return why_not_fit(st, s, n).empty(); }

class SchedulerProperty : public ::testing::TestWithParam<uint64_t> {};

TEST_P(SchedulerProperty, InvariantsHoldOnRandomClusters) {
  const uint64_t seed = GetParam();
  std::mt19937_64 rng(seed);
  World w = random_world(rng, 12 + static_cast<int>(rng() % 20), 30);
  int64_t now = 0;
  for (int round = 0; round < 40; ++round) {
    ServiceId sid = w.services[rng() % w.services.size()];
    const Service& s = w.st.service(sid);
    ProcessId p = w.st.create_process(sid, ++now);

    // Before placing: which nodes could take it without sharing, without preempting?
    bool any_fit = false, any_fit_alone = false;
    for (const Node& n : w.st.nodes()) {
      if (!feasible(w.st, s, n)) continue;
      any_fit = true;
      if (s.on_node(n.id) == 0) any_fit_alone = true;
    }
    SchedulerConfig cfg;
    cfg.now_ms = now;
    std::vector<ProcessId> batch{p};
    auto plan = schedule(w.st, batch, cfg);

    std::string broken = w.st.check_invariants();
    ASSERT_EQ(broken, "") << "seed " << seed << " round " << round;
    for (const auto& pre : plan.preemptions) {
      auto vp = w.st.service(w.st.process(pre.victim).service).spec.priority;
      auto pp = w.st.service(w.st.process(pre.preemptor).service).spec.priority;
      ASSERT_LT(vp, pp) << "seed " << seed << ": preempted equal or higher priority";
    }
    const ProcessRecord& r = w.st.process(p);
    if (any_fit) {
      ASSERT_NE(r.node, kNoNode) << "seed " << seed << ": a node fit but nothing was placed";
      ASSERT_TRUE(plan.preemptions.empty()) << "seed " << seed << ": preempted although a node fit";
      if (any_fit_alone) {
        ASSERT_EQ(s.on_node(r.node), 1u) << "seed " << seed << ": shared a node although another fit alone";
      }
    }
    for (const auto& u : plan.unplaceable) ASSERT_FALSE(u.reason.empty());
    // Now and then a node dies and its processes are unbound.
    if (rng() % 10 == 0) {
      NodeId n = static_cast<NodeId>(rng() % w.st.node_count());
      for (ProcessId q : std::vector<ProcessId>(w.st.node(n).processes)) w.st.unbind(q);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Seeds, SchedulerProperty, ::testing::Range<uint64_t>(1, 41));

TEST(SchedulerProperty, BatchPlacementEqualsInvariants) {
  // A large batch at once: every placement respects Σmin; everything placed
  // or explained.
  std::mt19937_64 rng(99);
  World w = random_world(rng, 50, 40);
  std::vector<ProcessId> all;
  for (ServiceId s : w.services) {
    for (uint32_t i = 0; i < w.st.service(s).spec.instances.max; ++i) all.push_back(w.st.create_process(s, 0));
  }
  auto plan = schedule(w.st, all, {});
  EXPECT_EQ(w.st.check_invariants(), "");
  size_t placed_now = 0;
  w.st.processes().for_each([&](const ProcessRecord& r) { placed_now += r.node != kNoNode; });
  EXPECT_EQ(placed_now + plan.unplaceable.size(), all.size());
}

}  // namespace
}  // namespace rackos

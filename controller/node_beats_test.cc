// NodeBeats: heartbeats taken off the loop, ordered against the loop's
// verdicts; and the controller acting on them (no heartbeat through the loop).
#include "controller/node_beats.h"

#include <gtest/gtest.h>

#include <thread>

#include "controller/controller_test_harness.h"

namespace rackos::controller {
namespace {

NodeHealth health(NodeState s, int64_t last) {
  NodeHealth h;
  h.liveness = s;
  h.last_heartbeat_ms = last;
  return h;
}

TEST(NodeBeats, ASlotIsLoopOnlyUntilTheLoopPublishesAReadyNode) {
  NodeBeats b;
  auto* s = b.slot(3);
  EXPECT_FALSE(NodeBeats::beat(*s, 100));
  NodeBeats::publish(*s, health(NodeState::ready, 100));
  EXPECT_TRUE(NodeBeats::beat(*s, 150));
  EXPECT_EQ(NodeBeats::heard_ms(NodeBeats::word(*s)), 150);
  EXPECT_TRUE(NodeBeats::beat(*s, 120));  // an older time never moves it back
  EXPECT_EQ(NodeBeats::heard_ms(NodeBeats::word(*s)), 150);
  EXPECT_EQ(b.slot(3), s);  // stable as the table grows
  b.slot(1000);
  EXPECT_EQ(b.slot(3), s);
}

TEST(NodeBeats, SuspectIsTakenDeadAndFencedAreNot) {
  NodeBeats b;
  auto* s = b.slot(0);
  NodeBeats::publish(*s, health(NodeState::suspect, 100));
  EXPECT_TRUE(NodeBeats::beat(*s, 200));
  NodeBeats::publish(*s, health(NodeState::fenced, 100));
  EXPECT_FALSE(NodeBeats::beat(*s, 300));
  EXPECT_EQ(NodeBeats::heard_ms(NodeBeats::word(*s)), 200);  // publish keeps the latest time
  NodeBeats::publish(*s, health(NodeState::dead, 100));
  EXPECT_FALSE(NodeBeats::beat(*s, 300));
  b.reset();
  EXPECT_FALSE(NodeBeats::beat(*s, 400));
}

TEST(NodeBeats, TheDeadVerdictFailsIfAHeartbeatLandedAfterItWasJudged) {
  NodeBeats b;
  auto* s = b.slot(0);
  NodeBeats::publish(*s, health(NodeState::ready, 100));
  const uint64_t judged = NodeBeats::word(*s);
  ASSERT_TRUE(NodeBeats::beat(*s, 650));  // lands between the judgement and the verdict
  EXPECT_FALSE(NodeBeats::hold(*s, judged));
  const uint64_t again = NodeBeats::word(*s);
  EXPECT_EQ(NodeBeats::heard_ms(again), 650);
  EXPECT_TRUE(NodeBeats::hold(*s, again));  // judged on the fresh word, the verdict sticks
  EXPECT_FALSE(NodeBeats::beat(*s, 700));   // and nothing is taken after it
}

// Many threads beating while the loop tries verdicts: a beat that returned
// true is never later than a verdict that stuck (no ack after death).
TEST(NodeBeats, NoHeartbeatIsTakenAfterAVerdictUnderContention) {
  for (int round = 0; round < 50; ++round) {
    NodeBeats b;
    auto* s = b.slot(0);
    NodeBeats::publish(*s, health(NodeState::ready, 1));
    std::atomic<bool> dead{false};
    std::atomic<int> after_death{0};
    std::vector<std::thread> beaters;
    for (int t = 0; t < 3; ++t) {
      beaters.emplace_back([&, t] {
        for (int i = 0; i < 2000; ++i) {
          const bool was_dead = dead.load();
          if (NodeBeats::beat(*s, 2 + i * 3 + t) && was_dead) after_death.fetch_add(1);
        }
      });
    }
    while (!NodeBeats::hold(*s, NodeBeats::word(*s))) {
    }
    dead = true;
    for (auto& t : beaters) t.join();
    EXPECT_EQ(after_death.load(), 0);
    EXPECT_FALSE(NodeBeats::beat(*s, 1 << 30));
  }
}

TEST(ClusterController, HeartbeatsTakenOffTheLoopKeepANodeAliveAndItsDeathStillComes) {
  Harness h(temp_db());
  std::map<ConnId, NodeBeats::Slot*> bound;
  h.c->set_conn_binder([&](ConnId conn, NodeBeats::Slot* s) { bound[conn] = s; });
  h.reg(1, "n1", 0);
  h.reg(2, "n2", 0);
  h.step(0);
  ASSERT_NE(bound[1], nullptr);
  ASSERT_NE(bound[2], nullptr);
  // n1 beats only on its stream's thread; n2 is silent.
  for (int64_t t = 100; t <= 800; t += 100) {
    EXPECT_TRUE(NodeBeats::beat(*bound[1], t));
    h.c->tick(t);
    h.step(t);
  }
  auto nodes = h.c->list_nodes({});
  EXPECT_EQ(nodes.nodes(0).state(), v1::READY);
  EXPECT_EQ(nodes.nodes(1).state(), v1::DEAD);
  EXPECT_FALSE(NodeBeats::beat(*bound[2], 900));  // a dead node's heartbeat goes to the loop (which refuses it)
  // n1 turns suspect when its beats stop, and ready again when they resume, without the loop seeing one.
  h.c->tick(1250);
  EXPECT_EQ(h.c->list_nodes({}).nodes(0).state(), v1::SUSPECT);
  EXPECT_TRUE(NodeBeats::beat(*bound[1], 1260));
  h.c->tick(1270);
  EXPECT_EQ(h.c->list_nodes({}).nodes(0).state(), v1::READY);
  // A stream that closes speaks for no node.
  h.c->on_disconnect(1, 1300);
  EXPECT_EQ(bound[1], nullptr);
}

}  // namespace
}  // namespace rackos::controller

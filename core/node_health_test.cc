// Tests for the node state machine and the shim's self-fence rule.
#include "core/node_health.h"

#include <gtest/gtest.h>

namespace rackos {
namespace {

TEST(NodeHealth, ReadySuspectDead) {
  HealthConfig cfg;  // heartbeat 100, suspect after 3 missed, lease 500
  NodeHealth h;
  on_register(h, 0);
  EXPECT_EQ(on_tick(h, 300, cfg), HealthEvent::none);
  EXPECT_EQ(on_tick(h, 301, cfg), HealthEvent::became_suspect);
  EXPECT_EQ(h.state(), NodeState::suspect);
  EXPECT_FALSE(h.schedulable());
  EXPECT_EQ(on_heartbeat(h, 350), HealthEvent::became_ready);
  EXPECT_EQ(on_tick(h, 651, cfg), HealthEvent::became_suspect);
  EXPECT_EQ(on_tick(h, 849, cfg), HealthEvent::none);
  EXPECT_EQ(on_tick(h, 850, cfg), HealthEvent::became_dead);
  EXPECT_EQ(on_tick(h, 5000, cfg), HealthEvent::none);
  // A dead node's heartbeats do not revive it: it must register again.
  EXPECT_EQ(on_heartbeat(h, 900), HealthEvent::none);
  EXPECT_EQ(h.state(), NodeState::dead);
}

TEST(NodeHealth, DeadNodeComesBackFencedThenReady) {
  HealthConfig cfg;
  NodeHealth h;
  on_register(h, 0);
  on_tick(h, 600, cfg);
  ASSERT_EQ(h.state(), NodeState::dead);
  uint64_t inc = h.incarnation;
  EXPECT_EQ(on_register(h, 700), HealthEvent::became_fenced);
  EXPECT_GT(h.incarnation, inc);
  EXPECT_FALSE(h.schedulable());
  EXPECT_EQ(on_reconciled(h, 710), HealthEvent::became_ready);
  EXPECT_TRUE(h.schedulable());
}

TEST(NodeHealth, MoreThanHalfSilentAtOnceLooksLikeTheControllerIsCutOff) {
  EXPECT_FALSE(looks_cut_off(1, 4));
  EXPECT_FALSE(looks_cut_off(2, 4));   // half: a rack may die
  EXPECT_TRUE(looks_cut_off(3, 4));
  EXPECT_TRUE(looks_cut_off(6, 10));
  EXPECT_FALSE(looks_cut_off(1, 2));   // too few nodes to tell
  EXPECT_FALSE(looks_cut_off(40, 10'000));
}

TEST(NodeHealth, DrainingIsAFlagOverLiveness) {
  HealthConfig cfg;
  NodeHealth h;
  on_register(h, 0);
  h.draining = true;
  EXPECT_EQ(h.state(), NodeState::draining);
  EXPECT_FALSE(h.schedulable());
  on_tick(h, 1000, cfg);
  EXPECT_EQ(h.state(), NodeState::dead);  // a draining node can still die
}

TEST(NodeHealth, ASuspectNodeHeardAgainApartTurnsReadyOnTheTick) {
  HealthConfig cfg;
  NodeHealth h;
  on_register(h, 0);
  EXPECT_EQ(on_tick(h, 350, cfg), HealthEvent::became_suspect);
  h.last_heartbeat_ms = 360;  // a heartbeat recorded where the stream is read
  EXPECT_EQ(on_tick(h, 370, cfg), HealthEvent::became_ready);
  EXPECT_EQ(h.liveness, NodeState::ready);
}

TEST(NodeHealth, ShimSelfFencesAfterALease) {
  HealthConfig cfg;
  EXPECT_FALSE(shim_should_self_fence(1000, 1499, cfg));
  EXPECT_TRUE(shim_should_self_fence(1000, 1500, cfg));
}

}  // namespace
}  // namespace rackos

// The fencing rules in one place: no fence before the first acknowledgement;
// a lease of silence fences and freezes only at-most-one workloads; a fenced
// node refuses at-most-one starts; an acknowledgement lifts the fence and
// thaws; a fence outlasting the grace kills; the monitors' deadline sits a
// fifth of the lease before the controller's.
#include "shim/fencing.h"

#include "shim/supervisor_fixture.h"

namespace rackos::shim {
namespace {

class Fencing : public SupervisorFixture {
 protected:
  StartRequest request(const std::string& id, OnPartition op) { return start_request(id, {"sleep", "600"}, op); }
  HealthConfig health_;  // lease 500 ms
};

TEST_F(Fencing, SilenceFencesAtMostOneWorkOnlyAndAnAckLiftsIt) {
  ASSERT_TRUE(sup_->start(request("one", OnPartition::stop), 0));
  ASSERT_TRUE(sup_->start(request("many", OnPartition::keep), 0));
  EXPECT_FALSE(fence_if_silent(status_, *sup_, 1'000'000, health_)) << "never acknowledged: never fenced";
  on_ack(status_, *sup_, 1000, 1010);
  EXPECT_EQ(status_.last_ack_ms, 1000);
  EXPECT_FALSE(fence_if_silent(status_, *sup_, 1499, health_));
  auto frozen = fence_if_silent(status_, *sup_, 1500, health_);
  ASSERT_TRUE(frozen);
  EXPECT_EQ(*frozen, 1u);
  EXPECT_TRUE(status_.fenced);
  EXPECT_EQ(sup_->processes().at("one").state, ProcState::running) << "frozen, not stopped";
  EXPECT_TRUE(sup_->is_frozen(sup_->processes().at("one")));
  EXPECT_FALSE(sup_->is_frozen(sup_->processes().at("many")));
  EXPECT_FALSE(fence_if_silent(status_, *sup_, 1600, health_)) << "fenced once, not again";
  // Fenced: at-most-one starts are refused, others are not.
  auto why = refuse_start(status_, *sup_, request("two", OnPartition::stop).spec);
  ASSERT_TRUE(why);
  EXPECT_NE(why->find("is fenced"), std::string::npos);
  EXPECT_FALSE(refuse_start(status_, *sup_, request("more", OnPartition::keep).spec));
  // A late acknowledgement of a heartbeat sent before the lapse grants a
  // lease already over: the controller may have run the work elsewhere since.
  on_ack(status_, *sup_, 1050, 1600);
  EXPECT_TRUE(status_.fenced);
  EXPECT_TRUE(sup_->is_frozen(sup_->processes().at("one"))) << "a stale ack must not thaw";
  // A fresh acknowledgement lifts it; an echo from the future counts as now.
  on_ack(status_, *sup_, 99'999, 1700);
  EXPECT_FALSE(status_.fenced);
  EXPECT_EQ(status_.last_ack_ms, 1700);
  EXPECT_EQ(sup_->events().back().kind, NodeEventKind::unfenced);
  EXPECT_FALSE(sup_->is_frozen(sup_->processes().at("one"))) << "the ack thaws";
  EXPECT_EQ(sup_->processes().at("one").state, ProcState::running);
  EXPECT_FALSE(refuse_start(status_, *sup_, request("two", OnPartition::stop).spec));
}

TEST_F(Fencing, AFenceThatOutlastsTheGraceKillsTheFrozenWork) {
  ASSERT_TRUE(sup_->start(request("one", OnPartition::stop), 0));
  ASSERT_TRUE(sup_->start(request("many", OnPartition::keep), 0));
  on_ack(status_, *sup_, 1000, 1000);
  ASSERT_TRUE(fence_if_silent(status_, *sup_, 1500, health_));
  const int64_t grace = sup_->config().fence_grace_ms;
  EXPECT_EQ(kill_if_fence_outlasts_grace(status_, *sup_, 1500 + grace - 1, health_), 0u);
  EXPECT_EQ(sup_->processes().at("one").state, ProcState::running);
  EXPECT_EQ(kill_if_fence_outlasts_grace(status_, *sup_, 1500 + grace, health_), 1u);
  EXPECT_EQ(sup_->processes().at("one").state, ProcState::stopping);
  EXPECT_EQ(sup_->processes().at("many").state, ProcState::running);
  EXPECT_EQ(kill_if_fence_outlasts_grace(status_, *sup_, 1500 + grace + 100, health_), 0u) << "once";
}

TEST_F(Fencing, MonitorsFenceAFifthOfTheLeaseEarly) {
  EXPECT_EQ(monitor_deadline(status_, 500), 0) << "unarmed before the first acknowledgement";
  on_ack(status_, *sup_, 1000, 1000);
  EXPECT_EQ(monitor_deadline(status_, 500), 1400);
  on_ack(status_, *sup_, 900, 1100);  // an older echo never moves it back
  EXPECT_EQ(monitor_deadline(status_, 500), 1400);
}

}  // namespace
}  // namespace rackos::shim

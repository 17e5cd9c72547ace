// The shim's side of the controller protocol with a real supervisor (no
// cgroups): an asynchronous start becomes a "started" event with the pid, a
// start sent twice is answered instead of run twice, a stop for an unknown
// launch is reported stopped, logs are read from the tail, acks lift fencing,
// a fenced node refuses at-most-one work, and Register lists every process.
#include "shim/link_handler.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "proto/convert.h"
#include "shim/supervisor_fixture.h"

namespace rackos::shim {
namespace {

class LinkHandler : public SupervisorFixture {
 protected:
  std::vector<v1::ShimMessage> handle(const v1::ControllerMessage& m) {
    bool power_off = false;
    auto out = handle_controller_message(m, *sup_, status_, 0, power_off);
    EXPECT_FALSE(power_off);
    return out;
  }
  static v1::ControllerMessage start(const std::string& id, const std::vector<std::string>& argv,
                                     const std::string& on_partition = "keep") {
    v1::ControllerMessage m;
    auto* s = m.mutable_start();
    s->set_id(id);
    s->set_service("svc");
    for (const auto& a : argv) s->add_argv(a);
    Envelope e{{100, 1000, 1000}, {16ll << 20, 64ll << 20, 64ll << 20}};
    *s->mutable_envelope() = to_proto(e);
    s->set_priority("normal");
    s->set_on_partition(on_partition);
    return m;
  }
  // Waits for the monitor's answer to an asynchronous start.
  void finish_start(const std::string& id) {
    for (auto& [fd, rid] : sup_->take_new_reply_fds()) {
      pollfd p{fd, POLLIN, 0};
      ::poll(&p, 1, 5000);
      sup_->on_reply(rid, 0);
    }
    ASSERT_GT(sup_->processes().at(id).pid.pid, 0);
  }
  std::string last_event_kind() { return sup_->events().empty() ? "" : std::string(to_string(sup_->events().back().kind)); }
};

TEST_F(LinkHandler, AsynchronousStartReportsStartedWithThePid) {
  EXPECT_TRUE(handle(start("a.1", {"/bin/sh", "-c", "echo one; echo two; sleep 30"})).empty());  // nothing yet
  finish_start("a.1");
  ASSERT_EQ(last_event_kind(), "started");
  auto msg = event_message(sup_->events().back(), *sup_);
  EXPECT_EQ(msg.event().kind(), "started");
  EXPECT_EQ(msg.event().pid(), sup_->processes().at("a.1").pid.pid);
  // Sent again (a restarted controller): answered, not started twice.
  auto again = handle(start("a.1", {"/bin/sh", "-c", "sleep 30"}));
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].event().kind(), "started");
  EXPECT_EQ(again[0].event().pid(), sup_->processes().at("a.1").pid.pid);
  EXPECT_EQ(sup_->processes().size(), 1u);
  // Its log, from the tail.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  v1::ControllerMessage rl;
  rl.mutable_read_log()->set_request(7);
  rl.mutable_read_log()->set_id("a.1");
  rl.mutable_read_log()->set_tail(true);
  rl.mutable_read_log()->set_max_bytes(4);
  auto log = handle(rl);
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].log_data().request(), 7u);
  EXPECT_EQ(log[0].log_data().data(), "two\n");
  EXPECT_EQ(log[0].log_data().next_offset(), 8u);
  rl.mutable_read_log()->set_id("nope.1");
  EXPECT_NE(handle(rl)[0].log_data().error().find("no process nope.1"), std::string::npos);
}

TEST_F(LinkHandler, StopOfAnUnknownLaunchIsReportedStopped) {
  v1::ControllerMessage m;
  m.mutable_stop()->set_id("ghost.3");
  auto out = handle(m);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].event().kind(), "exited");
  EXPECT_TRUE(out[0].event().exit().stop_requested());
}

TEST_F(LinkHandler, BadStartIsOneClearFailure) {
  auto out = handle(start("b.1", {}));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].event().kind(), "start_failed");
  EXPECT_NE(out[0].event().message().find("command is empty"), std::string::npos) << out[0].event().message();
}

TEST_F(LinkHandler, FencedNodeRefusesAtMostOneWorkAndAnAckLiftsIt) {
  status_.fenced = true;
  auto out = handle(start("c.1", {"/bin/true"}, "stop"));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].event().kind(), "start_failed");
  EXPECT_NE(out[0].event().message().find("fenced"), std::string::npos);
  v1::ControllerMessage ack;
  ack.mutable_ack()->set_seq(1);
  ack.mutable_ack()->set_sent_ms(100);  // "from the future" (now is 0): clamped to now
  EXPECT_TRUE(handle(ack).empty());
  EXPECT_FALSE(status_.fenced);
  EXPECT_EQ(status_.last_ack_ms, 0);
  EXPECT_EQ(last_event_kind(), "unfenced");
}

TEST_F(LinkHandler, RegisteredKillsTheStaleFrozenCopiesThenThawsTheRest) {
  handle(start("keep.1", {"/bin/sh", "-c", "sleep 30"}, "stop"));
  finish_start("keep.1");
  handle(start("gone.1", {"/bin/sh", "-c", "sleep 30"}, "stop"));
  finish_start("gone.1");
  // The lease lapsed (now is 0 in this fixture: acked at -1000): both frozen.
  status_.last_ack_ms = -1000;
  status_.fenced = true;
  ASSERT_EQ(sup_->set_at_most_one_frozen(true), 2u);
  // Reconnected: the Register went out just now; the controller says gone.1 runs elsewhere.
  status_.register_sent_ms = 0;
  v1::ControllerMessage reg;
  reg.mutable_registered()->add_stop("gone.1");
  handle(reg);
  EXPECT_FALSE(status_.fenced) << "registering is acknowledged";
  EXPECT_FALSE(sup_->is_frozen(sup_->processes().at("keep.1")));
  EXPECT_EQ(sup_->processes().at("keep.1").state, ProcState::running);
  EXPECT_EQ(sup_->processes().at("gone.1").state, ProcState::stopping) << "killed where it stood, not thawed";
  EXPECT_FALSE(sup_->is_frozen(sup_->processes().at("gone.1"))) << "the marker goes with the kill";
}

TEST_F(LinkHandler, RegisterListsEveryProcessAndHeartbeatsOnlyLiveOnes) {
  handle(start("d.1", {"/bin/sh", "-c", "sleep 30"}));
  finish_start("d.1");
  handle(start("e.1", {"/bin/true"}));
  finish_start("e.1");
  std::vector<std::pair<int, std::string>> pidfds;
  auto e_exits = [&] {
    for (int i = 0; i < 200; ++i) {
      // As the loop does: each pidfd is watched until it fires (once its process has exited).
      for (auto& p : sup_->take_new_pidfds()) pidfds.push_back(p);
      for (auto& [fd, id] : pidfds) sup_->pidfd_ready(id, 0);
      sup_->check(0);
      if (sup_->processes().at("e.1").state == ProcState::exited) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  };
  ASSERT_TRUE(e_exits());
  NodeIdentity id{"ln", "tok", 2000, 1ll << 30, {{"rack", "r1"}}};
  auto reg = make_register(id, *sup_, status_);
  EXPECT_EQ(reg.register_().token(), "tok");
  EXPECT_EQ(reg.register_().labels().at("rack"), "r1");
  ASSERT_EQ(reg.register_().running_size(), 2);
  auto hb = make_heartbeat(*sup_, status_, 3, 1234, true);
  EXPECT_EQ(hb.heartbeat().seq(), 3u);
  EXPECT_EQ(hb.heartbeat().sent_ms(), 1234);
  ASSERT_EQ(hb.heartbeat().processes_size(), 1);
  EXPECT_EQ(hb.heartbeat().processes(0).id(), "d.1");
  EXPECT_EQ(make_heartbeat(*sup_, status_, 4, 1334, false).heartbeat().processes_size(), 0);
}

}  // namespace
}  // namespace rackos::shim

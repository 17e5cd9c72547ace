// Tests of the node API's request handling with a real supervisor (no
// cgroups): validation errors, start, exit reporting, forget, fencing refusal.
#include "shim/node_api.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "shim/supervisor_fixture.h"

namespace rackos::shim {
namespace {

using nlohmann::json;

class NodeApi : public SupervisorFixture {
 protected:
  json call(const json& req) { return handle_request(req, *sup_, status_, 0); }
};

TEST_F(NodeApi, ValidationErrorsAreOneLineEach) {
  EXPECT_EQ(call(json::array())["error"], "a request must be a JSON object with an \"op\"");
  EXPECT_EQ(call({{"x", 1}})["error"], "a request needs an \"op\"");
  EXPECT_NE(call({{"op", "fly"}})["error"].get<std::string>().find("unknown op \"fly\""), std::string::npos);
  auto no_argv = call({{"op", "start"}, {"id", "a"}});
  EXPECT_EQ(no_argv["error"], "argv: expected a list of strings");
  auto bad_cpu = call({{"op", "start"}, {"id", "a"}, {"argv", {"/bin/true"}}, {"cpu", "lots"}});
  EXPECT_NE(bad_cpu["error"].get<std::string>().find("cpu: \"lots\""), std::string::npos) << bad_cpu.dump();
  auto bad_prio = call({{"op", "start"}, {"id", "a"}, {"argv", {"/bin/true"}}, {"priority", "urgent"}});
  EXPECT_NE(bad_prio["error"].get<std::string>().find("\"urgent\""), std::string::npos);
  auto wrong_type = call({{"op", 5}});
  EXPECT_NE(wrong_type["error"].get<std::string>().find("op must be a string"), std::string::npos) << wrong_type.dump();
  EXPECT_TRUE(sup_->processes().empty());  // nothing half-made
}

TEST_F(NodeApi, StartReportsExitAndForget) {
  auto r = call({{"op", "start"}, {"id", "one"}, {"argv", {"/bin/sh", "-c", "exit 5"}}, {"cpu", "100m:1"}, {"memory", "16Mi:64Mi"}});
  ASSERT_TRUE(r["ok"]) << r.dump();
  for (int i = 0; i < 200 && sup_->processes().at("one").state != ProcState::exited; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    sup_->pidfd_ready("one", i);  // as the loop does when the pidfd fires
    sup_->check(i);
  }
  auto list = call({{"op", "list"}});
  ASSERT_EQ(list["processes"].size(), 1u);
  EXPECT_EQ(list["processes"][0]["exit"]["exit_code"], 5);
  auto dup = call({{"op", "forget"}, {"id", "one"}});
  EXPECT_TRUE(dup["ok"]);
  EXPECT_EQ(call({{"op", "list"}})["processes"].size(), 0u);
  EXPECT_FALSE(call({{"op", "forget"}, {"id", "one"}})["ok"]);
}

TEST_F(NodeApi, FencedNodeRefusesAtMostOneStarts) {
  status_.fenced = true;
  auto r = call({{"op", "start"}, {"id", "db"}, {"argv", {"/bin/true"}}, {"on_partition", "stop"}});
  EXPECT_FALSE(r["ok"]);
  EXPECT_NE(r["error"].get<std::string>().find("fenced"), std::string::npos);
  EXPECT_TRUE(call({{"op", "ack"}})["ok"]);
  EXPECT_FALSE(status_.fenced);
}

TEST_F(NodeApi, LeaseCountsFromTheAcknowledgedHeartbeatsSendTime) {
  status_.last_ack_ms = -1;
  EXPECT_TRUE(handle_request({{"op", "ack"}, {"sent_ms", 700}}, *sup_, status_, 1000)["ok"]);
  EXPECT_EQ(status_.last_ack_ms, 700);
  handle_request({{"op", "ack"}, {"sent_ms", 500}}, *sup_, status_, 1100);  // an older ack never moves it back
  EXPECT_EQ(status_.last_ack_ms, 700);
  handle_request({{"op", "ack"}, {"sent_ms", 5000}}, *sup_, status_, 1200);  // not in the future
  EXPECT_EQ(status_.last_ack_ms, 1200);
}

}  // namespace
}  // namespace rackos::shim

// The controller's decisions, step by step with a real SQLite store and fake
// shims (messages in, messages out): registration, placement, node death and
// rescheduling, restarts with backoff, tokens, bad specs, and a restart of the
// controller that adopts what runs instead of starting it twice.
#include "controller/cluster_controller.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

namespace rackos::controller {
namespace {

struct Harness {
  std::string path;
  std::unique_ptr<Store> store;
  EventLog events;
  std::unique_ptr<ClusterController> c;
  ControllerConfig cfg;
  bool cleanup = true;  // remove the database when done

  explicit Harness(std::string p, ControllerConfig config = {}) : path(std::move(p)), cfg(std::move(config)) { open(); }
  ~Harness() {
    c.reset();
    store.reset();
    if (!cleanup) return;
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
  }
  void open() {
    store = std::move(open_sqlite_store(path, false).value());
    c = std::make_unique<ClusterController>(cfg, store.get(), &events);
  }
  std::vector<Outgoing> step(int64_t now) {
    c->settle(now);
    EXPECT_TRUE(c->commit().ok());
    return c->take_outbox();
  }
  void reg(ConnId conn, const std::string& node, int64_t now, const std::vector<v1::ProcessInfo>& running = {},
           const std::string& token = "") {
    v1::ShimMessage m;
    auto* r = m.mutable_register_();
    r->set_wire_version(1);
    r->set_node(node);
    r->set_token(token);
    r->set_cpu_millis(4000);
    r->set_memory_bytes(8ll << 30);
    for (const auto& p : running) *r->add_running() = p;
    c->on_shim_message(conn, m, now);
  }
  void heartbeat(ConnId conn, int64_t now) {
    v1::ShimMessage m;
    m.mutable_heartbeat()->set_seq(1);
    m.mutable_heartbeat()->set_sent_ms(now);
    c->on_shim_message(conn, m, now);
  }
  void event(ConnId conn, const std::string& id, const std::string& kind, int64_t now, int exit_code = 0) {
    v1::ShimMessage m;
    m.mutable_event()->set_id(id);
    m.mutable_event()->set_kind(kind);
    m.mutable_event()->set_pid(1234);
    m.mutable_event()->mutable_exit()->set_exit_code(exit_code);
    c->on_shim_message(conn, m, now);
  }
};

std::string temp_db() {
  static int n = 0;
  auto p = std::filesystem::temp_directory_path() /
           ("rackos-ctl-test-" + std::to_string(::getpid()) + "-" + std::to_string(n++) + ".db");
  std::filesystem::remove(p);
  return p.string();
}

std::vector<std::string> starts_to(const std::vector<Outgoing>& out, ConnId conn) {
  std::vector<std::string> ids;
  for (const auto& o : out) {
    if (o.conn == conn && o.msg.has_start()) ids.push_back(o.msg.start().id());
  }
  return ids;
}

const char* kWeb = "name: web\ncommand: [sleep, '100']\ncpu: 500m:1\nmemory: 64Mi:128Mi\ninstances: 2\n";

TEST(ClusterController, PlacesStartsAndRunsOnRegisteredNodes) {
  Harness h(temp_db());
  h.reg(1, "n1", 0);
  h.reg(2, "n2", 0);
  auto out = h.step(0);
  ASSERT_GE(out.size(), 2u);
  EXPECT_TRUE(out[0].msg.has_registered());
  auto resp = h.c->apply(kWeb, 10);
  ASSERT_EQ(resp.errors_size(), 0);
  out = h.step(10);
  auto a = starts_to(out, 1), b = starts_to(out, 2);
  ASSERT_EQ(a.size(), 1u);  // spread: one per node
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(out[0].msg.start().service(), "web");
  h.event(1, a[0], "started", 20);
  h.event(2, b[0], "started", 20);
  h.step(20);
  auto ps = h.c->list_processes({});
  ASSERT_EQ(ps.processes_size(), 2);
  for (const auto& p : ps.processes()) {
    EXPECT_EQ(p.state(), v1::RUNNING);
    EXPECT_EQ(p.pid(), 1234);
  }
  EXPECT_EQ(h.c->state().check_invariants(), "");
}

TEST(ClusterController, NodeDeathReschedulesAtOnceAndTimesTheFailover) {
  Harness h(temp_db());
  h.reg(1, "n1", 0);
  h.reg(2, "n2", 0);
  h.step(0);
  h.c->apply("name: api\ncommand: [sleep, '100']\ncpu: 100m:1\nmemory: 16Mi:32Mi\ninstances: 4\n", 0);
  auto out = h.step(0);
  for (const auto& id : starts_to(out, 1)) h.event(1, id, "started", 5);
  for (const auto& id : starts_to(out, 2)) h.event(2, id, "started", 5);
  h.step(5);
  // n2 goes silent; n1 keeps beating.
  for (int64_t t = 100; t <= 700; t += 100) {
    h.heartbeat(1, t);
    h.c->tick(t);
    out = h.step(t);
  }
  auto nodes = h.c->list_nodes({});
  EXPECT_EQ(nodes.nodes(1).state(), v1::DEAD);
  // Its processes were placed on n1 in the step that declared it dead.
  size_t on_n1 = 0;
  for (const auto ps_now = h.c->list_processes({}); const auto& p : ps_now.processes()) {
    EXPECT_EQ(p.node(), "n1");
    if (p.state() == v1::STARTING) {
      h.event(1, p.launch(), "started", 750);
      ++on_n1;
    }
  }
  EXPECT_EQ(on_n1, 2u);
  h.step(750);
  EXPECT_EQ(h.c->failover_histogram().count, 1u);
  EXPECT_EQ(h.c->counters().reschedules, 2u);
  // n2 comes back: fenced, told to stop its stale copies, ready once they stopped.
  v1::ProcessInfo stale;
  stale.set_id("api-1.1");
  stale.set_state(v1::RUNNING);
  h.reg(3, "n2", 800, {stale});
  out = h.step(800);
  ASSERT_TRUE(out[0].msg.has_registered());
  EXPECT_EQ(h.c->list_nodes({}).nodes(1).state(), v1::FENCED);
  bool told = false;
  for (const auto& s : out[0].msg.registered().stop()) told |= s == "api-1.1" || s == "api-3.1";
  EXPECT_TRUE(told);
  for (const auto& s : out[0].msg.registered().stop()) h.event(3, s, "exited", 810);
  h.step(810);
  EXPECT_EQ(h.c->list_nodes({}).nodes(1).state(), v1::READY);
}

TEST(ClusterController, CrashRestartsWithBackoff) {
  Harness h(temp_db());
  h.reg(1, "n1", 0);
  h.step(0);
  h.c->apply("name: crash\ncommand: ['false']\ncpu: 100m:1\nmemory: 16Mi:32Mi\n", 0);
  auto out = h.step(0);
  auto ids = starts_to(out, 1);
  ASSERT_EQ(ids.size(), 1u);
  h.event(1, ids[0], "started", 1);
  h.event(1, ids[0], "exited", 2, 1);
  h.step(2);
  auto p = h.c->list_processes({}).processes(0);
  EXPECT_EQ(p.state(), v1::BACKOFF);
  EXPECT_NE(p.reason().find("exit code 1"), std::string::npos) << p.reason();
  EXPECT_TRUE(starts_to(h.step(50), 1).empty());  // not before the backoff (100 ms)
  ids = starts_to(h.step(103), 1);
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_EQ(ids[0], "crash-0.2");  // a new launch id
  h.event(1, ids[0], "exited", 110, 1);
  h.step(110);
  EXPECT_TRUE(starts_to(h.step(250), 1).empty());  // second backoff is 200 ms
  EXPECT_EQ(starts_to(h.step(311), 1).size(), 1u);
}

TEST(ClusterController, WrongTokenIsRefusedWithAClearError) {
  ControllerConfig cfg;
  cfg.token = "secret";
  Harness h(temp_db(), cfg);
  h.reg(1, "n1", 0, {}, "guess");
  auto out = h.step(0);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].close);
  EXPECT_NE(out[0].msg.refused().find("join token does not match"), std::string::npos);
  EXPECT_EQ(h.c->list_nodes({}).nodes_size(), 0);
  h.reg(2, "n1", 0, {}, "secret");
  EXPECT_EQ(h.c->list_nodes({}).nodes_size(), 1);
}

TEST(ClusterController, BadSpecsChangeNothing) {
  Harness h(temp_db());
  h.reg(1, "n1", 0);
  h.step(0);
  auto resp = h.c->apply(std::string(kWeb) + "---\nname: bad\ncommand: [x]\ncpu: 4:2\nmemory: 1Mi:2Mi\n", 0);
  ASSERT_GE(resp.errors_size(), 1);
  EXPECT_NE(resp.errors(0).find("cpu"), std::string::npos) << resp.errors(0);
  EXPECT_EQ(h.c->list_services({}).services_size(), 0);
  EXPECT_FALSE(h.c->stop_service("nope", 0).ok());
  EXPECT_FALSE(h.c->scale("nope", 1, 2, 0).ok());
  auto d = h.c->drain("n9", false, 0);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().message.find("nodes: n1"), std::string::npos);
  EXPECT_FALSE(h.c->kill_node("n1", 0).ok());  // fault injection is off by default
}

TEST(ClusterController, RestartAdoptsWhatRunsAndStartsNothingTwice) {
  const std::string db = temp_db();
  std::vector<v1::ProcessInfo> running;
  {
    Harness h(db);
    h.cleanup = false;
    h.reg(1, "n1", 0);
    h.step(0);
    h.c->apply(kWeb, 0);
    auto out = h.step(0);
    for (const auto& id : starts_to(out, 1)) {
      h.event(1, id, "started", 5);
      v1::ProcessInfo p;
      p.set_id(id);
      p.set_state(v1::RUNNING);
      p.set_pid(77);
      running.push_back(p);
    }
    h.step(5);
    ASSERT_EQ(running.size(), 2u);
  }
  Harness h(db);  // the controller restarts on the same store
  ASSERT_TRUE(h.c->load(1000).ok());
  EXPECT_EQ(h.c->list_processes({}).processes_size(), 2);
  h.reg(9, "n1", 1100, running);
  auto out = h.step(1100);
  EXPECT_TRUE(starts_to(out, 9).empty());
  ASSERT_TRUE(out[0].msg.has_registered());
  EXPECT_EQ(out[0].msg.registered().stop_size(), 0);
  for (const auto ps_now = h.c->list_processes({}); const auto& p : ps_now.processes()) {
    EXPECT_EQ(p.state(), v1::RUNNING);
    EXPECT_EQ(p.pid(), 77);
  }
  // A node that does not come back within the grace is declared dead.
  Harness h2(db);
  h2.cleanup = false;  // h removes it
  ASSERT_TRUE(h2.c->load(5000).ok());
  h2.c->tick(5000 + h2.cfg.reconnect_grace_ms + 10);
  EXPECT_EQ(h2.c->list_nodes({}).nodes(0).state(), v1::DEAD);
}

TEST(ClusterController, ScaleStopAndDrain) {
  Harness h(temp_db());
  h.reg(1, "n1", 0);
  h.reg(2, "n2", 0);
  h.step(0);
  h.c->apply(kWeb, 0);
  auto out = h.step(0);
  ASSERT_TRUE(h.c->scale("web", 3, 3, 1).ok());
  out = h.step(1);
  EXPECT_EQ(starts_to(out, 1).size() + starts_to(out, 2).size(), 1u);
  EXPECT_EQ(h.c->list_processes({}).processes_size(), 3);
  auto moved = h.c->drain("n1", false, 2);
  ASSERT_TRUE(moved.ok());
  out = h.step(2);
  EXPECT_EQ(starts_to(out, 1).size(), 0u);
  EXPECT_EQ(starts_to(out, 2).size(), *moved);
  for (const auto ps_now = h.c->list_processes({}); const auto& p : ps_now.processes()) EXPECT_EQ(p.node(), "n2");
  auto stopped = h.c->stop_service("web", 3);
  ASSERT_TRUE(stopped.ok());
  out = h.step(3);
  size_t stops = 0;
  for (const auto& o : out) stops += o.msg.has_stop();
  EXPECT_EQ(stops, 3u);
  for (const auto& o : out) {
    if (o.msg.has_stop()) h.event(o.conn, o.msg.stop().id(), "exited", 4);
  }
  h.step(4);
  EXPECT_EQ(h.c->list_services({}).services_size(), 0);
  EXPECT_EQ(h.c->list_processes({}).processes_size(), 0);
  EXPECT_EQ(h.c->state().check_invariants(), "");
}

TEST(ClusterController, StarvedServiceGrowsAndIdleOneShrinks) {
  Harness h(temp_db());
  h.reg(1, "n1", 0);
  h.reg(2, "n2", 0);
  h.step(0);
  h.c->apply("name: auto\ncommand: [sleep, '100']\ncpu: 100m:1\nmemory: 16Mi:32Mi\ninstances: 1:3\n", 0);
  auto out = h.step(0);
  std::vector<std::pair<ConnId, std::string>> launches;
  for (ConnId conn : {ConnId{1}, ConnId{2}}) {
    for (const auto& id : starts_to(out, conn)) launches.emplace_back(conn, id);
  }
  ASSERT_EQ(launches.size(), 1u);
  h.event(launches[0].first, launches[0].second, "started", 1);
  auto beat = [&](int64_t now, int64_t demand, int64_t target) {
    for (ConnId conn : {ConnId{1}, ConnId{2}}) {
      v1::ShimMessage m;
      m.mutable_heartbeat()->set_seq(static_cast<uint64_t>(now));
      m.mutable_heartbeat()->set_sent_ms(now);
      for (const auto& [c, id] : launches) {
        if (c != conn) continue;
        auto* p = m.mutable_heartbeat()->add_processes();
        p->set_id(id);
        p->set_state(v1::RUNNING);
        p->mutable_usage()->set_cpu_demand_millis(demand);
        p->mutable_allocation()->set_cpu_target_millis(target);
      }
      h.c->on_shim_message(conn, m, now);
    }
    h.c->tick(now);
    return h.step(now);
  };
  // Wants 1 core, gets 0.5 (its node is busy): starved, for longer than up_after (3 s).
  size_t added = 0;
  for (int64_t t = 100; t <= 5000 && added == 0; t += 100) {
    const auto sent = beat(t, 1000, 500);
    for (ConnId conn : {ConnId{1}, ConnId{2}}) {
      for (const auto& id : starts_to(sent, conn)) {
        launches.emplace_back(conn, id);
        h.event(conn, id, "started", t);
        ++added;
      }
    }
  }
  ASSERT_EQ(added, 1u);
  EXPECT_EQ(h.c->list_processes({}).processes_size(), 2);
  // Then almost idle for longer than down_after (60 s): back to one.
  bool stopped = false;
  for (int64_t t = 6000; t <= 80000 && !stopped; t += 500) {
    for (const auto& o : beat(t, 10, 500)) {
      if (o.msg.has_stop()) {
        stopped = true;
        h.event(o.conn, o.msg.stop().id(), "exited", t);
        std::erase_if(launches, [&](const auto& l) { return l.second == o.msg.stop().id(); });
      }
    }
  }
  EXPECT_TRUE(stopped);
  h.step(81000);
  EXPECT_EQ(h.c->list_processes({}).processes_size(), 1);
}

}  // namespace
}  // namespace rackos::controller

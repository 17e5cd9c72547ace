// The controller's decisions, step by step with a real SQLite store and fake
// shims (messages in, messages out): registration, placement, node death and
// rescheduling, restarts with backoff, tokens, bad specs, and a restart of the
// controller that adopts what runs instead of starting it twice.
#include "controller/cluster_controller.h"
#include "controller/controller_test_harness.h"
#include "controller/memory_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

namespace rackos::controller {
namespace {


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

TEST(ClusterController, WithoutTlsAWrongTokenIsRefusedWithAClearError) {
  ControllerConfig cfg;
  cfg.token = "secret";
  cfg.insecure = true;  // with TLS the node's certificate is the check (security_e2e_test.cc)
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


v1::ProcessInfo running_info(const std::string& id, const std::string& service, int pid) {
  v1::ProcessInfo p;
  p.set_id(id);
  p.set_service(service);
  p.set_state(v1::RUNNING);
  p.set_pid(pid);
  return p;
}

const v1::Registered* registered_to(const std::vector<Outgoing>& out, ConnId conn) {
  for (const auto& o : out) {
    if (o.conn == conn && o.msg.has_registered()) return &o.msg.registered();
  }
  return nullptr;
}

std::string refusal_to(const std::vector<Outgoing>& out, ConnId conn) {
  for (const auto& o : out) {
    if (o.conn == conn && o.msg.has_refused()) return o.msg.refused();
  }
  return "";
}

TEST(ClusterController, AnEmptyStoreRefusesAnotherClustersNodesAndAdoptTakesThemOver) {
  // A cluster runs web-0 and web-1 on n1.
  Harness a(temp_db());
  ASSERT_TRUE(a.c->load(0));
  a.reg(1, "n1", 0);
  auto out = a.step(0);
  const std::string cluster = registered_to(out, 1)->cluster_id();
  ASSERT_EQ(cluster.size(), 16u);
  ASSERT_EQ(a.c->apply(kWeb, 10).errors_size(), 0);
  out = a.step(10);
  std::vector<v1::ProcessInfo> running;
  std::vector<v1::StartProcess> launches;
  for (const auto& o : out) {
    if (!o.msg.has_start()) continue;
    a.event(1, o.msg.start().id(), "started", 20);
    running.push_back(running_info(o.msg.start().id(), "web", 100 + static_cast<int>(running.size())));
    launches.push_back(o.msg.start());
  }
  ASSERT_EQ(running.size(), 2u);
  a.step(20);
  const uint64_t seen = a.store->revision();
  auto reg_from_old_cluster = [&](Harness& h, ConnId conn) {
    v1::ShimMessage m = Harness::register_message("n1");
    auto* r = m.mutable_register_();
    r->set_cluster_id(cluster);
    r->set_store_revision(seen);
    for (const auto& p : running) *r->add_running() = p;
    for (const auto& l : launches) *r->add_launches() = l;
    h.c->on_shim_message(conn, m, 100);
  };

  // The controller restarts on an empty store: the node is refused, loudly,
  // and told to stop nothing.
  Harness empty(temp_db());
  ASSERT_TRUE(empty.c->load(100));
  reg_from_old_cluster(empty, 7);
  out = empty.step(100);
  const std::string why = refusal_to(out, 7);
  EXPECT_NE(why.find("belongs to cluster " + cluster), std::string::npos) << why;
  EXPECT_NE(why.find("keeps its 2 processes running"), std::string::npos) << why;
  EXPECT_NE(why.find("--adopt"), std::string::npos) << why;
  for (const auto& o : out) EXPECT_FALSE(o.msg.has_stop() || o.msg.has_registered()) << o.msg.DebugString();
  EXPECT_EQ(empty.c->list_nodes({}).nodes_size(), 0);

  // With --adopt: the services are rebuilt from the launches, nothing starts twice.
  ControllerConfig adopt;
  adopt.adopt = true;
  Harness taker(temp_db(), adopt);
  ASSERT_TRUE(taker.c->load(100));
  reg_from_old_cluster(taker, 8);
  out = taker.step(100);
  ASSERT_NE(registered_to(out, 8), nullptr) << refusal_to(out, 8);
  EXPECT_EQ(registered_to(out, 8)->stop_size(), 0);
  EXPECT_EQ(registered_to(out, 8)->cluster_id(), taker.c->cluster_id());
  EXPECT_TRUE(starts_to(out, 8).empty());
  auto ps = taker.c->list_processes({});
  ASSERT_EQ(ps.processes_size(), 2);
  for (const auto& p : ps.processes()) {
    EXPECT_EQ(p.state(), v1::RUNNING) << p.id();
    EXPECT_GE(p.pid(), 100);
    EXPECT_EQ(p.envelope().cpu_millis().min(), 500);
  }
  auto svcs = taker.c->list_services({});
  ASSERT_EQ(svcs.services_size(), 1);
  EXPECT_NE(svcs.services(0).spec_yaml().find("sleep"), std::string::npos) << svcs.services(0).spec_yaml();
  EXPECT_TRUE(starts_to(taker.step(200), 8).empty());
  EXPECT_EQ(taker.c->state().check_invariants(), "");
}

TEST(ClusterController, AStoreOlderThanANodeSawRefusesIt) {
  Harness h(temp_db());
  ASSERT_TRUE(h.c->load(0));
  h.step(0);
  v1::ShimMessage m = Harness::register_message("n1");
  auto* r = m.mutable_register_();
  r->set_cluster_id(h.c->cluster_id());
  r->set_store_revision(h.store->revision() + 50);
  h.c->on_shim_message(1, m, 10);
  const std::string why = refusal_to(h.step(10), 1);
  EXPECT_NE(why.find("restored from an older copy"), std::string::npos) << why;
}

TEST(ClusterController, AFailedCommitIsUndoneAndNodesRegisterAgain) {
  auto disk = std::make_shared<MemoryStoreData>();
  auto store = open_memory_store(disk);
  EventLog events;
  ClusterController c(ControllerConfig{}, store.get(), &events);
  ASSERT_TRUE(c.load(0));
  c.on_shim_message(1, Harness::register_message("n1"), 0);
  ASSERT_EQ(c.apply(kWeb, 0).errors_size(), 0);
  c.settle(0);
  ASSERT_TRUE(c.commit());
  c.take_outbox();
  // The disk fills; a stop cannot commit.
  disk->fail_commits = true;
  ASSERT_TRUE(c.stop_service("web", 10));
  c.settle(10);
  ASSERT_FALSE(c.commit());
  ASSERT_TRUE(c.reset_to_store(10));
  auto out = c.take_outbox();
  for (const auto& o : out) EXPECT_FALSE(o.msg.has_stop()) << "an order for a change that did not commit";
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].close);  // the node registers again
  auto svcs = c.list_services({});
  ASSERT_EQ(svcs.services_size(), 1);  // the stop did not happen
  EXPECT_EQ(svcs.services(0).processes(), 2u);
  EXPECT_EQ(c.state().check_invariants(), "");
}

TEST(ClusterController, AStoreWrittenBeforeALimitExistedStillLoads) {
  Harness h(temp_db());
  // memory.max 1 byte: refused at apply today, but a store may hold it.
  const std::string yaml = "name: tiny\ncommand: [sleep, '1']\ncpu: 1m:1m\nmemory: 1:1\n";
  StoreBatch b;
  b.puts.push_back({"service", "tiny", nlohmann::json{{"yaml", yaml}, {"desired", 1}}.dump()});
  ASSERT_TRUE(h.store->commit(b));
  auto loaded = h.c->load(0);
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(h.c->list_services({}).services_size(), 1);
  EXPECT_GT(h.c->apply(yaml, 0).errors_size(), 0);  // but not accepted anew
}

TEST(ClusterController, ErrorsSayWhatKindTheyAre) {
  Harness h(temp_db());
  EXPECT_EQ(h.c->stop_service("ghost", 0).error().code, ErrorCode::not_found);
  EXPECT_EQ(h.c->scale("ghost", 1, 2, 0).error().code, ErrorCode::not_found);
  EXPECT_EQ(h.c->drain("nowhere", false, 0).error().code, ErrorCode::not_found);
  h.reg(1, "n1", 0);
  ASSERT_EQ(h.c->apply(kWeb, 0).errors_size(), 0);
  h.step(0);
  ASSERT_TRUE(h.c->stop_service("web", 0));  // its processes are stopping on n1
  auto again = h.c->scale("web", 1, 2, 0);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::conflict);
  EXPECT_EQ(h.c->scale("web", 0, 0, 0).error().code, ErrorCode::conflict);  // stopping comes first
}

TEST(ClusterController, StartFailuresBackOffLikeCrashes) {
  Harness h(temp_db());
  h.reg(1, "n1", 0);
  h.step(0);
  ASSERT_EQ(h.c->apply("name: bad\ncommand: [/nonexistent/cmd]\ncpu: 100m:1\nmemory: 16Mi:32Mi\n", 0).errors_size(), 0);
  int64_t now = 0;
  std::vector<std::string> reasons;
  for (int i = 0; i < 4; ++i) {
    auto starts = starts_to(h.step(now), 1);
    for (int spin = 0; starts.empty() && spin < 1000; ++spin) starts = starts_to(h.step(now += 10), 1);
    ASSERT_EQ(starts.size(), 1u);
    v1::ShimMessage m;
    m.mutable_event()->set_id(starts[0]);
    m.mutable_event()->set_kind("start_failed");
    m.mutable_event()->set_message("cannot execute /nonexistent/cmd: No such file or directory");
    h.c->on_shim_message(1, m, now);
    const auto ps = h.c->list_processes({});
    for (const auto& p : ps.processes()) reasons.push_back(p.reason());
  }
  ASSERT_EQ(reasons.size(), 4u);
  EXPECT_NE(reasons[0].find("restart 1 in 100ms"), std::string::npos) << reasons[0];
  EXPECT_NE(reasons[3].find("restart 4 in 800ms"), std::string::npos) << reasons[3];
}

TEST(ClusterController, ServiceStoppedCarriesItsTime) {
  Harness h(temp_db());
  h.reg(1, "n1", 0);
  h.step(0);
  ASSERT_EQ(h.c->apply(kWeb, 1000).errors_size(), 0);
  auto out = h.step(1000);
  ASSERT_TRUE(h.c->stop_service("web", 2000));
  h.step(2000);
  for (const auto& id : starts_to(out, 1)) h.event(1, id, "exited", 2500);
  h.step(2500);
  int64_t stopping = -1, stopped = -1;
  for (const auto& e : h.events.since(0)) {
    if (e.kind == "service-stopping") stopping = e.time_ms;
    if (e.kind == "service-stopped") stopped = e.time_ms;
  }
  EXPECT_EQ(stopping, 2000);
  EXPECT_EQ(stopped, 2500);
}

// Two controllers on one store (a stale leader, a second one started by
// mistake): every commit is guarded by the revision its controller last read
// or wrote, so the one that is behind is refused and changes nothing.
TEST(ClusterController, ASecondControllerOnTheSameStoreIsRefusedAndChangesNothing) {
  auto data = std::make_shared<MemoryStoreData>();
  auto sa = open_memory_store(data), sb = open_memory_store(data);
  EventLog ea, eb;
  ClusterController a({}, sa.get(), &ea), b({}, sb.get(), &eb);
  ASSERT_TRUE(a.load(1000));
  ASSERT_TRUE(a.commit());
  ASSERT_TRUE(b.load(1000));  // both at the same revision now
  const std::string web = "name: web\ncommand: [sleep, '1']\ncpu: 100m:1\nmemory: 16Mi\n";
  ASSERT_EQ(a.apply(web, 1100).errors_size(), 0);
  ASSERT_TRUE(a.commit());
  ASSERT_EQ(b.apply("name: db\ncommand: [sleep, '1']\ncpu: 100m:1\nmemory: 16Mi\n", 1200).errors_size(), 0);
  auto stale = b.commit();
  ASSERT_FALSE(stale);
  EXPECT_NE(stale.error().message.find("another controller is writing"), std::string::npos) << stale.error().message;
  // What is stored is a's alone; b, reset to the store, sees it too.
  ASSERT_TRUE(b.reset_to_store(1300));
  EXPECT_TRUE(b.state().find_service("web"));
  EXPECT_FALSE(b.state().find_service("db"));
}

}  // namespace
}  // namespace rackos::controller

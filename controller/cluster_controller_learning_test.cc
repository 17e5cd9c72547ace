// Learned mins in the controller, step by step: usage reports raise a
// service's min in place (an UpdateEnvelope, no stop); a raise that no longer
// fits its node raises an at-most-one process only as far as the node has
// room, and, once it is starved there, the instance rule moves it
// break-before-make to a node with room, where the rest of the raise is
// made; replicas that no longer fit are moved; applying the spec again, or a
// controller restart from the store, keeps what was learned.
#include <gtest/gtest.h>

#include "controller/controller_test_harness.h"

namespace rackos::controller {
namespace {

ControllerConfig learning_config() {
  ControllerConfig cfg;
  cfg.recommender.half_life_ms = 10'000;
  cfg.recommender.warmup_ms = 5'000;
  cfg.recommender.lower_after_ms = 2'000;
  return cfg;
}

// A heartbeat reporting one running launch's use: it wanted `cpu` and got
// `got` (all of it when not given: not starved).
void report(Harness& h, ConnId conn, const std::string& launch, int64_t cpu, int64_t now, int64_t got = -1) {
  v1::ShimMessage m;
  m.mutable_heartbeat()->set_seq(static_cast<uint64_t>(now));
  m.mutable_heartbeat()->set_sent_ms(now);
  auto* p = m.mutable_heartbeat()->add_processes();
  p->set_id(launch);
  p->set_state(v1::RUNNING);
  p->set_pid(99);
  p->mutable_usage()->set_cpu_used_millis(got < 0 ? cpu : got);
  p->mutable_usage()->set_cpu_demand_millis(cpu);
  p->mutable_usage()->set_memory_bytes(8 << 20);
  p->mutable_allocation()->set_cpu_target_millis(got < 0 ? cpu : got);
  h.c->on_shim_message(conn, m, now);
}

v1::ProcessInfo proc(Harness& h, const std::string& service) {
  v1::ListRequest req;
  req.set_service(service);
  auto ps = h.c->list_processes(req);
  EXPECT_EQ(ps.processes_size(), 1);
  return ps.processes_size() > 0 ? ps.processes(0) : v1::ProcessInfo{};
}

const char* kBig = "name: big\ncommand: [x]\ncpu: auto:4\nmemory: 16Mi:64Mi\n";
const char* kFiller = "name: filler\ncommand: [x]\ncpu: 2500m:3\nmemory: 16Mi:64Mi\n";

TEST(LearnedMins, RaisedInPlaceThenMovedWhenItNoLongerFits) {
  Harness h(temp_db(), learning_config());
  h.reg(1, "n1", 0);
  h.reg(2, "n2", 0);
  h.step(0);
  ASSERT_EQ(h.c->apply(kFiller, 0).errors_size(), 0);
  h.step(0);
  ASSERT_EQ(h.c->apply(kBig, 0).errors_size(), 0);
  h.step(0);
  const auto filler = proc(h, "filler");
  auto big = proc(h, "big");
  EXPECT_EQ(big.envelope().cpu_millis().min(), 1000);  // a quarter of max to start
  EXPECT_TRUE(big.cpu_min_learned());
  ASSERT_EQ(big.node(), filler.node());  // best fit: 1.5 cores left there
  const ConnId home = big.node() == "n1" ? 1 : 2, other = home == 1 ? 2 : 1;
  h.event(home, big.launch(), "started", 1);
  h.step(1);

  // It uses 1.2 cores: raised at once, in place (no stop, same launch).
  int64_t t = 1000;
  report(h, home, big.launch(), 1200, t);
  h.heartbeat(other, t);
  h.c->tick(t);
  auto out = h.step(t);
  big = proc(h, "big");
  EXPECT_GE(big.envelope().cpu_millis().min(), 1320);
  EXPECT_LE(big.envelope().cpu_millis().min(), 1400);
  EXPECT_EQ(big.state(), v1::RUNNING);
  bool updated = false;
  for (const auto& o : out) {
    EXPECT_FALSE(o.msg.has_stop());
    if (o.msg.has_update() && o.msg.update().id() == big.launch()) {
      updated = true;
      EXPECT_EQ(o.msg.update().envelope().cpu_millis().min(), big.envelope().cpu_millis().min());
    }
  }
  EXPECT_TRUE(updated);
  EXPECT_EQ(h.c->state().check_invariants(), "");

  // Then it wants 3.5 cores and gets 1.5 (starved): 3.85 does not fit beside
  // the filler, so the min goes as far as the node has room (1.5 cores) and
  // the instance rule moves it once starved for 3 s. Break before make: its
  // launch is stopped first; nothing starts until it has exited.
  for (int i = 0; i < 10; ++i) {
    t += 1000;
    for (int64_t b = t - 900; b < t; b += 100) {  // both nodes stay alive
      h.heartbeat(home, b);
      h.heartbeat(other, b);
      h.c->tick(b);
    }
    report(h, home, big.launch(), 3500, t, 1500);
    h.heartbeat(other, t);
    h.c->tick(t);
    out = h.step(t);
    EXPECT_LE(proc(h, "big").envelope().cpu_millis().min(), 1500);
    EXPECT_EQ(h.c->state().check_invariants(), "");
    if (proc(h, "big").state() == v1::STOPPING) break;
  }
  big = proc(h, "big");
  EXPECT_EQ(big.envelope().cpu_millis().min(), 1500);
  ASSERT_EQ(big.state(), v1::STOPPING);
  for (const auto& o : out) EXPECT_FALSE(o.msg.has_start()) << "started before the old copy exited";
  t += 100;
  h.event(home, big.launch(), "exited", t);
  out = h.step(t);
  big = proc(h, "big");
  ASSERT_EQ(big.node(), other == 1 ? "n1" : "n2");
  bool started = false;
  for (const auto& o : out) started = started || (o.conn == other && o.msg.has_start());
  EXPECT_TRUE(started);
  h.event(other, big.launch(), "started", t + 1);
  h.step(t + 1);
  // On a node with room the rest of the raise is made, in place.
  t += 1000;
  report(h, other, big.launch(), 3500, t);
  h.heartbeat(home, t);
  h.c->tick(t);
  h.step(t);
  EXPECT_GE(proc(h, "big").envelope().cpu_millis().min(), 3800);
  EXPECT_EQ(proc(h, "big").state(), v1::RUNNING);
  EXPECT_EQ(h.c->state().check_invariants(), "");
}

const char* kReplicas = "name: rep\ncommand: [x]\ncpu: auto:2\nmemory: 16Mi:64Mi\ninstances: 4\n";

TEST(LearnedMins, ReplicasThatNoLongerFitAreMoved) {
  Harness h(temp_db(), learning_config());
  h.reg(1, "n1", 0);
  h.reg(2, "n2", 0);
  h.step(0);
  ASSERT_EQ(h.c->apply(kReplicas, 0).errors_size(), 0);  // 4 × 500m: two a node
  auto out = h.step(0);
  v1::ListRequest req;
  req.set_service("rep");
  for (const auto all1 = h.c->list_processes(req); const auto& p : all1.processes()) h.event(p.node() == "n1" ? 1 : 2, p.launch(), "started", 1);
  h.step(1);
  // Each uses 1.8 cores: 1.98 × 2 does not fit in 4 cores beside nothing
  // else? It does (3.96); add a third replica's worth: scale to 5.
  ASSERT_EQ(h.c->apply("name: rep\ncommand: [x]\ncpu: auto:2\nmemory: 16Mi:64Mi\ninstances: 5\n", 1).errors_size(), 0);
  out = h.step(1);
  for (const auto all2 = h.c->list_processes(req); const auto& p : all2.processes()) {
    if (p.state() == v1::STARTING) h.event(p.node() == "n1" ? 1 : 2, p.launch(), "started", 2);
  }
  h.step(2);
  const int64_t t = 1000;
  for (const auto all3 = h.c->list_processes(req); const auto& p : all3.processes()) report(h, p.node() == "n1" ? 1 : 2, p.launch(), 1800, t);
  h.c->tick(t);
  out = h.step(t);
  // 5 × 1.98 cores do not fit on two 4-core nodes: the raise is made, and the
  // replicas that no longer fit wait for room (pending), never over-committing.
  EXPECT_GE(h.c->counters().learned_moves, 1u);
  EXPECT_EQ(h.c->state().check_invariants(), "");
  int bound = 0;
  for (const auto all4 = h.c->list_processes(req); const auto& p : all4.processes()) {
    EXPECT_GE(p.envelope().cpu_millis().min(), 1980);
    bound += !p.node().empty();
  }
  EXPECT_LE(bound, 4);
}

TEST(LearnedMins, ReapplyAndRestartKeepWhatWasLearnedAndLowerSlowly) {
  Harness h(temp_db(), learning_config());
  h.reg(1, "n1", 0);
  h.step(0);
  ASSERT_EQ(h.c->apply(kBig, 0).errors_size(), 0);
  h.step(0);
  auto big = proc(h, "big");
  h.event(1, big.launch(), "started", 1);
  h.step(1);
  int64_t t = 1000;
  report(h, 1, big.launch(), 300, t);
  h.c->tick(t);
  h.step(t);
  // Lowered only after the warm-up (5 s of samples) and 2 s below.
  int64_t lowered_at = -1;
  for (t = 2000; t <= 12'000; t += 1000) {
    report(h, 1, big.launch(), 300, t);
    h.c->tick(t);
    h.step(t);
    if (proc(h, "big").envelope().cpu_millis().min() < 1000) {
      lowered_at = t;
      break;
    }
  }
  ASSERT_GE(lowered_at, 7000);
  const int64_t learned = proc(h, "big").envelope().cpu_millis().min();
  EXPECT_GE(learned, 330);
  EXPECT_LE(learned, 350);
  // The same spec again: the learned min stays.
  ASSERT_EQ(h.c->apply(kBig, t).errors_size(), 0);
  h.step(t);
  EXPECT_EQ(proc(h, "big").envelope().cpu_millis().min(), learned);
  // A restarted controller reads it from the store.
  h.open();
  ASSERT_TRUE(h.c->load(t + 10).ok());
  EXPECT_EQ(proc(h, "big").envelope().cpu_millis().min(), learned);
  EXPECT_TRUE(proc(h, "big").cpu_min_learned());
  auto ex = h.c->explain("big", t + 10);
  ASSERT_TRUE(ex);
  EXPECT_EQ(ex->resources(0).min(), learned);
  EXPECT_EQ(ex->resources(0).samples(), 0u);  // histograms are not stored: learned afresh
  EXPECT_NE(ex->resources(0).next().find("no use seen yet"), std::string::npos);
  EXPECT_FALSE(ex->resources(1).learned());
  EXPECT_FALSE(h.c->explain("nosuch", t));
}

}  // namespace
}  // namespace rackos::controller

// The simulated world around the real controller (see sim_world.h).
#include "sim/sim_world.h"

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <stdexcept>

#include "proto/convert.h"

namespace rackos::sim {
namespace {

using controller::ConnId;

std::string process_of(const std::string& launch) { return launch.substr(0, launch.rfind('.')); }

// "Not set" for virtual times, which may be negative (a trace window that
// starts at 0 boots the cluster a second before it).
constexpr int64_t kNever = INT64_MIN;

struct SimProcess {
  std::string service;
  bool at_most_one = false;
  bool running = false;
  bool exited = false;
  int64_t start_at = kNever;  // a start in flight completes then
  int64_t frozen_since = kNever;  // its node's lease lapsed: frozen (runs nothing) since then
  int32_t pid = 0;
  Envelope envelope;
  PriorityClass priority = PriorityClass::normal;
  int64_t created_ms = 0;
  AllocState alloc;
  // Last the allocator gave and last measured (plain numbers: a proto each
  // per process cost ~150 B at 500,000 processes).
  int64_t target_millis = 0, quota_millis = 0, memory_high = 0;
  int64_t demand_millis = 0, used_millis = 0, memory_bytes = 0;
  bool evict_sent = false;  // the node told the controller it cannot keep it (memory pressure)
};

struct SimNode {
  NodeSpec spec;
  bool alive = true;
  ConnId conn = 0;  // 0: no stream
  uint64_t hb_seq = 0;
  int64_t last_ack = kNever;  // send time of the last acknowledged heartbeat
  int64_t register_sent = kNever;  // when the current stream's Register went out
  bool fenced = false;
  std::string cluster_id;
  uint64_t revision = 0;
  int64_t partitioned_until = kNever;
  int64_t slow_until = kNever;
  int64_t slow_extra_ms = 0;
  double slow_loss = 0;
  bool counted_dead = false;  // a false death already counted
  std::string refused;        // the controller's last refusal
  std::map<std::string, SimProcess> procs;  // by launch id
  bool partitioned(int64_t now) const { return now < partitioned_until; }
  bool slow(int64_t now) const { return now < slow_until; }
};

enum class Ev : uint8_t { up, down, heartbeat, tick, fence_check, started, connect, controller_up };

struct Event {
  int64_t at = 0;
  uint64_t seq = 0;
  Ev kind = Ev::up;
  size_t node = 0;
  ConnId conn = 0;
  uint64_t gen = 0;  // timers: the detail generation they belong to
  std::string launch;
  std::unique_ptr<v1::ShimMessage> up;
  std::unique_ptr<v1::ControllerMessage> down;
  bool close = false;
};

struct Later {
  bool operator()(const Event& a, const Event& b) const { return a.at != b.at ? a.at > b.at : a.seq > b.seq; }
};

// An open disruption: a node's processes a fault stopped, until each runs again.
struct Disruption {
  int64_t t0 = 0;
  size_t outstanding = 0;
  bool reported = false;
};

}  // namespace

struct World::Impl {
  WorldConfig cfg;
  std::mt19937_64 rng;
  std::shared_ptr<controller::MemoryStoreData> store_data = std::make_shared<controller::MemoryStoreData>();
  std::unique_ptr<controller::Store> store;
  std::unique_ptr<controller::EventLog> events;
  std::unique_ptr<controller::ClusterController> ctl;
  std::vector<SimNode> nodes;
  std::unordered_map<ConnId, size_t> conn_node;
  // A stream is ordered (TCP): nothing overtakes what was sent before it on
  // the same stream. The last delivery time per stream and direction.
  std::unordered_map<ConnId, int64_t> last_up, last_down;
  std::vector<Event> heap;
  uint64_t seq = 0;
  ConnId next_conn = 0;
  int32_t next_pid = 1000;
  int64_t now = 0;
  bool detailed = false;
  uint64_t gen = 0;
  bool touched = false;  // the controller handled something since its last step
  int64_t paused_until = kNever;
  int64_t down_until = kNever;
  int64_t fault_t0 = 0;
  uint64_t placements_seen = 0;
  std::unordered_map<std::string, int> copies;          // at-most-one process name → running copies
  std::set<std::string> ever_ran;                        // services that ran at least once
  std::vector<Disruption> disruptions;
  std::unordered_map<size_t, size_t> open_disruption;    // node → its open disruption
  std::unordered_map<std::string, size_t> disrupted;     // process name → disruption
  std::unordered_map<std::string, std::string> disrupted_service;
  std::set<std::string> known_before_restart;
  WorldCounters counters;

  explicit Impl(WorldConfig c) : cfg(std::move(c)), rng(cfg.seed) {}

  int64_t uniform(int64_t lo, int64_t hi) {
    return hi <= lo ? lo : lo + static_cast<int64_t>(rng() % static_cast<uint64_t>(hi - lo + 1));
  }
  double unit() { return static_cast<double>(rng() >> 11) / 9007199254740992.0; }
  int64_t delay() { return uniform(cfg.net_delay_min_ms, cfg.net_delay_max_ms); }
  int64_t lease() const { return cfg.controller.health.node_lease_ms; }

  void push(Event e) {
    e.seq = ++seq;
    heap.push_back(std::move(e));
    std::push_heap(heap.begin(), heap.end(), Later{});
  }
  Event pop() {
    std::pop_heap(heap.begin(), heap.end(), Later{});
    Event e = std::move(heap.back());
    heap.pop_back();
    return e;
  }
  void timer(Ev kind, int64_t at, size_t node = 0) {
    Event e;
    e.at = at;
    e.kind = kind;
    e.node = node;
    e.gen = gen;
    push(std::move(e));
  }

  // ---- the controller

  void start_controller() {
    store = controller::open_memory_store(store_data, "sim-memory");
    events = std::make_unique<controller::EventLog>(1000);
    ctl = std::make_unique<controller::ClusterController>(cfg.controller, store.get(), events.get());
    auto r = ctl->load(now);
    if (!r) throw std::runtime_error("controller load: " + r.error().message);
    placements_seen = ctl->counters().placements;
    if (!known_before_restart.empty()) {
      // Every process the store held before the kill must be there after it.
      std::set<std::string> known;
      ctl->state().processes().for_each([&](const ProcessRecord& p) { known.insert(ctl->process_name(p.id)); });
      for (const auto& name : known_before_restart) counters.records_gone += known.count(name) == 0;
      known_before_restart.clear();
    }
    down_until = kNever;
    touched = true;
  }

  void controller_step() {
    if (!ctl || now < paused_until || !touched) return;
    touched = false;
    ctl->settle(now);
    (void)ctl->commit();  // a failed commit is retried next step, as the daemon's loop does
    const uint64_t placed = ctl->counters().placements - placements_seen;
    placements_seen = ctl->counters().placements;
    int64_t compute_ms = 0;
    if (placed > 0) {
      const double ms = static_cast<double>(placed) / cfg.placements_per_ms;
      counters.batch_ms.push_back(ms);
      compute_ms = static_cast<int64_t>(ms);
    }
    for (auto& o : ctl->take_outbox()) {
      auto it = conn_node.find(o.conn);
      if (it == conn_node.end()) continue;
      Event e;
      e.kind = Ev::down;
      e.node = it->second;
      e.conn = o.conn;
      e.at = now + compute_ms + delay() + (nodes[e.node].slow(now) ? nodes[e.node].slow_extra_ms : 0);
      int64_t& last = last_down[o.conn];
      e.at = last = std::max(e.at, last);
      e.down = std::make_unique<v1::ControllerMessage>(std::move(o.msg));
      e.close = o.close;
      push(std::move(e));
    }
    check_false_deaths();
  }

  void check_false_deaths() {
    if (!detailed) return;
    const ClusterState& st = ctl->state();
    for (auto& n : nodes) {
      if (!n.alive || n.counted_dead) continue;
      auto id = st.find_node(n.spec.name);
      if (id && st.node(*id).health.liveness == NodeState::dead) {
        n.counted_dead = true;
        counters.false_deaths += n.partitioned(now) ? 0 : 1;
      }
    }
  }

  void to_controller(size_t node, ConnId conn, const v1::ShimMessage& m) {
    if (!ctl || nodes[node].conn != conn || conn == 0) return;
    ctl->on_shim_message(conn, m, now);
    touched = true;
  }

  // ---- the network

  void send_up(size_t node, v1::ShimMessage m) {
    SimNode& n = nodes[node];
    if (n.conn == 0 || n.partitioned(now)) return;
    if (n.slow(now) && m.has_heartbeat() && unit() < n.slow_loss) return;
    Event e;
    e.kind = Ev::up;
    e.node = node;
    e.conn = n.conn;
    e.at = now + delay() + (n.slow(now) ? n.slow_extra_ms : 0);
    int64_t& last = last_up[n.conn];
    e.at = last = std::max(e.at, last);
    e.up = std::make_unique<v1::ShimMessage>(std::move(m));
    push(std::move(e));
  }

  void forget_conn(ConnId conn) {
    conn_node.erase(conn);
    last_up.erase(conn);
    last_down.erase(conn);
  }

  void drop_stream(size_t node, int64_t reconnect_after_ms) {
    SimNode& n = nodes[node];
    if (n.conn != 0) {
      forget_conn(n.conn);
      if (ctl) {
        ctl->on_disconnect(n.conn, now);
        touched = true;
      }
    }
    n.conn = 0;
    Event e;
    e.kind = Ev::connect;
    e.node = node;
    e.at = now + reconnect_after_ms;
    push(std::move(e));
  }

  void handle(Event& e) {
    ++counters.messages;
    switch (e.kind) {
      case Ev::up: {
        if (!ctl) return;  // the controller is down: lost
        if (now < paused_until) {  // paused: it waits in the socket
          e.at = paused_until;
          push(std::move(e));
          return;
        }
        SimNode& n = nodes[e.node];
        if (!n.alive || n.partitioned(now)) return;
        to_controller(e.node, e.conn, *e.up);
        return;
      }
      case Ev::down: {
        SimNode& n = nodes[e.node];
        if (!n.alive || n.conn != e.conn || n.partitioned(now)) return;
        on_controller_message(e.node, *e.down);
        if (e.close && nodes[e.node].conn == e.conn) drop_stream(e.node, cfg.reconnect_ms);
        return;
      }
      case Ev::heartbeat:
        if (e.gen != gen || !detailed) return;
        heartbeat(e.node, false);
        timer(Ev::heartbeat, now + cfg.controller.health.heartbeat_ms, e.node);
        return;
      case Ev::tick:
        if (e.gen != gen || !detailed) return;
        if (ctl && now >= paused_until) {
          ctl->tick(now);
          touched = true;
        }
        timer(Ev::tick, std::max(now + cfg.tick_ms, paused_until), 0);
        return;
      case Ev::fence_check: {
        if (e.gen != gen || !detailed) return;
        SimNode& n = nodes[e.node];
        if (!n.alive) return;
        // The monitors' deadline (a fifth of the lease early), and the grace after it.
        const int64_t deadline = n.last_ack == kNever ? INT64_MAX : n.last_ack + lease() - lease() / 5;
        const int64_t kill_at = deadline == INT64_MAX ? INT64_MAX : deadline + cfg.fence_grace_ms;
        if (now >= deadline && !n.fenced) fence(e.node);
        if (now >= kill_at && n.fenced) kill_frozen(e.node);
        // Check again at the deadline / the end of the grace, or a fifth of a lease from now.
        int64_t next = now + lease() / 5;
        if (now < deadline && deadline != INT64_MAX) next = deadline;
        else if (now < kill_at) next = std::min(next, kill_at);
        timer(Ev::fence_check, next, e.node);
        return;
      }
      case Ev::started: {
        SimNode& n = nodes[e.node];
        if (!n.alive) return;
        auto it = n.procs.find(e.launch);
        if (it == n.procs.end() || it->second.start_at != now) return;
        it->second.start_at = kNever;
        set_running(e.node, e.launch, it->second);
        if (n.fenced && it->second.at_most_one) freeze(e.node, e.launch, it->second);  // its monitor sees the lapsed lease at once
        v1::ShimMessage m = event(e.launch, NodeEventKind::started, it->second.pid);
        send_up(e.node, std::move(m));
        return;
      }
      case Ev::connect:
        if (nodes[e.node].alive && nodes[e.node].conn == 0) connect(e.node);
        return;
      case Ev::controller_up:
        if (!ctl && now >= down_until) {
          start_controller();
          for (size_t i = 0; i < nodes.size(); ++i) {
            if (nodes[i].alive && nodes[i].conn == 0) {
              Event c;
              c.kind = Ev::connect;
              c.node = i;
              c.at = now + uniform(0, cfg.reconnect_ms);
              push(std::move(c));
            }
          }
        }
        return;
    }
  }

  void run_until(int64_t t) {
    while (!heap.empty() && heap.front().at <= t) {
      const int64_t at = heap.front().at;
      now = std::max(now, at);
      // What arrived at this instant is read before the tick looks at the
      // leases, as the daemon's loop reads its streams before it ticks.
      std::vector<Event> ticks;
      while (!heap.empty() && heap.front().at == at) {
        Event e = pop();
        if (e.kind == Ev::tick) ticks.push_back(std::move(e));
        else handle(e);
      }
      for (auto& e : ticks) handle(e);
      controller_step();
    }
    now = std::max(now, t);
    controller_step();
  }

  // ---- the shims

  static v1::ShimMessage event(const std::string& id, NodeEventKind kind, int32_t pid = 0) {
    v1::ShimMessage m;
    auto* e = m.mutable_event();
    e->set_id(id);
    e->set_kind(std::string(to_string(kind)));
    e->set_pid(pid);
    return m;
  }
  static v1::ShimMessage exited(const std::string& id, bool stop_requested, bool fenced) {
    v1::ShimMessage m = event(id, NodeEventKind::exited);
    auto* x = m.mutable_event()->mutable_exit();
    x->set_stop_requested(stop_requested);
    x->set_fenced(fenced);
    if (!stop_requested) x->set_signal(9);
    return m;
  }

  v1::ProcessInfo info(const std::string& id, const SimProcess& p) const {
    v1::ProcessInfo pi;
    pi.set_id(id);
    pi.set_service(p.service);
    pi.set_state(p.running ? v1::RUNNING : (p.exited ? v1::EXITED : v1::STARTING));
    pi.set_pid(p.pid);
    pi.mutable_allocation()->set_cpu_target_millis(p.target_millis);
    pi.mutable_allocation()->set_cpu_quota_millis(p.quota_millis);
    pi.mutable_allocation()->set_memory_high_bytes(p.memory_high);
    pi.mutable_usage()->set_cpu_demand_millis(p.demand_millis);
    pi.mutable_usage()->set_cpu_used_millis(p.used_millis);
    pi.mutable_usage()->set_memory_bytes(p.memory_bytes);
    if (p.exited) pi.mutable_exit()->set_signal(9);
    return pi;
  }

  void heartbeat(size_t i, bool with_processes) {
    SimNode& n = nodes[i];
    if (!n.alive || n.conn == 0) return;
    v1::ShimMessage m;
    auto* hb = m.mutable_heartbeat();
    hb->set_seq(++n.hb_seq);
    hb->set_sent_ms(now);
    hb->set_fenced(n.fenced);
    if (with_processes || n.hb_seq % 10 == 1) {
      for (const auto& [id, p] : n.procs) *hb->add_processes() = info(id, p);
    }
    send_up(i, std::move(m));
  }

  void set_running(size_t node, const std::string& launch, SimProcess& p) {
    (void)node;
    p.running = true;
    p.exited = false;
    const std::string name = process_of(launch);
    ever_ran.insert(p.service);
    if (p.at_most_one && ++copies[name] > 1) ++counters.processes_doubled;
    ran_again(name);
  }

  // A process a fault disrupted runs again (here or elsewhere, or thawed):
  // its node's disruption ends when the last of them does.
  void ran_again(const std::string& name) {
    auto d = disrupted.find(name);
    if (d == disrupted.end()) return;
    Disruption& dis = disruptions[d->second];
    disrupted.erase(d);
    disrupted_service.erase(name);
    if (--dis.outstanding == 0 && !dis.reported) {
      dis.reported = true;
      counters.recovery_ms.push_back(static_cast<double>(now - dis.t0));
    }
  }

  // A process stops running (stop, fence, crash); `disrupt`: because of a fault.
  void set_stopped(size_t node, const std::string& launch, SimProcess& p, bool disrupt) {
    const bool was = (p.running && p.frozen_since == kNever) || p.start_at != kNever;
    const std::string name = process_of(launch);
    if (p.running && p.at_most_one && p.frozen_since == kNever) {
      if (--copies[name] <= 0) copies.erase(name);
    }
    if (p.frozen_since != kNever) counters.frozen_ms.push_back(static_cast<double>(now - p.frozen_since));
    p.running = false;
    p.frozen_since = kNever;
    p.start_at = kNever;
    p.exited = true;
    if (disrupt && was) disrupt_process(node, name, p.service);
  }

  // A fault took a running process out of service (stopped or frozen). An
  // at-most-one process already running elsewhere is not disrupted.
  void disrupt_process(size_t node, const std::string& name, const std::string& service) {
    if (copies.count(name)) return;
    ++counters.processes_disrupted;
    auto [it, fresh] = open_disruption.try_emplace(node, disruptions.size());
    if (fresh || disruptions[it->second].reported) {
      it->second = disruptions.size();
      disruptions.push_back({fault_t0, 0, false});
    }
    if (disrupted.emplace(name, it->second).second) {
      ++disruptions[it->second].outstanding;
      disrupted_service[name] = service;
    }
  }

  // The lease ran out: at-most-one processes are frozen (they run nothing, so
  // they no longer count as a running copy) until an ack thaws them or the
  // grace runs out (kill_frozen).
  void fence(size_t i) {
    SimNode& n = nodes[i];
    n.fenced = true;
    for (auto& [id, p] : n.procs) {
      if (!p.at_most_one || p.frozen_since != kNever || !p.running) continue;
      freeze(i, id, p);  // a start in flight freezes as it starts (Ev::started)
    }
  }

  void freeze(size_t i, const std::string& id, SimProcess& p) {
    p.frozen_since = now;
    const std::string name = process_of(id);
    if (--copies[name] <= 0) copies.erase(name);
    disrupt_process(i, name, p.service);
  }

  // An ack: the fence lifts and frozen processes run again — a copy running
  // elsewhere by then is a double run (the controller must have told this
  // node to stop it first, in Registered).
  void thaw(size_t i) {
    SimNode& n = nodes[i];
    n.fenced = false;
    for (auto& [id, p] : n.procs) {
      if (p.frozen_since == kNever) continue;
      counters.frozen_ms.push_back(static_cast<double>(now - p.frozen_since));
      p.frozen_since = kNever;
      const std::string name = process_of(id);
      if (++copies[name] > 1) ++counters.processes_doubled;
      ran_again(name);
    }
  }

  // Frozen past the grace: killed on the node (what fenced_stops counts).
  void kill_frozen(size_t i) {
    SimNode& n = nodes[i];
    for (auto& [id, p] : n.procs) {
      if (p.frozen_since == kNever) continue;
      ++counters.fenced_stops;
      set_stopped(i, id, p, true);
      send_up(i, exited(id, false, true));
    }
  }

  void connect(size_t i) {
    SimNode& n = nodes[i];
    if (!ctl) return;  // retried when the controller is back
    if (n.partitioned(now)) {  // cannot reach it: try again later
      Event e;
      e.kind = Ev::connect;
      e.node = i;
      e.at = n.partitioned_until;
      push(std::move(e));
      return;
    }
    n.conn = ++next_conn;
    conn_node[n.conn] = i;
    v1::ShimMessage m;
    auto* r = m.mutable_register_();
    r->set_wire_version(1);
    r->set_node(n.spec.name);
    r->set_cpu_millis(n.spec.cpu_millis);
    r->set_memory_bytes(n.spec.memory_bytes);
    for (const auto& [k, v] : n.spec.resources) (*r->mutable_resources())[k] = v;
    for (const auto& [k, v] : n.spec.labels) (*r->mutable_labels())[k] = v;
    r->set_cluster_id(n.cluster_id);
    r->set_store_revision(n.revision);
    for (const auto& [id, p] : n.procs) *r->add_running() = info(id, p);
    n.register_sent = now;
    send_up(i, std::move(m));
  }

  void on_controller_message(size_t i, const v1::ControllerMessage& m) {
    SimNode& n = nodes[i];
    if (m.has_ack()) {
      n.last_ack = std::max(n.last_ack, m.ack().sent_ms());
      n.revision = std::max(n.revision, m.ack().store_revision());
      // An ack lifts the fence only if the lease it grants still runs (a late
      // one may come after the controller declared this node dead).
      if (n.fenced && n.last_ack + lease() - lease() / 5 > now) thaw(i);
    } else if (m.has_registered()) {
      n.cluster_id = m.registered().cluster_id();
      n.revision = m.registered().store_revision();
      for (const auto& id : m.registered().stop()) stop(i, id, false);
      for (const auto& id : m.registered().forget()) {
        auto it = n.procs.find(id);
        if (it != n.procs.end() && !it->second.running && it->second.start_at == kNever) n.procs.erase(it);
      }
      // Registering is acknowledged from the Register's send time, after the
      // stale copies above are stopped (as the shim does).
      n.last_ack = std::max(n.last_ack, n.register_sent);
      if (n.fenced && n.last_ack + lease() - lease() / 5 > now) thaw(i);
    } else if (m.has_start()) {
      const auto& s = m.start();
      if (auto it = n.procs.find(s.id()); it != n.procs.end()) {
        const SimProcess& p = it->second;
        if (p.running) send_up(i, event(s.id(), NodeEventKind::started, p.pid));
        else if (p.exited) send_up(i, exited(s.id(), false, false));
        return;  // a start sent twice: in flight already
      }
      const bool amo = s.on_partition() == "stop";
      if (n.fenced && amo) {
        v1::ShimMessage f = event(s.id(), NodeEventKind::start_failed);
        f.mutable_event()->set_message("node fenced: its lease ran out");
        send_up(i, std::move(f));
        return;
      }
      SimProcess p;
      p.service = s.service();
      p.at_most_one = amo;
      p.envelope = from_proto(s.envelope());
      p.priority = parse_priority_class(s.priority()).value_or(PriorityClass::normal);
      p.created_ms = now;
      p.start_at = now + uniform(cfg.start_latency_min_ms, cfg.start_latency_max_ms);
      p.pid = ++next_pid;
      Event e;
      e.kind = Ev::started;
      e.node = i;
      e.at = p.start_at;
      e.launch = s.id();
      n.procs[s.id()] = std::move(p);
      push(std::move(e));
    } else if (m.has_stop()) {
      stop(i, m.stop().id(), m.stop().forget());
    } else if (m.has_update()) {
      auto it = n.procs.find(m.update().id());
      if (it != n.procs.end()) {
        it->second.envelope = from_proto(m.update().envelope());
        it->second.priority = parse_priority_class(m.update().priority()).value_or(it->second.priority);
      }
    } else if (!m.refused().empty()) {
      n.refused = m.refused();
      const bool dead = m.refused().find("declared dead") != std::string::npos;
      drop_stream(i, dead ? cfg.reconnect_ms : 5'000);
    }
  }

  void stop(size_t i, const std::string& id, bool forget) {
    SimNode& n = nodes[i];
    auto it = n.procs.find(id);
    if (it != n.procs.end()) {
      set_stopped(i, id, it->second, false);
      if (forget) n.procs.erase(it);
    }
    send_up(i, exited(id, true, false));
  }
};

// ---------------------------------------------------------------- World

World::World(WorldConfig cfg, std::vector<NodeSpec> nodes) : impl_(std::make_unique<Impl>(std::move(cfg))) {
  for (auto& spec : nodes) impl_->nodes.push_back(SimNode{std::move(spec)});
}
World::~World() = default;

int64_t World::now() const { return impl_->now; }
bool World::detailed() const { return impl_->detailed; }
const controller::ClusterController* World::controller() const { return impl_->ctl.get(); }
size_t World::node_count() const { return impl_->nodes.size(); }
const std::string& World::node_name(size_t node) const { return impl_->nodes.at(node).spec.name; }
bool World::node_alive(size_t node) const { return impl_->nodes.at(node).alive; }
bool World::ever_ran(const std::string& service) const { return impl_->ever_ran.count(service) > 0; }
const WorldCounters& World::counters() const { return impl_->counters; }
uint64_t World::store_commits() const { return impl_->store_data->commits; }

size_t World::processes_on(size_t node) const {
  size_t k = 0;
  for (const auto& [id, p] : impl_->nodes.at(node).procs) k += p.running || p.start_at != kNever;
  return k;
}

void World::boot(int64_t now_ms) {
  Impl& w = *impl_;
  w.now = now_ms;
  w.start_controller();
  for (size_t i = 0; i < w.nodes.size(); ++i) w.connect(i);
  // Registration is a round trip; then everyone is acknowledged.
  run_until(now_ms + 2 * w.cfg.net_delay_max_ms + 1);
  for (auto& n : w.nodes) {
    if (n.conn == 0) {
      throw std::runtime_error("node " + n.spec.name + " did not register" + (n.refused.empty() ? "" : ": " + n.refused));
    }
  }
}

void World::set_detailed(bool on) {
  Impl& w = *impl_;
  if (on == w.detailed) return;
  w.detailed = on;
  ++w.gen;
  if (!on) return;
  const int64_t hb = w.cfg.controller.health.heartbeat_ms;
  for (size_t i = 0; i < w.nodes.size(); ++i) {
    // The summary stood for every heartbeat until now: each was acknowledged.
    if (w.nodes[i].alive && w.nodes[i].conn != 0) w.nodes[i].last_ack = std::max(w.nodes[i].last_ack, w.now - w.uniform(0, hb - 1));
    w.timer(Ev::heartbeat, w.now + w.uniform(0, hb - 1), i);
    w.timer(Ev::fence_check, w.now, i);
  }
  w.timer(Ev::tick, w.now + w.uniform(0, w.cfg.tick_ms - 1), 0);
}

void World::run_until(int64_t t_ms) { impl_->run_until(t_ms); }

StepUse World::summarise(const DemandFn& demand) {
  Impl& w = *impl_;
  StepUse use;
  for (size_t i = 0; i < w.nodes.size(); ++i) {
    SimNode& n = w.nodes[i];
    if (!n.alive) continue;
    use.capacity_cpu += static_cast<double>(n.spec.cpu_millis);
    std::vector<AllocInput> in;
    std::vector<SimProcess*> procs;
    std::vector<const std::string*> launches;
    std::vector<bool> fixed;
    std::vector<std::string> evict;  // launches the allocator says the node cannot keep
    for (auto& [id, p] : n.procs) {
      if (!p.running) continue;
      const Demand d = demand(p.service, w.now);
      AllocInput a;
      a.id = ProcessId{static_cast<uint64_t>(p.pid)};
      a.priority = p.priority;
      a.envelope = p.envelope;
      a.cpu_demand_millis = d.cpu_millis;
      a.cpu_used_millis = std::min(d.cpu_millis, p.envelope.cpu_millis.max);
      a.memory_used_bytes = d.memory_bytes;
      a.created_ms = p.created_ms;
      a.state = p.alloc;
      in.push_back(a);
      procs.push_back(&p);
      launches.push_back(&id);
      fixed.push_back(d.fixed);
    }
    double node_memory = 0;
    for (const auto& a : in) node_memory += static_cast<double>(a.memory_used_bytes);
    use.memory_used += node_memory;
    use.memory_over += std::max(0.0, node_memory - static_cast<double>(n.spec.memory_bytes));
    if (w.cfg.allocator && !in.empty()) {
      NodeAllocation out = allocate_node(n.spec.cpu_millis, n.spec.memory_bytes, in, w.now, AllocatorConfig{});
      // What the node holds: its processes' mins, or what they use when that
      // is more, and never more than its capacity. A min its process does not
      // use is lent to the others on the node (the allocator is
      // work-conserving): CPU that one process reserves and another uses is
      // held once, not twice.
      double min_sum = 0, used_sum = 0;
      double part_min[2] = {0, 0}, part_used[2] = {0, 0};  // [learned, fixed]
      for (size_t k = 0; k < in.size(); ++k) {
        const Allocation& a = out.processes[k];
        SimProcess& p = *procs[k];
        p.alloc = a.state;
        p.target_millis = a.cpu_target_millis;
        p.quota_millis = a.cpu_quota_millis;
        p.memory_high = a.memory_high_bytes;
        const int64_t served = std::min(in[k].cpu_demand_millis, a.cpu_target_millis);
        p.demand_millis = in[k].cpu_demand_millis;
        p.used_millis = served;
        p.memory_bytes = in[k].memory_used_bytes;
        min_sum += static_cast<double>(in[k].envelope.cpu_millis.min);
        used_sum += static_cast<double>(served);
        use.used_cpu += static_cast<double>(served);
        part_min[fixed[k] ? 1 : 0] += static_cast<double>(in[k].envelope.cpu_millis.min);
        part_used[fixed[k] ? 1 : 0] += static_cast<double>(served);
        use.demand_cpu += static_cast<double>(in[k].cpu_demand_millis);
      }
      use.allocated_cpu += std::min(std::max(min_sum, used_sum), static_cast<double>(n.spec.cpu_millis));
      // Memory pressure, as the shim reports it: a process squeezed below its
      // use for longer than the allocator allows is one the node cannot keep.
      for (ProcessId e : w.cfg.evictions ? out.evict : std::vector<ProcessId>{}) {
        for (size_t k = 0; k < in.size(); ++k) {
          if (in[k].id == e && !procs[k]->evict_sent) {
            procs[k]->evict_sent = true;
            evict.push_back(*launches[k]);
          }
        }
      }
      use.allocated_learned += std::max(part_min[0], part_used[0]);
      use.used_learned += part_used[0];
      use.allocated_fixed += std::max(part_min[1], part_used[1]);
      use.used_fixed += part_used[1];
    } else {
      for (size_t k = 0; k < in.size(); ++k) {
        SimProcess& p = *procs[k];
        const int64_t req = in[k].envelope.cpu_millis.max;
        const int64_t served = std::min(in[k].cpu_demand_millis, req);
        p.target_millis = req;
        p.demand_millis = in[k].cpu_demand_millis;
        p.used_millis = served;
        p.memory_bytes = in[k].memory_used_bytes;
        use.allocated_cpu += static_cast<double>(req);
        use.used_cpu += static_cast<double>(served);
        use.allocated_fixed += static_cast<double>(req);
        use.used_fixed += static_cast<double>(served);
        use.demand_cpu += static_cast<double>(in[k].cpu_demand_millis);
      }
    }
    if (n.conn == 0 || n.partitioned(w.now) || !w.ctl || w.now < w.paused_until) continue;
    // The summary stands for every heartbeat of the interval, each acknowledged.
    n.last_ack = std::max(n.last_ack, w.now);
    v1::ShimMessage m;
    auto* hb = m.mutable_heartbeat();
    hb->set_seq(++n.hb_seq);
    hb->set_sent_ms(w.now);
    hb->set_fenced(n.fenced);
    for (const auto& [id, p] : n.procs) *hb->add_processes() = w.info(id, p);
    w.to_controller(i, n.conn, m);
    for (const auto& id : evict) {
      v1::ShimMessage ev;
      ev.mutable_event()->set_id(id);
      ev.mutable_event()->set_kind("evict");
      ev.mutable_event()->set_message("memory pressure: the node cannot keep it");
      w.to_controller(i, n.conn, ev);
    }
  }
  if (w.ctl && w.now >= w.paused_until) {
    w.ctl->tick(w.now);
    w.touched = true;
  }
  w.controller_step();
  return use;
}

v1::ApplyResponse World::apply(const std::vector<ServiceSpec>& specs) {
  Impl& w = *impl_;
  if (!w.ctl) throw std::runtime_error("apply while the controller is down");
  auto r = w.ctl->apply_specs(specs, w.now);
  w.touched = true;
  w.controller_step();
  return r;
}

Result<uint32_t> World::stop_service(const std::string& name) {
  Impl& w = *impl_;
  if (!w.ctl) return Error{"the controller is down"};
  auto r = w.ctl->stop_service(name, w.now);
  w.touched = true;
  w.controller_step();
  return r;
}

void World::crash(size_t node) {
  Impl& w = *impl_;
  SimNode& n = w.nodes.at(node);
  if (!n.alive) return;
  w.fault_t0 = w.now;
  for (auto& [id, p] : n.procs) w.set_stopped(node, id, p, true);
  n.procs.clear();
  n.alive = false;
  w.forget_conn(n.conn);  // a power cut: the controller hears nothing
  n.conn = 0;
}

void World::partition(size_t node, int64_t for_ms) {
  Impl& w = *impl_;
  w.fault_t0 = w.now;
  w.nodes.at(node).partitioned_until = w.now + for_ms;
}

void World::slow(size_t node, int64_t extra_delay_ms, double loss, int64_t for_ms) {
  Impl& w = *impl_;
  w.fault_t0 = w.now;
  SimNode& n = w.nodes.at(node);
  n.slow_until = w.now + for_ms;
  n.slow_extra_ms = extra_delay_ms;
  n.slow_loss = loss;
}

void World::pause_controller(int64_t for_ms) {
  Impl& w = *impl_;
  w.fault_t0 = w.now;
  w.paused_until = w.now + for_ms;
}

void World::kill_controller(int64_t down_ms) {
  Impl& w = *impl_;
  if (!w.ctl) return;
  w.fault_t0 = w.now;
  w.ctl->state().processes().for_each([&](const ProcessRecord& p) { w.known_before_restart.insert(w.ctl->process_name(p.id)); });
  w.ctl.reset();
  w.events.reset();
  w.store.reset();
  ++w.counters.controller_restarts;
  w.down_until = w.now + down_ms;
  // Its streams break: each shim sees its stream close and retries until the
  // controller is back (then reconnects with a jitter).
  for (auto& n : w.nodes) {
    w.forget_conn(n.conn);
    n.conn = 0;
  }
  Event e;
  e.kind = Ev::controller_up;
  e.at = w.down_until;
  w.push(std::move(e));
}

std::vector<std::string> World::check_agreement() const {
  const Impl& w = *impl_;
  std::vector<std::string> out;
  if (!w.ctl) return out;
  const ClusterState& st = w.ctl->state();
  std::set<std::pair<std::string, std::string>> believed;  // (node, launch) the controller holds running
  st.processes().for_each([&](const ProcessRecord& r) {
    if (r.state == ProcessState::running && r.node != kNoNode) believed.insert({st.node(r.node).name, w.ctl->launch_id(r.id)});
  });
  std::set<std::pair<std::string, std::string>> actual;
  for (const auto& n : w.nodes) {
    if (!n.alive) continue;
    for (const auto& [id, p] : n.procs) {
      if (p.running) actual.insert({n.spec.name, id});
    }
  }
  for (const auto& b : believed) {
    if (!actual.count(b)) out.push_back("the controller holds " + b.second + " running on " + b.first + ", which does not run it");
  }
  for (const auto& a : actual) {
    if (believed.count(a)) continue;
    // Healthy in-between states: started but not yet reported, or stopping.
    auto id = st.find_node(a.first);
    const bool node_known_live = id && st.node(*id).health.liveness != NodeState::dead;
    if (node_known_live) out.push_back("node " + a.first + " runs " + a.second + ", which the controller does not hold running there");
  }
  return out;
}

DisruptionReport World::disruptions() const {
  const Impl& w = *impl_;
  DisruptionReport rep;
  int64_t outstanding = 0;
  for (const auto& [name, service] : w.disrupted_service) {
    ++outstanding;
    const ClusterState* st = w.ctl ? &w.ctl->state() : nullptr;
    auto sid = st ? st->find_service(service) : std::nullopt;
    if (!sid || st->service(*sid).removed) {
      ++rep.departed;
      continue;
    }
    bool pending = false;
    for (ProcessId id : st->service(*sid).processes) {
      if (w.ctl->process_name(id) == name && st->process(id).node == kNoNode) pending = true;
    }
    if (pending) {
      ++rep.unplaceable;
    } else {
      ++rep.lost;
      rep.lost_names.push_back(name);
    }
  }
  std::sort(rep.lost_names.begin(), rep.lost_names.end());
  rep.running_again = w.counters.processes_disrupted - outstanding;
  return rep;
}

}  // namespace rackos::sim

// The real controller in virtual time (see controller_sim.h).
#include "sim/controller_sim.h"

#include <map>
#include <memory>
#include <queue>
#include <random>
#include <set>

#include "controller/cluster_controller.h"
#include "controller/memory_store.h"

namespace rackos::sim {
namespace {

using controller::ClusterController;
using controller::ConnId;

std::string process_of(const std::string& launch) { return launch.substr(0, launch.rfind('.')); }

struct SimProcess {
  std::string service;
  bool at_most_one = false;
  bool running = false;
  int64_t started_at = -1;  // running from then (a start in flight until)
  int32_t pid = 0;
};

// A node's shim, speaking the node protocol as messages.
struct SimNode {
  std::string name;
  bool alive = true;
  ConnId conn = 0;          // 0: no stream
  int64_t reconnect_at = 0;
  bool registered = false;
  int64_t next_hb = 0;
  uint64_t hb_seq = 0;
  int64_t last_ack = -1;
  bool fenced = false;
  std::string cluster_id;
  uint64_t revision = 0;
  std::map<std::string, SimProcess> procs;  // by launch id
};

struct Message {
  int64_t at = 0;
  uint64_t seq = 0;
  bool to_controller = true;
  size_t node = 0;
  ConnId conn = 0;
  v1::ShimMessage up;
  v1::ControllerMessage down;
  bool close = false;
  bool operator>(const Message& o) const { return at != o.at ? at > o.at : seq > o.seq; }
};

class World {
 public:
  explicit World(const ControllerSimConfig& cfg) : cfg_(cfg), rng_(cfg.seed), store_data_(std::make_shared<controller::MemoryStoreData>()) {
    ccfg_.health.node_lease_ms = 500;
    ccfg_.health.heartbeat_ms = 100;
    ccfg_.reconnect_grace_ms = 2000;
    for (int i = 0; i < cfg.nodes; ++i) nodes_.push_back(SimNode{"n" + std::to_string(i)});
  }

  ControllerSimResult run() {
    const int64_t t0 = 1'000'000;  // virtual wall clock at the start
    start_controller(t0);
    for (now_ = t0; now_ <= t0 + cfg_.duration_ms; ++now_) {
      const int64_t t = now_ - t0;
      if (t == 200) apply_services();
      if (t == cfg_.crash_node_at_ms) crash_busiest();
      if (t == cfg_.restart_controller_at_ms) kill_controller();
      if (!ctl_ && down_until_ >= 0 && now_ >= down_until_) start_controller(now_);
      deliver();
      for (size_t i = 0; i < nodes_.size(); ++i) shim_step(i);
      controller_step();
      check();
    }
    result_.expected_at_end = expected_;
    result_.commits = static_cast<int64_t>(store_data_->commits);
    result_.running_at_end = static_cast<int64_t>(running_names().size());
    result_.processes_lost += std::max<int64_t>(0, expected_ - result_.running_at_end);
    return result_;
  }

 private:
  // ---- the controller

  void start_controller(int64_t now) {
    store_ = controller::open_memory_store(store_data_, "sim-memory");
    events_ = std::make_unique<controller::EventLog>();
    ctl_ = std::make_unique<ClusterController>(ccfg_, store_.get(), events_.get());
    auto r = ctl_->load(now);
    if (!r) throw std::runtime_error("controller load: " + r.error().message);
    if (known_before_restart_.size() > 0) {
      // Every process the store held before the kill must be there after it.
      std::set<std::string> now_known;
      const auto listed = ctl_->list_processes({});
      for (const auto& p : listed.processes()) now_known.insert(p.id());
      for (const auto& name : known_before_restart_) result_.processes_lost += now_known.count(name) == 0;
      known_before_restart_.clear();
    }
    down_until_ = -1;
    last_tick_ = now;
  }

  void kill_controller() {
    const auto listed = ctl_->list_processes({});
    for (const auto& p : listed.processes()) known_before_restart_.insert(p.id());
    ctl_.reset();
    ++result_.controller_restarts;
    down_until_ = now_ + cfg_.controller_down_ms;
    // What was in flight to it is lost; its streams break.
    std::vector<Message> keep;
    while (!queue_.empty()) {
      if (!queue_.top().to_controller) keep.push_back(queue_.top());
      queue_.pop();
    }
    for (auto& m : keep) queue_.push(std::move(m));
    for (auto& n : nodes_) drop_stream(n, 50);
  }

  void controller_step() {
    if (!ctl_) return;
    if (now_ - last_tick_ >= cfg_.tick_ms) {
      ctl_->tick(now_);
      last_tick_ = now_;
    }
    ctl_->settle(now_);
    (void)ctl_->commit();  // a failed commit is retried next step, as the daemon's loop does
    for (auto& o : ctl_->take_outbox()) {
      auto it = conn_node_.find(o.conn);
      if (it == conn_node_.end()) continue;
      Message m;
      m.at = now_ + delay();
      m.seq = ++seq_;
      m.to_controller = false;
      m.node = it->second;
      m.conn = o.conn;
      m.down = std::move(o.msg);
      m.close = o.close;
      queue_.push(std::move(m));
    }
  }

  void apply_services() {
    std::string yaml;
    for (int i = 0; i < cfg_.singletons; ++i) {
      yaml += "---\nname: one" + std::to_string(i) + "\ncommand: [sleep, '1']\ncpu: 100m:500m\nmemory: 64Mi:128Mi\n";
    }
    for (int i = 0; i < cfg_.services; ++i) {
      yaml += "---\nname: many" + std::to_string(i) + "\ncommand: [sleep, '1']\ncpu: 100m:500m\nmemory: 64Mi:128Mi\ninstances: " +
              std::to_string(cfg_.instances) + "\n";
    }
    if (yaml.empty()) return;
    auto r = ctl_->apply(yaml, now_);
    if (r.errors_size() > 0) throw std::runtime_error("apply: " + r.errors(0));
    expected_ = cfg_.singletons + static_cast<int64_t>(cfg_.services) * cfg_.instances;
  }

  // ---- the network

  int64_t delay() { return cfg_.net_delay_ms + static_cast<int64_t>(rng_() % static_cast<uint64_t>(cfg_.net_delay_ms + 1)); }

  void send_up(size_t node, v1::ShimMessage m) {
    Message msg;
    msg.at = now_ + delay();
    msg.seq = ++seq_;
    msg.node = node;
    msg.conn = nodes_[node].conn;
    msg.up = std::move(m);
    queue_.push(std::move(msg));
  }

  void deliver() {
    while (!queue_.empty() && queue_.top().at <= now_) {
      Message m = queue_.top();
      queue_.pop();
      ++result_.messages;
      SimNode& n = nodes_[m.node];
      if (m.to_controller) {
        if (ctl_ && n.alive && n.conn == m.conn) ctl_->on_shim_message(m.conn, m.up, now_);
        continue;
      }
      if (!n.alive || n.conn != m.conn) continue;
      on_controller_message(m.node, m.down);
      if (m.close) drop_stream(n, 50);
    }
  }

  void drop_stream(SimNode& n, int64_t after_ms) {
    if (n.conn != 0) {
      conn_node_.erase(n.conn);
      if (ctl_) ctl_->on_disconnect(n.conn, now_);
    }
    n.conn = 0;
    n.registered = false;
    n.reconnect_at = now_ + after_ms;
  }

  // ---- the shims

  v1::ShimMessage event(const std::string& id, const std::string& kind, bool stop_requested = false, int32_t pid = 0) {
    v1::ShimMessage m;
    auto* e = m.mutable_event();
    e->set_id(id);
    e->set_kind(kind);
    e->set_pid(pid);
    if (kind == "exited") e->mutable_exit()->set_stop_requested(stop_requested);
    if (kind == "exited" && !stop_requested) e->mutable_exit()->set_signal(9);
    return m;
  }

  void shim_step(size_t i) {
    SimNode& n = nodes_[i];
    if (!n.alive) return;
    // Starts finishing.
    for (auto& [id, p] : n.procs) {
      if (!p.running && p.started_at >= 0 && now_ >= p.started_at) {
        p.running = true;
        p.started_at = -1;
        if (n.registered) send_up(i, event(id, "started", false, p.pid));
      }
    }
    // The lease, as the monitors enforce it: a fifth of the lease early.
    if (n.last_ack >= 0 && !n.fenced && now_ - n.last_ack >= ccfg_.health.node_lease_ms * 4 / 5) {
      n.fenced = true;
      for (auto& [id, p] : n.procs) {
        if (p.at_most_one && p.running) {
          p.running = false;
          if (n.registered) send_up(i, event(id, "exited"));
        }
      }
    }
    if (n.conn == 0 && ctl_ && now_ >= n.reconnect_at) connect(i);
    if (n.registered && now_ >= n.next_hb) {
      v1::ShimMessage m;
      m.mutable_heartbeat()->set_seq(++n.hb_seq);
      m.mutable_heartbeat()->set_sent_ms(now_);
      m.mutable_heartbeat()->set_fenced(n.fenced);
      send_up(i, std::move(m));
      n.next_hb = now_ + ccfg_.health.heartbeat_ms;
    }
  }

  void connect(size_t i) {
    SimNode& n = nodes_[i];
    n.conn = ++next_conn_;
    conn_node_[n.conn] = i;
    v1::ShimMessage m;
    auto* r = m.mutable_register_();
    r->set_wire_version(1);
    r->set_node(n.name);
    r->set_cpu_millis(cfg_.node_cpu_millis);
    r->set_memory_bytes(cfg_.node_memory_bytes);
    r->set_cluster_id(n.cluster_id);
    r->set_store_revision(n.revision);
    for (const auto& [id, p] : n.procs) {
      auto* pi = r->add_running();
      pi->set_id(id);
      pi->set_service(p.service);
      pi->set_state(p.running ? v1::RUNNING : v1::EXITED);
      pi->set_pid(p.pid);
      if (!p.running) pi->mutable_exit()->set_signal(9);
    }
    send_up(i, std::move(m));
    n.registered = true;
    n.next_hb = now_;
  }

  void on_controller_message(size_t i, const v1::ControllerMessage& m) {
    SimNode& n = nodes_[i];
    if (m.has_ack()) {
      n.last_ack = std::max(n.last_ack, m.ack().sent_ms());
      n.revision = std::max(n.revision, m.ack().store_revision());
      n.fenced = false;
    } else if (m.has_registered()) {
      n.cluster_id = m.registered().cluster_id();
      n.revision = m.registered().store_revision();
      for (const auto& id : m.registered().stop()) stop(i, id);
      for (const auto& id : m.registered().forget()) {
        if (auto it = n.procs.find(id); it != n.procs.end() && !it->second.running) n.procs.erase(it);
      }
    } else if (m.has_start()) {
      const auto& s = m.start();
      if (auto it = n.procs.find(s.id()); it != n.procs.end()) {
        send_up(i, it->second.running ? event(s.id(), "started", false, it->second.pid) : event(s.id(), "exited"));
        return;
      }
      const bool amo = s.on_partition() == "stop";
      if (n.fenced && amo) {
        send_up(i, event(s.id(), "start_failed"));
        return;
      }
      SimProcess p;
      p.service = s.service();
      p.at_most_one = amo;
      p.started_at = now_ + cfg_.start_latency_ms;
      p.pid = static_cast<int32_t>(++next_pid_);
      n.procs[s.id()] = p;
    } else if (m.has_stop()) {
      stop(i, m.stop().id());
    } else if (m.has_refused()) {
      drop_stream(n, m.refused().find("declared dead") != std::string::npos ? 0 : 5000);
    }
  }

  void stop(size_t i, const std::string& id) {
    SimNode& n = nodes_[i];
    auto it = n.procs.find(id);
    if (it == n.procs.end()) {
      send_up(i, event(id, "exited", true));
      return;
    }
    it->second.running = false;
    it->second.started_at = -1;
    send_up(i, event(id, "exited", true));
  }

  // ---- faults

  void crash_busiest() {
    size_t best = 0;
    size_t most = 0;
    for (size_t i = 0; i < nodes_.size(); ++i) {
      size_t running = 0;
      for (const auto& [id, p] : nodes_[i].procs) running += p.running;
      if (nodes_[i].alive && running > most) {
        most = running;
        best = i;
      }
    }
    SimNode& n = nodes_[best];
    n.alive = false;
    n.procs.clear();
    if (n.conn != 0) conn_node_.erase(n.conn);
    n.conn = 0;
    crashed_at_ = now_;
  }

  // ---- invariants

  std::set<std::string> running_names() const {
    std::set<std::string> out;
    for (const auto& n : nodes_) {
      if (!n.alive) continue;
      for (const auto& [id, p] : n.procs) {
        if (p.running) out.insert(process_of(id));
      }
    }
    return out;
  }

  void check() {
    std::map<std::string, int> copies;
    for (const auto& n : nodes_) {
      if (!n.alive) continue;
      for (const auto& [id, p] : n.procs) {
        if (p.running && p.at_most_one) ++copies[process_of(id)];
      }
    }
    for (const auto& [name, c] : copies) result_.processes_doubled += c > 1;
    if (crashed_at_ >= 0 && result_.recovery_ms < 0 && expected_ > 0 &&
        static_cast<int64_t>(running_names().size()) >= expected_) {
      result_.recovery_ms = now_ - crashed_at_;
    }
  }

  ControllerSimConfig cfg_;
  controller::ControllerConfig ccfg_;
  std::mt19937_64 rng_;
  std::shared_ptr<controller::MemoryStoreData> store_data_;
  std::unique_ptr<controller::Store> store_;
  std::unique_ptr<controller::EventLog> events_;
  std::unique_ptr<ClusterController> ctl_;
  std::vector<SimNode> nodes_;
  std::map<ConnId, size_t> conn_node_;
  std::priority_queue<Message, std::vector<Message>, std::greater<Message>> queue_;
  uint64_t seq_ = 0;
  ConnId next_conn_ = 0;
  uint64_t next_pid_ = 1000;
  int64_t now_ = 0;
  int64_t last_tick_ = 0;
  int64_t down_until_ = -1;
  int64_t crashed_at_ = -1;
  int64_t expected_ = 0;
  std::set<std::string> known_before_restart_;
  ControllerSimResult result_;
};

}  // namespace

ControllerSimResult run_controller_sim(const ControllerSimConfig& cfg) {
  World w(cfg);
  return w.run();
}

}  // namespace rackos::sim

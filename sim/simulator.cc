// The simulation loop (see simulator.h).
#include "sim/simulator.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>

#include "core/allocator.h"
#include "core/cluster_state.h"
#include "core/instance_scaling.h"
#include "core/reschedule_order.h"
#include "core/scheduler.h"

namespace rackos::sim {

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size()))) ;
  return v[std::min(v.size() - 1, i == 0 ? 0 : i - 1)];
}

namespace {

struct Rng {
  std::mt19937_64 g;
  explicit Rng(uint64_t seed) : g(seed) {}
  int64_t uniform(int64_t lo, int64_t hi) { return hi <= lo ? lo : lo + static_cast<int64_t>(g() % static_cast<uint64_t>(hi - lo + 1)); }
  double unit() { return static_cast<double>(g() >> 11) / 9007199254740992.0; }
};

struct Task {
  size_t pod = 0;
  ServiceId service = kNoService;
  ProcessId process;
  size_t series = 0;
  int64_t arrive_ms = 0;
  int64_t leave_ms = 0;          // INT64_MAX: stays
  bool ever_placed = false;
  bool gone = false;
  std::string last_reason;       // why the scheduler last could not place it
};

class Simulation {
 public:
  explicit Simulation(const SimConfig& cfg) : cfg_(cfg), rng_(cfg.seed) {}

  Result<SimResult> run() {
    if (cfg_.usage.series.empty()) return Error{"no usage series"};
    if (cfg_.step_s <= 0) return Error{"step must be positive"};
    if (auto r = build_nodes(); !r) return r.error();
    if (auto r = build_tasks(); !r) return r.error();
    const int64_t start_ms = cfg_.start_s * 1000, end_ms = (cfg_.start_s + cfg_.duration_s) * 1000;
    const int64_t fault_ms = start_ms + static_cast<int64_t>(static_cast<double>(end_ms - start_ms) * cfg_.faults.at_fraction);
    const FaultPlan& fp = cfg_.faults;
    bool faults_done = fp.fail_nodes == 0 && !fp.fail_rack && fp.partition_nodes == 0 && fp.slow_nodes == 0 &&
                       fp.controller_pause_ms == 0;
    size_t next_arrival = 0;
    int64_t step = 0;
    for (int64_t t = start_ms; t < end_ms; t += cfg_.step_s * 1000, ++step) {
      const int64_t step_end = std::min(end_ms, t + cfg_.step_s * 1000);
      // Departures, then arrivals, up to now.
      for (auto& task : tasks_) {
        if (!task.gone && task.process.valid() && task.leave_ms <= t) depart(task, t);
      }
      // Arrivals within this step are placed at its start (a task shorter
      // than a step is still placed, and counted for the whole step).
      std::vector<ProcessId> pending;
      while (next_arrival < by_arrival_.size() && tasks_[by_arrival_[next_arrival]].arrive_ms < step_end) {
        Task& task = tasks_[by_arrival_[next_arrival++]];
        task.process = st_.create_process(task.service, task.arrive_ms);
      }
      for (auto& task : tasks_) {
        if (!task.gone && task.process.valid() && st_.process(task.process).node == kNoNode) pending.push_back(task.process);
      }
      place(pending, t, false);
      if (!faults_done && fault_ms < step_end) {
        inject_faults(fault_ms, step);
        faults_done = true;
      }
      account(t, step_end);
      if (!cfg_.baseline) apply_instance_rule(step_end);
      if (cfg_.check_every_step) {
        std::string broken = st_.check_invariants();
        if (!broken.empty()) violate(step, broken);
        size_t live = 0;
        for (const auto& task : tasks_) live += (!task.gone && task.process.valid());
        if (live != st_.processes().size()) violate(step, "table holds " + std::to_string(st_.processes().size()) + " processes, " + std::to_string(live) + " tasks are live");
      }
    }
    finish();
    return std::move(res_);
  }

 private:
  void violate(int64_t step, const std::string& what) {
    res_.violations.push_back("seed " + std::to_string(cfg_.seed) + " step " + std::to_string(step) + ": " + what);
  }

  Result<bool> build_nodes() {
    std::vector<size_t> order(cfg_.machines.size());
    std::iota(order.begin(), order.end(), size_t{0});
    if (cfg_.node_limit > 0 && cfg_.node_limit < order.size()) {
      std::mt19937_64 shuffle_rng(cfg_.seed ^ 0x5eedull);
      std::shuffle(order.begin(), order.end(), shuffle_rng);
      order.resize(cfg_.node_limit);
      std::sort(order.begin(), order.end());
    }
    for (size_t i : order) {
      const TraceMachine& m = cfg_.machines[i];
      NodeSpec n;
      n.name = m.name;
      n.cpu_millis = m.cpu_millis;
      n.memory_bytes = m.memory_bytes;
      if (m.gpus > 0) n.resources["gpu_milli"] = m.gpus * 1000;
      n.labels["rack"] = "rack-" + std::to_string(i / static_cast<size_t>(std::max(1, cfg_.nodes_per_rack)));
      auto r = st_.add_node(n, cfg_.start_s * 1000);
      if (!r) return r.error();
    }
    res_.nodes = static_cast<int>(st_.node_count());
    return true;
  }

  Result<bool> build_tasks() {
    const int64_t start = cfg_.start_s, end = cfg_.start_s + cfg_.duration_s;
    for (size_t i = 0; i < cfg_.pods.size(); ++i) {
      const TracePod& p = cfg_.pods[i];
      const bool stays = p.deletion_s == 0;
      if (p.creation_s >= end || (!stays && p.deletion_s <= start)) continue;
      ServiceSpec spec = map_pod(p, cfg_.mapping, cfg_.baseline);
      if (st_.find_service(spec.name)) spec.name += "-" + std::to_string(i);  // duplicate task names
      auto sid = st_.add_service(spec);
      if (!sid) return Error{"task " + p.name + ": " + sid.error().message};
      Task t;
      t.pod = i;
      t.service = *sid;
      t.series = series_for(p.name, cfg_.seed, cfg_.usage.series.size());
      t.arrive_ms = std::max(p.creation_s, start) * 1000;
      t.leave_ms = stays ? INT64_MAX : p.deletion_s * 1000;
      tasks_.push_back(t);
    }
    res_.tasks = tasks_.size();
    by_arrival_.resize(tasks_.size());
    std::iota(by_arrival_.begin(), by_arrival_.end(), size_t{0});
    std::stable_sort(by_arrival_.begin(), by_arrival_.end(),
                     [&](size_t a, size_t b) { return tasks_[a].arrive_ms < tasks_[b].arrive_ms; });
    for (size_t k = 0; k < tasks_.size(); ++k) task_of_service_[tasks_[k].service] = k;
    return true;
  }

  void depart(Task& task, int64_t now) {
    (void)now;
    st_.remove_process(task.process);
    task.process = ProcessId{};
    task.gone = true;
  }

  PlacementPlan place(const std::vector<ProcessId>& pending, int64_t now, bool recovery) {
    if (pending.empty()) return {};
    SchedulerConfig sc;
    sc.now_ms = now;
    auto plan = schedule(st_, pending, sc);
    res_.sched_ms.push_back(static_cast<double>(pending.size()) / cfg_.placements_per_ms);
    for (const auto& pl : plan.placements) {
      Task& t = tasks_[task_of_service_.at(st_.process(pl.process).service)];
      t.ever_placed = true;
      st_.set_state(pl.process, ProcessState::running, now);
    }
    for (const auto& u : plan.unplaceable) {
      if (const ProcessRecord* r = st_.processes().find(u.process)) tasks_[task_of_service_.at(r->service)].last_reason = u.reason;
    }
    (void)recovery;
    return plan;
  }

  // Which processes of the node are at-most-one (on_partition: stop).
  static bool at_most_one(const ClusterState& st, ProcessId p) {
    return st.service(st.process(p).service).spec.effective_on_partition() == OnPartition::stop;
  }

  void inject_faults(int64_t t_fail, int64_t step) {
    // Nodes that run processes right now, in id order, then a seeded pick.
    std::vector<NodeId> busy;
    for (const Node& n : st_.nodes()) {
      if (!n.processes.empty() && n.health.liveness == NodeState::ready) busy.push_back(n.id);
    }
    std::vector<NodeId> crash, cut;
    std::vector<NodeId> pool = busy;
    std::shuffle(pool.begin(), pool.end(), rng_.g);
    size_t k = std::min<size_t>(static_cast<size_t>(std::max(0, cfg_.faults.fail_nodes)), pool.size());
    crash.assign(pool.begin(), pool.begin() + static_cast<std::ptrdiff_t>(k));
    if (cfg_.faults.fail_rack) {
      std::map<std::string, size_t> per_rack;
      for (const Node& n : st_.nodes()) per_rack[*n.label("rack")] += n.processes.size();
      std::string worst;
      size_t most = 0;
      for (const auto& [rack, count] : per_rack) {
        if (count > most) {
          most = count;
          worst = rack;
        }
      }
      for (const Node& n : st_.nodes()) {
        if (*n.label("rack") == worst && std::find(crash.begin(), crash.end(), n.id) == crash.end()) crash.push_back(n.id);
      }
      res_.events.push_back({static_cast<double>(t_fail) / 1000.0, "rack " + worst + " fails (" + std::to_string(most) + " processes)"});
    }
    size_t kp = std::min<size_t>(static_cast<size_t>(std::max(0, cfg_.faults.partition_nodes)), pool.size() - k);
    cut.assign(pool.begin() + static_cast<std::ptrdiff_t>(k), pool.begin() + static_cast<std::ptrdiff_t>(k + kp));
    if (!crash.empty()) res_.events.push_back({static_cast<double>(t_fail) / 1000.0, std::to_string(crash.size()) + " nodes crash"});
    if (!cut.empty()) res_.events.push_back({static_cast<double>(t_fail) / 1000.0, std::to_string(cut.size()) + " nodes partitioned"});

    struct Down {
      NodeId node;
      int64_t dead_ms;    // when the controller declares it dead
      int64_t fence_ms;   // partition: when its shim has stopped at-most-one processes (INT64_MAX: crash)
    };
    std::vector<Down> downs;
    auto detect = [&](NodeId n, int64_t last_sent) {
      if (cfg_.baseline) return t_fail + cfg_.baseline_detect_ms;
      NodeHealth h = st_.node(n).health;
      h.last_heartbeat_ms = last_sent + rng_.uniform(0, cfg_.net_delay_ms_max);
      // The controller's loop ticks every controller_tick_ms; the core state
      // machine decides when the lease has run out.
      int64_t tick = (t_fail / cfg_.controller_tick_ms + 1) * cfg_.controller_tick_ms;
      for (int guard = 0; guard < 1'000'000; ++guard, tick += cfg_.controller_tick_ms) {
        if (on_tick(h, tick, cfg_.health) == HealthEvent::became_dead) return tick;
      }
      return tick;
    };
    for (NodeId n : crash) {
      int64_t last_sent = t_fail - rng_.uniform(0, cfg_.health.heartbeat_ms - 1);
      downs.push_back({n, detect(n, last_sent), INT64_MAX});
    }
    for (NodeId n : cut) {
      int64_t last_sent = t_fail - rng_.uniform(0, cfg_.health.heartbeat_ms - 1);
      // The shim counts its lease from the send time of the last heartbeat
      // the controller acknowledged, so it always fences before the
      // controller (which counts from receipt) declares it dead.
      int64_t fence = last_sent + cfg_.health.node_lease_ms;
      downs.push_back({n, detect(n, last_sent), fence});
    }
    std::sort(downs.begin(), downs.end(), [](const Down& a, const Down& b) {
      return a.dead_ms != b.dead_ms ? a.dead_ms < b.dead_ms : a.node < b.node;
    });
    for (const Down& d : downs) recover_node(d.node, t_fail, d.dead_ms, d.fence_ms, step);
    inject_slow_heartbeats(t_fail, step, pool, k + kp);
    inject_controller_pause(t_fail, step);
    res_.events.push_back({static_cast<double>(t_fail) / 1000.0, "recovery done"});
  }

  // Heartbeats of some live nodes turn slow and lossy for a while. The
  // controller's core state machine sees them heartbeat by heartbeat; a node it
  // declares dead has its processes placed elsewhere, while its shim — counting
  // its lease from the send time of the last acknowledged heartbeat — has
  // fenced before that. When heartbeats recover the node registers again
  // (fenced → ready, emptied).
  void inject_slow_heartbeats(int64_t t0, int64_t step, const std::vector<NodeId>& pool, size_t used) {
    const FaultPlan& fp = cfg_.faults;
    size_t ks = std::min<size_t>(static_cast<size_t>(std::max(0, fp.slow_nodes)), pool.size() - std::min(used, pool.size()));
    if (ks == 0) return;
    res_.events.push_back({static_cast<double>(t0) / 1000.0, std::to_string(ks) + " nodes with slow heartbeats"});
    const int64_t hb = cfg_.health.heartbeat_ms, lease = cfg_.health.node_lease_ms;
    for (size_t i = 0; i < ks; ++i) {
      NodeId n = pool[used + i];
      if (st_.node(n).health.liveness != NodeState::ready) continue;
      // Heartbeats from t0 (random phase) until the slow period ends.
      struct Beat {
        int64_t sent, arrives;  // arrives: INT64_MAX when lost
      };
      std::vector<Beat> beats;
      int64_t first = t0 + rng_.uniform(0, hb - 1);
      for (int64_t t = first; t < t0 + fp.slow_for_ms; t += hb) {
        bool lost = rng_.unit() < fp.slow_loss;
        beats.push_back({t, lost ? INT64_MAX : t + fp.slow_delay_ms + rng_.uniform(0, cfg_.net_delay_ms_max)});
      }
      NodeHealth h = st_.node(n).health;
      h.last_heartbeat_ms = t0 - rng_.uniform(0, hb - 1);
      int64_t last_acked_sent = h.last_heartbeat_ms;  // the shim's lease anchor
      int64_t dead_at = -1;
      size_t next = 0;
      std::vector<Beat> by_arrival = beats;
      std::sort(by_arrival.begin(), by_arrival.end(), [](const Beat& a, const Beat& b) { return a.arrives < b.arrives; });
      int64_t fence_at = INT64_MAX;
      for (int64_t tick = t0; tick < t0 + fp.slow_for_ms + lease; tick += cfg_.controller_tick_ms) {
        while (next < by_arrival.size() && by_arrival[next].arrives <= tick) {
          on_heartbeat(h, by_arrival[next].arrives);
          // Its acknowledgement travels back as slowly (and is not lost here).
          int64_t ack_back = by_arrival[next].arrives + fp.slow_delay_ms;
          if (ack_back < fence_at) last_acked_sent = std::max(last_acked_sent, by_arrival[next].sent);
          ++next;
        }
        if (fence_at == INT64_MAX && tick >= last_acked_sent + lease) fence_at = last_acked_sent + lease;
        if (on_tick(h, tick, cfg_.health) == HealthEvent::became_dead) {
          dead_at = tick;
          break;
        }
      }
      if (dead_at < 0) continue;  // slow, perhaps suspect, never dead: nothing moves
      ++res_.false_deaths;
      if (fence_at == INT64_MAX || fence_at > dead_at) {
        violate(step, "node " + st_.node(n).name + " declared dead at " + std::to_string(dead_at) +
                          " ms before its shim fenced");
      }
      recover_node(n, t0, dead_at, std::min(fence_at, dead_at), step);
      // Heartbeats come back: the node registers again, fenced until its shim
      // has reconciled (stopped what was placed elsewhere), then ready.
      NodeHealth back = st_.node(n).health;
      int64_t t_back = t0 + fp.slow_for_ms;
      on_register(back, t_back);
      on_reconciled(back, t_back + cfg_.health.heartbeat_ms);
      st_.update_health(n, back);
    }
  }

  // The controller is away (an unplanned failover). A new controller grants
  // every node a fresh lease at takeover. Shims whose lease ran out meanwhile
  // have fenced: their at-most-one processes stopped, and are started again
  // on the same node once acknowledgements resume.
  void inject_controller_pause(int64_t t0, int64_t step) {
    const int64_t pause = cfg_.faults.controller_pause_ms;
    if (pause <= 0) return;
    (void)step;
    res_.events.push_back({static_cast<double>(t0) / 1000.0, "controller away for " + std::to_string(pause) + " ms"});
    const int64_t hb = cfg_.health.heartbeat_ms, lease = cfg_.health.node_lease_ms;
    const int64_t back = t0 + pause;
    for (const Node& n : st_.nodes()) {
      if (n.health.liveness != NodeState::ready || n.processes.empty()) continue;
      int64_t last_acked_sent = t0 - rng_.uniform(0, hb - 1);
      int64_t fence = last_acked_sent + lease;
      // First acknowledgement after takeover: the next heartbeat, there and back.
      int64_t ack = back + rng_.uniform(0, hb - 1) + 2 * rng_.uniform(0, cfg_.net_delay_ms_max);
      if (fence >= ack) continue;  // acknowledged in time: nothing stops
      int64_t last_running = ack;
      size_t stopped = 0;
      for (ProcessId p : n.processes) {
        if (!at_most_one(st_, p)) continue;
        ++stopped;
        last_running = std::max(last_running, ack + rng_.uniform(cfg_.start_latency_ms_min, cfg_.start_latency_ms_max));
      }
      if (stopped == 0) continue;
      res_.fenced_stops += stopped;
      res_.recovery_ms.push_back(static_cast<double>(last_running - t0));
    }
  }


  // The controller declares `node` dead at dead_ms: its processes are lost and
  // placed again by the real scheduler; each runs after the scheduling time,
  // a network delay and its start latency. fence_ms: when the node's shim
  // stopped its at-most-one processes (INT64_MAX: the node crashed).
  void recover_node(NodeId node, int64_t t_fail, int64_t dead_ms, int64_t fence_ms, int64_t step) {
    NodeHealth h = st_.node(node).health;
    h.liveness = NodeState::dead;
    h.state_since_ms = dead_ms;
    st_.update_health(node, h);
    std::vector<ProcessId> lost = take_lost_processes(st_, node, dead_ms);
    std::vector<bool> singleton(lost.size());
    for (size_t i = 0; i < lost.size(); ++i) singleton[i] = at_most_one(st_, lost[i]);
    res_.lost += lost.size();
    const int64_t sched_ms = static_cast<int64_t>(std::ceil(static_cast<double>(lost.size()) / cfg_.placements_per_ms));
    auto plan = place(lost, dead_ms, true);
    int64_t last_running = dead_ms;
    for (const auto& pl : plan.placements) {
      auto it = std::find(lost.begin(), lost.end(), pl.process);
      if (it == lost.end()) continue;  // a preempted victim placed again: not one of this node's
      int64_t running = dead_ms + sched_ms + rng_.uniform(0, cfg_.net_delay_ms_max) +
                        rng_.uniform(cfg_.start_latency_ms_min, cfg_.start_latency_ms_max);
      last_running = std::max(last_running, running);
      ++res_.rescheduled;
      size_t idx = static_cast<size_t>(it - lost.begin());
      if (singleton[idx] && fence_ms != INT64_MAX && running <= fence_ms) {
        violate(step, "process of " + st_.service(st_.process(pl.process).service).spec.name +
                          " runs twice: new copy at " + std::to_string(running) + " ms, old one fenced at " +
                          std::to_string(fence_ms) + " ms");
      }
    }
    for (const auto& u : plan.unplaceable) {
      if (std::find(lost.begin(), lost.end(), u.process) == lost.end()) continue;
      ++res_.lost_unplaceable;
      if (u.reason.empty()) violate(step, "a lost process is unplaceable with no reason");
    }
    for (const auto& pre : plan.preemptions) {
      ++res_.lost;  // a victim is lost too, and placed again or reported
      (void)pre;
    }
    // Every lost process is running again or reported unplaceable.
    size_t accounted = 0;
    for (ProcessId p : lost) {
      const ProcessRecord* r = st_.processes().find(p);
      if (r == nullptr) continue;
      if (r->node != kNoNode) ++accounted;
      else if (std::any_of(plan.unplaceable.begin(), plan.unplaceable.end(), [&](const Unplaceable& u) { return u.process == p; })) ++accounted;
    }
    if (accounted != lost.size()) violate(step, "a lost process was neither rescheduled nor reported unplaceable");
    if (!lost.empty()) res_.recovery_ms.push_back(static_cast<double>(last_running - t_fail));
  }

  // The core instance rule on what the allocator just gave each process: a
  // process that has wanted more than its node gives for long enough is moved
  // to a node with room (every trace task is one process), never by
  // preemption; with no such node it stays where it is.
  void apply_instance_rule(int64_t now) {
    for (size_t k = 0; k < tasks_.size(); ++k) {
      Task& task = tasks_[k];
      if (task.gone || !task.process.valid()) continue;
      const ProcessRecord& r = st_.process(task.process);
      if (r.node == kNoNode) continue;
      auto it = last_load_.find(task.process.value);
      if (it == last_load_.end()) continue;
      InstanceLoad load{task.process, it->second.first, it->second.second, r.created_ms};
      const ServiceSpec& spec = st_.service(task.service).spec;
      ScalingDecision d = decide_scaling(spec, std::span<const InstanceLoad>(&load, 1), scaling_[k], now, ScalingConfig{});
      if (d.action != ScalingAction::move) continue;
      const NodeId from = r.node;
      st_.unbind(task.process);
      SchedulerConfig sc;
      sc.now_ms = now;
      sc.preemption = false;
      sc.avoid = {{task.process, from}};
      std::vector<ProcessId> one{task.process};
      auto plan = schedule(st_, one, sc);
      if (plan.placements.empty()) {
        st_.bind(task.process, from);  // nowhere better: it never stopped
      } else {
        ++res_.moves;
        alloc_state_.erase(task.process.value);
      }
      last_load_.erase(task.process.value);
    }
  }

  void account(int64_t t0, int64_t t1) {
    const double dt = static_cast<double>(t1 - t0) / 1000.0;
    const double t_s = static_cast<double>(t0) / 1000.0;
    SimSample s;
    s.t_s = t_s;
    for (const Node& n : st_.nodes()) {
      if (n.health.liveness == NodeState::dead) continue;
      s.capacity_cpu += static_cast<double>(n.capacity.cpu_millis);
      if (n.processes.empty()) continue;
      std::vector<AllocInput> in;
      in.reserve(n.processes.size());
      std::vector<int64_t> demand(n.processes.size());
      for (size_t i = 0; i < n.processes.size(); ++i) {
        const ProcessRecord& r = st_.process(n.processes[i]);
        const Task& task = tasks_[task_of_service_.at(r.service)];
        const TracePod& pod = cfg_.pods[task.pod];
        const Service& svc = st_.service(r.service);
        double u = usage_at(cfg_.usage.series[task.series], cfg_.usage.interval_s, t_s);
        demand[i] = static_cast<int64_t>(std::llround(static_cast<double>(pod.cpu_millis) * u * cfg_.mapping.demand_scale));
        AllocInput a;
        a.id = n.processes[i];
        a.priority = svc.spec.priority;
        a.envelope = svc.spec.envelope;
        a.cpu_demand_millis = demand[i];
        a.cpu_used_millis = std::min(demand[i], svc.spec.envelope.cpu_millis.max);
        a.memory_used_bytes = static_cast<int64_t>(static_cast<double>(pod.memory_bytes) *
                                                   (cfg_.mapping.memory_base + (1 - cfg_.mapping.memory_base) * u));
        a.created_ms = r.created_ms;
        a.state = alloc_state_[r.id.value];
        in.push_back(a);
      }
      if (cfg_.baseline) {
        for (size_t i = 0; i < in.size(); ++i) {
          const int64_t req = in[i].envelope.cpu_millis.max;
          s.allocated_cpu += static_cast<double>(req);
          s.used_cpu += static_cast<double>(std::min(demand[i], req));
          s.demand_cpu += static_cast<double>(demand[i]);
        }
        continue;
      }
      NodeAllocation out = allocate_node(n.capacity.cpu_millis, n.capacity.memory_bytes, in, t0, AllocatorConfig{});
      for (size_t i = 0; i < in.size(); ++i) {
        const Allocation& a = out.processes[i];
        alloc_state_[a.id.value] = a.state;
        last_load_[a.id.value] = {demand[i], a.cpu_target_millis};
        const int64_t served = std::min(demand[i], a.cpu_target_millis);
        s.allocated_cpu += static_cast<double>(std::max(in[i].envelope.cpu_millis.min, a.cpu_target_millis));
        s.used_cpu += static_cast<double>(served);
        s.demand_cpu += static_cast<double>(demand[i]);
      }
    }
    sum_capacity_ += s.capacity_cpu * dt;
    sum_allocated_ += s.allocated_cpu * dt;
    sum_used_ += s.used_cpu * dt;
    sum_demand_ += s.demand_cpu * dt;
    if (cfg_.keep_series) res_.series.push_back(s);
  }

  void finish() {
    for (const auto& t : tasks_) {
      res_.placed += t.ever_placed;
      res_.unplaceable += !t.ever_placed;
      if (!t.ever_placed) {
        res_.never_placed.push_back(st_.service(t.service).spec.name);
        ++res_.unplaceable_reasons[t.last_reason.empty() ? "left before a placement" : t.last_reason];
      }
    }
    std::sort(res_.never_placed.begin(), res_.never_placed.end());
    res_.slack_percent = sum_allocated_ > 0 ? 100.0 * (sum_allocated_ - sum_used_) / sum_allocated_ : 0;
    res_.unserved_percent = sum_demand_ > 0 ? 100.0 * (sum_demand_ - sum_used_) / sum_demand_ : 0;
    res_.utilization_percent = sum_capacity_ > 0 ? 100.0 * sum_used_ / sum_capacity_ : 0;
    res_.allocation_percent = sum_capacity_ > 0 ? 100.0 * sum_allocated_ / sum_capacity_ : 0;
  }

  const SimConfig& cfg_;
  Rng rng_;
  ClusterState st_;
  std::vector<Task> tasks_;
  std::vector<size_t> by_arrival_;
  std::map<ServiceId, size_t> task_of_service_;
  std::map<uint64_t, AllocState> alloc_state_;
  std::map<uint64_t, std::pair<int64_t, int64_t>> last_load_;  // process → (demand, target) last step
  std::map<size_t, ScalingState> scaling_;                      // task → instance rule state
  double sum_capacity_ = 0, sum_allocated_ = 0, sum_used_ = 0, sum_demand_ = 0;
  SimResult res_;
};

}  // namespace

Result<SimResult> run_simulation(const SimConfig& cfg) { return Simulation(cfg).run(); }

std::vector<TraceMachine> synthetic_machines(int count, uint64_t seed) {
  Rng rng(seed);
  std::vector<TraceMachine> out;
  const int64_t cores[] = {32, 64, 96, 128};
  for (int i = 0; i < count; ++i) {
    int64_t c = cores[rng.g() % 4];
    out.push_back({"node-" + std::to_string(i), c * 1000, c * 4 * (int64_t{1} << 30), 0, ""});
  }
  return out;
}

std::vector<TracePod> synthetic_pods(size_t count, int64_t start_s, int64_t duration_s, uint64_t seed) {
  Rng rng(seed ^ 0x90d5ull);
  std::vector<TracePod> out;
  out.reserve(count);
  const char* qos[] = {"LS", "Burstable", "Burstable", "BE"};
  for (size_t i = 0; i < count; ++i) {
    TracePod p;
    p.name = "task-" + std::to_string(i);
    p.cpu_millis = 100 * rng.uniform(1, 40);
    p.memory_bytes = (int64_t{256} << 20) * rng.uniform(1, 32);
    p.qos = qos[rng.g() % 4];
    // Half run from before the window; the rest arrive during it.
    p.creation_s = rng.unit() < 0.5 ? start_s - rng.uniform(1, 86'400) : start_s + rng.uniform(0, duration_s - 1);
    double life = -std::log(1.0 - rng.unit()) * static_cast<double>(duration_s);  // exponential, mean = window
    p.deletion_s = rng.unit() < 0.3 ? 0 : p.creation_s + 1 + static_cast<int64_t>(life);
    out.push_back(p);
  }
  return out;
}

UsageTable synthetic_usage(size_t series, uint64_t seed) {
  Rng rng(seed ^ 0x05a9eull);
  UsageTable u;
  u.interval_s = 300;
  const double pi = 3.14159265358979323846;
  for (size_t s = 0; s < series; ++s) {
    UsageSeries us;
    us.name = "synthetic-" + std::to_string(s);
    double base = 10 + 30 * rng.unit(), amp = 5 + 25 * rng.unit(), phase = rng.unit() * 2 * pi;
    int64_t jump_at = rng.uniform(0, 287);
    double jump = rng.unit() < 0.3 ? 20 * rng.unit() : 0;
    for (int k = 0; k < 288; ++k) {
      double v = base + amp * std::sin(2 * pi * k / 288.0 + phase) + (k >= jump_at ? jump : 0) + 6 * (rng.unit() - 0.5);
      us.percent.push_back(static_cast<uint8_t>(std::clamp(v, 0.0, 100.0)));
    }
    u.series.push_back(std::move(us));
  }
  return u;
}

}  // namespace rackos::sim

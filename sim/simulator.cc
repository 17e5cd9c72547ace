// The simulation loop (see simulator.h): the trace as clients and usage, the
// real controller in sim/sim_world, faults at their instants.
#include "sim/simulator.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>
#include <unordered_map>

#include "sim/sim_world.h"

namespace rackos::sim {

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size()))) ;
  return v[std::min(v.size() - 1, i == 0 ? 0 : i - 1)];
}

namespace {
long rss() { FILE* f = fopen("/proc/self/statm", "r"); long a=0,b=0; if (fscanf(f, "%ld %ld", &a, &b) != 2) b = 0; fclose(f); return b * 4 / 1024; }

struct Rng {
  std::mt19937_64 g;
  explicit Rng(uint64_t seed) : g(seed) {}
  int64_t uniform(int64_t lo, int64_t hi) { return hi <= lo ? lo : lo + static_cast<int64_t>(g() % static_cast<uint64_t>(hi - lo + 1)); }
  double unit() { return static_cast<double>(g() >> 11) / 9007199254740992.0; }
};

struct Task {
  size_t pod = 0;
  std::string name;              // its service (the pod's name, made unique)
  size_t series = 0;
  int64_t arrive_ms = 0;
  int64_t leave_ms = 0;          // INT64_MAX: stays
  bool applied = false;
  bool gone = false;
  std::string rejected;          // admission refused it (the controller's words)
  std::string last_reason;       // why the controller last could not place it
};

// How long faults are followed in detail after they happen: until the
// controller has declared what it will, the shims fenced and everything
// stopped has run again (or been reported unplaceable).
int64_t detail_ms(const SimConfig& c, int64_t lease_ms) {
  const FaultPlan& f = c.faults;
  int64_t longest = 0;
  if (f.partition_nodes > 0) longest = std::max(longest, f.partition_for_ms);
  if (f.slow_nodes > 0) longest = std::max(longest, f.slow_for_ms);
  longest = std::max(longest, f.controller_pause_ms);
  if (f.restart_controller_at >= 0) longest = std::max(longest, f.controller_down_ms + c.health.node_lease_ms * 4);
  if (f.controller_failover_at >= 0) longest = std::max(longest, f.leader_lease_ms + c.health.node_lease_ms * 4);
  return 2 * lease_ms + longest + (c.baseline ? 10'000 : 3'000);
}

class Simulation {
 public:
  explicit Simulation(const SimConfig& cfg) : cfg_(cfg), rng_(cfg.seed) {}

  Result<SimResult> run() {
    if (cfg_.usage.series.empty()) return Error{"no usage series"};
    if (cfg_.step_s <= 0) return Error{"step must be positive"};
    if (cfg_.machines.empty()) return Error{"no machines"};
    std::vector<NodeSpec> nodes = build_nodes();
    build_tasks();
    WorldConfig wc;
    wc.controller.health = cfg_.health;
    wc.controller.recommender = cfg_.recommender;
    wc.evictions = cfg_.evictions;
    wc.tick_ms = cfg_.controller_tick_ms;
    if (cfg_.baseline) {
      // Kubernetes' timing: a status every 10 s, the node evicted after the grace and toleration.
      wc.controller.health.heartbeat_ms = cfg_.baseline_heartbeat_ms;
      wc.controller.health.node_lease_ms = cfg_.baseline_detect_ms;
      wc.controller.health.suspect_after_missed = 4;
      wc.tick_ms = 1'000;
    }
    wc.net_delay_min_ms = 0;
    wc.net_delay_max_ms = cfg_.net_delay_ms_max;
    wc.start_latency_min_ms = cfg_.start_latency_ms_min;
    wc.start_latency_max_ms = cfg_.start_latency_ms_max;
    wc.placements_per_ms = cfg_.placements_per_ms;
    wc.allocator = !cfg_.baseline;
    wc.seed = cfg_.seed;
    world_ = std::make_unique<World>(wc, std::move(nodes));
    lease_ms_ = wc.controller.health.node_lease_ms;

    const int64_t start_ms = cfg_.start_s * 1000, end_ms = (cfg_.start_s + cfg_.duration_s) * 1000;
    const int64_t window = end_ms - start_ms;
    fault_ms_ = any_fault() ? start_ms + static_cast<int64_t>(static_cast<double>(window) * cfg_.faults.at_fraction) : -1;
    const double restart_at = cfg_.faults.controller_failover_at >= 0 ? cfg_.faults.controller_failover_at
                                                                      : cfg_.faults.restart_controller_at;
    restart_ms_ = restart_at >= 0 ? start_ms + static_cast<int64_t>(static_cast<double>(window) * restart_at) : -1;
    world_->boot(start_ms - 1'000);
    world_->summarise([](const std::string&, int64_t) { return Demand{}; });
    size_t next_arrival = 0;
    int64_t step = 0;
    for (int64_t t = start_ms; t < end_ms; t += cfg_.step_s * 1000, ++step) {
      const int64_t step_end = std::min(end_ms, t + cfg_.step_s * 1000);
      world_->run_until(t);
      // Quiet since the last step: what the controller holds and what the
      // nodes run must agree now.
      if (cfg_.check_every_step && step > 0) check(step - 1);
      departures(t);
      // Arrivals within this step are applied at its start (a task shorter
      // than a step is still placed, and counted for the whole step).
      std::vector<size_t> arriving;
      while (next_arrival < by_arrival_.size() && tasks_[by_arrival_[next_arrival]].arrive_ms < step_end) {
        arriving.push_back(by_arrival_[next_arrival++]);
      }
      if (getenv("SIMMEM")) fprintf(stderr, "before apply %ld\n", rss());
      arrivals(arriving);
      if (getenv("SIMMEM")) fprintf(stderr, "after apply %ld\n", rss());
      // Starts land within a second; faults due in this step happen in order.
      world_->run_until(world_->now() + 1'000);
      if (getenv("SIMMEM")) fprintf(stderr, "after starts %ld\n", rss());
      faults_due(step_end, step);
      if (getenv("SIMMEM")) fprintf(stderr, "after faults %ld\n", rss());
      const double t_s = static_cast<double>(t) / 1000.0;
      StepUse use = world_->summarise([&](const std::string& service, int64_t) { return demand(service, t_s); });
      account(t_s, static_cast<double>(step_end - t) / 1000.0, use);
    }
    world_->run_until(std::max(world_->now(), end_ms));
    if (cfg_.check_every_step && step > 0) check(step - 1);
    finish();
    return std::move(res_);
  }

 private:
  bool any_fault() const {
    const FaultPlan& f = cfg_.faults;
    return f.fail_nodes > 0 || f.fail_rack || f.partition_nodes > 0 || f.slow_nodes > 0 || f.controller_pause_ms > 0;
  }

  void violate(int64_t step, const std::string& what) {
    res_.violations.push_back("seed " + std::to_string(cfg_.seed) + " step " + std::to_string(step) + ": " + what);
  }

  std::vector<NodeSpec> build_nodes() {
    std::vector<size_t> order(cfg_.machines.size());
    std::iota(order.begin(), order.end(), size_t{0});
    if (cfg_.node_limit > 0 && cfg_.node_limit < order.size()) {
      std::mt19937_64 shuffle_rng(cfg_.seed ^ 0x5eedull);
      std::shuffle(order.begin(), order.end(), shuffle_rng);
      order.resize(cfg_.node_limit);
      std::sort(order.begin(), order.end());
    }
    std::vector<NodeSpec> out;
    for (size_t i : order) {
      const TraceMachine& m = cfg_.machines[i];
      NodeSpec n;
      n.name = m.name;
      n.cpu_millis = m.cpu_millis;
      n.memory_bytes = m.memory_bytes;
      if (m.gpus > 0) n.resources["gpu_milli"] = m.gpus * 1000;
      n.labels["rack"] = "rack-" + std::to_string(i / static_cast<size_t>(std::max(1, cfg_.nodes_per_rack)));
      out.push_back(std::move(n));
    }
    res_.nodes = static_cast<int>(out.size());
    return out;
  }

  void build_tasks() {
    const int64_t start = cfg_.start_s, end = cfg_.start_s + cfg_.duration_s;
    std::unordered_map<std::string, size_t> names;
    tasks_.reserve(cfg_.pods.size());
    for (size_t i = 0; i < cfg_.pods.size(); ++i) {
      const TracePod& p = cfg_.pods[i];
      const bool stays = p.deletion_s == 0;
      if (p.creation_s >= end || (!stays && p.deletion_s <= start)) continue;
      Task t;
      t.pod = i;
      t.name = p.name;
      if (names.count(t.name)) t.name += "-" + std::to_string(i);  // duplicate task names
      t.series = series_for(p.name, cfg_.seed, cfg_.usage.series.size());
      t.arrive_ms = std::max(p.creation_s, start) * 1000;
      t.leave_ms = stays ? INT64_MAX : p.deletion_s * 1000;
      names[t.name] = tasks_.size();
      tasks_.push_back(std::move(t));
    }
    task_of_ = std::move(names);
    res_.tasks = tasks_.size();
    by_arrival_.resize(tasks_.size());
    std::iota(by_arrival_.begin(), by_arrival_.end(), size_t{0});
    std::stable_sort(by_arrival_.begin(), by_arrival_.end(),
                     [&](size_t a, size_t b) { return tasks_[a].arrive_ms < tasks_[b].arrive_ms; });
    by_leave_ = by_arrival_;
    std::stable_sort(by_leave_.begin(), by_leave_.end(), [&](size_t a, size_t b) { return tasks_[a].leave_ms < tasks_[b].leave_ms; });
  }

  Demand demand(const std::string& service, double t_s) const {
    auto it = task_of_.find(service);
    if (it == task_of_.end()) return {};
    const Task& task = tasks_[it->second];
    const TracePod& pod = cfg_.pods[task.pod];
    const double u = usage_at(cfg_.usage.series[task.series], cfg_.usage.interval_s, t_s);
    Demand d;
    d.cpu_millis = static_cast<int64_t>(std::llround(static_cast<double>(pod.cpu_millis) * u * cfg_.mapping.demand_scale));
    d.fixed = cfg_.baseline || !cfg_.mapping.learned_min || pod.qos == "Guaranteed";
    d.memory_bytes = static_cast<int64_t>(static_cast<double>(pod.memory_bytes) *
                                          (cfg_.mapping.memory_base + (1 - cfg_.mapping.memory_base) * u));
    return d;
  }

  // Why the controller holds this task's process unplaced (empty: it has none waiting).
  std::string pending_reason(const Task& t) const {
    const auto* ctl = world_->controller();
    if (ctl == nullptr) return t.last_reason;
    v1::ListRequest req;
    req.set_service(t.name);
    const v1::ListProcessesResponse listed = ctl->list_processes(req);
    for (const auto& p : listed.processes()) {
      if (!p.reason().empty()) return p.reason();
    }
    return t.last_reason;
  }

  void departures(int64_t t) {
    while (next_leave_ < by_leave_.size() && tasks_[by_leave_[next_leave_]].leave_ms <= t) {
      Task& task = tasks_[by_leave_[next_leave_++]];
      if (task.gone) continue;
      task.gone = true;
      if (!task.applied) continue;
      if (!world_->ever_ran(task.name)) task.last_reason = pending_reason(task);
      if (world_->controller() == nullptr) continue;
      (void)world_->stop_service(task.name);  // a task that left: its service is stopped
    }
  }

  ServiceSpec spec_of(const Task& t) const {
    ServiceSpec s = map_pod(cfg_.pods[t.pod], cfg_.mapping, cfg_.baseline);
    s.name = t.name;
    return s;
  }

  // Arrivals go in as client requests of at most kApplyBatch services (as a
  // client under the API's message size limit would send them), one after
  // the other.
  static constexpr size_t kApplyBatch = 4096;

  void arrivals(const std::vector<size_t>& arriving) {
    std::vector<ServiceSpec> specs;
    std::vector<size_t> which;
    auto send = [&] {
      if (specs.empty() || world_->controller() == nullptr) return;
      auto r = world_->apply(specs);
      if (r.errors_size() > 0) {
        for (size_t k : which) tasks_[k].rejected = "refused by the controller: " + r.errors(0);
      } else {
        for (size_t k : which) tasks_[k].applied = true;
      }
      // The next request goes once the controller has placed this one
      // (its modelled compute time), as a client waiting for its answer would.
      world_->run_until(world_->now() + 1 + static_cast<int64_t>(static_cast<double>(specs.size()) / cfg_.placements_per_ms));
      specs.clear();
      which.clear();
    };
    for (size_t k : arriving) {
      Task& task = tasks_[k];
      if (task.gone) continue;
      // A request with any error changes nothing: specs the controller would
      // refuse are refused here, each with its words, and the rest go in.
      ServiceSpec spec = spec_of(task);
      std::string why;
      for (const auto& e : validate_service_spec(spec)) why += (why.empty() ? "" : "; ") + e.message;
      for (const auto& e : admission_errors(spec)) why += (why.empty() ? "" : "; ") + e.message;
      if (!why.empty()) {
        task.rejected = "refused by the controller: " + why;
        task.gone = true;
        continue;
      }
      specs.push_back(std::move(spec));
      which.push_back(k);
      if (specs.size() == kApplyBatch) send();
    }
    send();
  }

  // The next fault instant before `until` (-1: none); `restart` says which.
  int64_t next_fault(int64_t until, bool& restart) const {
    int64_t at = -1;
    restart = false;
    if (fault_ms_ >= 0 && fault_ms_ < until) at = fault_ms_;
    if (restart_ms_ >= 0 && restart_ms_ < until && (at < 0 || restart_ms_ < at)) {
      at = restart_ms_;
      restart = true;
    }
    return at;
  }

  // Faults whose instant falls before `until`, in time order, followed in
  // detail; one that falls inside another's detailed window happens there.
  void faults_due(int64_t until, int64_t step) {
    bool restart = false;
    int64_t at = next_fault(until, restart);
    if (at < 0) return;
    world_->run_until(std::max(world_->now(), at));
    // Every node heard from until now, then every heartbeat and tick from here.
    const double t_s = static_cast<double>(at) / 1000.0;
    auto demand_now = [&](const std::string& service, int64_t) { return demand(service, t_s); };
    world_->summarise(demand_now);
    world_->set_detailed(true);
    int64_t detail_end = world_->now();
    while (at >= 0) {
      world_->run_until(std::max(world_->now(), at));
      if (restart) {
        const bool failover = cfg_.faults.controller_failover_at >= 0;
        const int64_t down = failover ? cfg_.faults.leader_lease_ms : cfg_.faults.controller_down_ms;
        res_.events.push_back({static_cast<double>(world_->now()) / 1000.0,
                               failover ? "active controller killed; the standby takes over after the " +
                                              std::to_string(down) + " ms leader lease"
                                        : "controller killed, back after " + std::to_string(down) + " ms"});
        world_->kill_controller(down);
        restart_ms_ = -1;
      } else {
        inject(step);
        fault_ms_ = -1;
      }
      detail_end = std::max(detail_end, world_->now() + detail_ms(cfg_, lease_ms_));
      at = next_fault(detail_end, restart);
    }
    world_->run_until(detail_end);
    world_->set_detailed(false);
    world_->summarise(demand_now);
  }

  void inject(int64_t step) {
    (void)step;
    const double t_s = static_cast<double>(world_->now()) / 1000.0;
    const FaultPlan& fp = cfg_.faults;
    // Nodes that run processes right now, in order, then a seeded pick.
    std::vector<size_t> busy;
    for (size_t i = 0; i < world_->node_count(); ++i) {
      if (world_->node_alive(i) && world_->processes_on(i) > 0) busy.push_back(i);
    }
    std::vector<size_t> pool = busy;
    std::shuffle(pool.begin(), pool.end(), rng_.g);
    size_t used = 0;
    auto take = [&](int want) {
      std::vector<size_t> out;
      while (want-- > 0 && used < pool.size()) out.push_back(pool[used++]);
      return out;
    };
    std::vector<size_t> crash = take(fp.fail_nodes);
    if (fp.fail_rack) {
      const auto* ctl = world_->controller();
      std::map<std::string, size_t> per_rack;
      std::map<std::string, std::vector<size_t>> members;
      for (size_t i = 0; i < world_->node_count(); ++i) {
        auto id = ctl->state().find_node(world_->node_name(i));
        const std::string* label = id ? ctl->state().node(*id).label("rack") : nullptr;
        const std::string rack = label ? *label : "";
        per_rack[rack] += world_->processes_on(i);
        members[rack].push_back(i);
      }
      std::string worst;
      size_t most = 0;
      for (const auto& [rack, count] : per_rack) {
        if (count > most) {
          most = count;
          worst = rack;
        }
      }
      for (size_t i : members[worst]) {
        if (std::find(crash.begin(), crash.end(), i) == crash.end()) crash.push_back(i);
      }
      res_.events.push_back({t_s, "rack " + worst + " fails (" + std::to_string(most) + " processes)"});
    }
    std::vector<size_t> cut = take(fp.partition_nodes);
    std::vector<size_t> slow = take(fp.slow_nodes);
    for (size_t i : crash) world_->crash(i);
    for (size_t i : cut) world_->partition(i, fp.partition_for_ms);
    for (size_t i : slow) world_->slow(i, fp.slow_delay_ms, fp.slow_loss, fp.slow_for_ms);
    if (fp.controller_pause_ms > 0) world_->pause_controller(fp.controller_pause_ms);
    if (!crash.empty()) res_.events.push_back({t_s, std::to_string(crash.size()) + " nodes crash"});
    if (!cut.empty()) res_.events.push_back({t_s, std::to_string(cut.size()) + " nodes partitioned"});
    if (!slow.empty()) res_.events.push_back({t_s, std::to_string(slow.size()) + " nodes with slow heartbeats"});
    if (fp.controller_pause_ms > 0) res_.events.push_back({t_s, "controller away for " + std::to_string(fp.controller_pause_ms) + " ms"});
  }

  void account(double t_s, double dt, const StepUse& u) {
    sum_capacity_ += u.capacity_cpu * dt;
    sum_allocated_ += u.allocated_cpu * dt;
    sum_used_ += u.used_cpu * dt;
    sum_demand_ += u.demand_cpu * dt;
    sum_memory_ += u.memory_used * dt;
    sum_alloc_fixed_ += u.allocated_fixed * dt;
    sum_alloc_learned_ += u.allocated_learned * dt;
    sum_used_learned_ += u.used_learned * dt;
    sum_used_fixed_ += u.used_fixed * dt;
    sum_memory_over_ += u.memory_over * dt;
    if (cfg_.keep_series) res_.series.push_back({t_s, u.capacity_cpu, u.allocated_cpu, u.used_cpu, u.demand_cpu});
  }

  // The invariants, from the controller's side and from the nodes'.
  void check(int64_t step) {
    const auto* ctl = world_->controller();
    if (ctl == nullptr) return;
    std::string broken = ctl->state().check_invariants();
    if (!broken.empty()) violate(step, broken);
    size_t live_tasks = 0, live_services = 0;
    for (const auto& t : tasks_) live_tasks += t.applied && !t.gone;
    for (ServiceId s = 0; s < ctl->state().service_count(); ++s) live_services += !ctl->state().service(s).removed;
    if (live_tasks != live_services) {
      violate(step, "the controller holds " + std::to_string(live_services) + " services, " + std::to_string(live_tasks) + " tasks are live");
    }
    for (const auto& line : world_->check_agreement()) violate(step, line);
  }

  void finish() {
    const WorldCounters& c = world_->counters();
    for (auto& t : tasks_) {
      const bool ran = world_->ever_ran(t.name);
      res_.placed += ran;
      if (ran) continue;
      ++res_.unplaceable;
      res_.never_placed.push_back(t.name);
      std::string why = t.rejected;
      if (why.empty() && t.applied && !t.gone) why = pending_reason(t);
      if (why.empty()) why = t.last_reason;
      ++res_.unplaceable_reasons[why.empty() ? "left before a placement" : why];
    }
    std::sort(res_.never_placed.begin(), res_.never_placed.end());
    const DisruptionReport d = world_->disruptions();
    res_.lost = static_cast<size_t>(c.processes_disrupted);
    res_.rescheduled = static_cast<size_t>(d.running_again);
    res_.lost_unplaceable = static_cast<size_t>(d.unplaceable + d.departed);
    res_.processes_lost = d.lost + c.records_gone;
    for (const auto& name : d.lost_names) violate(-1, "process " + name + " was stopped by a fault and never ran again");
    if (c.records_gone > 0) violate(-1, std::to_string(c.records_gone) + " process records gone after a controller restart");
    res_.processes_doubled = c.processes_doubled;
    if (c.processes_doubled > 0) violate(-1, std::to_string(c.processes_doubled) + " at-most-one processes ran twice");
    res_.false_deaths = static_cast<size_t>(c.false_deaths);
    res_.fenced_stops = static_cast<size_t>(c.fenced_stops);
    res_.frozen_ms = c.frozen_ms;
    res_.recovery_ms = c.recovery_ms;
    res_.sched_ms = c.batch_ms;
    res_.controller_restarts = c.controller_restarts;
    res_.store_commits = world_->store_commits();
    if (const auto* ctl = world_->controller()) {
      res_.moves = ctl->counters().moves + ctl->counters().learned_moves;
      res_.learned_raises = ctl->counters().learned_raises;
      res_.learned_lowers = ctl->counters().learned_lowers;
      res_.learned_moves = ctl->counters().learned_moves;
    }
    res_.slack_learned_percent =
        sum_alloc_learned_ > 0 ? 100.0 * (sum_alloc_learned_ - sum_used_learned_) / sum_alloc_learned_ : 0;
    res_.slack_fixed_percent = sum_alloc_fixed_ > 0 ? 100.0 * (sum_alloc_fixed_ - sum_used_fixed_) / sum_alloc_fixed_ : 0;
    const double parts = sum_alloc_fixed_ + sum_alloc_learned_;
    res_.fixed_share_percent = parts > 0 ? 100.0 * sum_alloc_fixed_ / parts : 0;
    res_.memory_overcommit_percent = sum_memory_ > 0 ? 100.0 * sum_memory_over_ / sum_memory_ : 0;
    res_.slack_percent = sum_allocated_ > 0 ? 100.0 * (sum_allocated_ - sum_used_) / sum_allocated_ : 0;
    res_.unserved_percent = sum_demand_ > 0 ? 100.0 * (sum_demand_ - sum_used_) / sum_demand_ : 0;
    res_.utilization_percent = sum_capacity_ > 0 ? 100.0 * sum_used_ / sum_capacity_ : 0;
    res_.allocation_percent = sum_capacity_ > 0 ? 100.0 * sum_allocated_ / sum_capacity_ : 0;
  }

  const SimConfig& cfg_;
  Rng rng_;
  std::unique_ptr<World> world_;
  int64_t lease_ms_ = 500;
  int64_t fault_ms_ = -1;
  int64_t restart_ms_ = -1;
  std::vector<Task> tasks_;
  std::unordered_map<std::string, size_t> task_of_;
  std::vector<size_t> by_arrival_;
  std::vector<size_t> by_leave_;
  size_t next_leave_ = 0;
  double sum_capacity_ = 0, sum_allocated_ = 0, sum_used_ = 0, sum_demand_ = 0, sum_memory_ = 0, sum_memory_over_ = 0, sum_alloc_fixed_ = 0,
         sum_used_fixed_ = 0, sum_alloc_learned_ = 0, sum_used_learned_ = 0;
  SimResult res_;
};

}  // namespace

Result<SimResult> run_simulation(const SimConfig& cfg) {
  try {
    return Simulation(cfg).run();
  } catch (const std::exception& e) {
    return Error{std::string("simulation: ") + e.what()};
  }
}

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

// `rackos sim`: run the simulator on a trace or a synthetic workload, for
// rackos and for the static-sizing baseline, and print the figures side by
// side (or as JSON), optionally with an SVG plot and the fewest machines each
// needs for the window.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "cli/commands.h"
#include "cli/learn_flags.h"
#include "core/quantity.h"
#include "sim/report.h"
#include "sim/simulator.h"

namespace rackos::cli {
namespace {

struct SimArgs {
  std::string machines, pods, usage, plot;
  int nodes = 0;
  size_t synthetic_pods = 0;
  std::string start = "0s", duration = "1d", step = "60s";
  int fail_nodes = 0, partition_nodes = 0, slow_nodes = 0;
  std::string controller_pause = "0ms", controller_down = "300ms", partition_for = "5s";
  double restart_controller_at = -1;
  double controller_failover_at = -1;
  std::string leader_lease = "600ms";
  bool fail_rack = false, json = false, find_min = false;
  uint64_t seed = 1;
  double fault_at = 0.5;
  std::string min = "auto", gpus = "use";
  int load_scale = 1;
  LearnFlags learn;
  double min_fraction = -1, burst_factor = 2.0, demand_scale = 1.0, memory_base = 0.5;
  int nodes_per_rack = 32;
  std::string baseline_detect = "340s";
};

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "rackos sim: %s\n", msg.c_str());
  std::exit(1);
}

int64_t seconds(const std::string& flag, const std::string& v) {
  // Plain numbers are seconds (trace times are seconds); units are allowed.
  if (!v.empty() && v.find_first_not_of("0123456789") == std::string::npos) return std::stoll(v);
  auto ms = parse_duration_ms(v);
  if (!ms) die(flag + ": " + ms.error().message);
  return *ms / 1000;
}

int64_t seconds_ms(const std::string& flag, const std::string& v) {
  auto ms = parse_duration_ms(v);
  if (!ms) die(flag + ": " + ms.error().message);
  return *ms;
}

// Fewest machines (in the fixed seeded order) that serve the window with
// ≤ 1 % of demand unserved and no task unplaceable that the full cluster
// placed. Binary search: assumes more machines never serve worse. `at`: the
// run at that count (the contended run whose slack and unserved count).
int find_min_nodes(sim::SimConfig cfg, const std::vector<std::string>& full_never_placed, sim::SimResult* at) {
  cfg.faults = {};
  cfg.keep_series = false;
  cfg.check_every_step = false;
  int lo = 1, hi = static_cast<int>(cfg.machines.size());
  while (lo < hi) {
    int mid = lo + (hi - lo) / 2;
    cfg.node_limit = static_cast<size_t>(mid);
    auto r = sim::run_simulation(cfg);
    bool ok = r && r->unserved_percent <= 1.0 &&
              std::includes(full_never_placed.begin(), full_never_placed.end(), r->never_placed.begin(), r->never_placed.end());
    if (ok) {
      hi = mid;
      if (at != nullptr) *at = std::move(r).value();
    } else {
      lo = mid + 1;
    }
  }
  if (at != nullptr && at->nodes != lo) {
    cfg.node_limit = static_cast<size_t>(lo);
    if (auto r = sim::run_simulation(cfg)) *at = std::move(r).value();
  }
  return lo;
}

void run(const SimArgs& a) {
  sim::SimConfig cfg;
  if (!a.machines.empty()) {
    auto m = sim::read_machines(a.machines);
    if (!m) die(m.error().message);
    cfg.machines = std::move(m).value();
  } else {
    if (a.nodes <= 0) die("give --machines NODES.csv or --nodes N");
    cfg.machines = sim::synthetic_machines(a.nodes, a.seed);
  }
  if (a.nodes > 0 && !a.machines.empty()) cfg.node_limit = static_cast<size_t>(a.nodes);
  cfg.start_s = seconds("--start", a.start);
  cfg.duration_s = seconds("--duration", a.duration);
  cfg.step_s = seconds("--step", a.step);
  if (cfg.duration_s <= 0) die("--duration must be positive");
  if (cfg.step_s <= 0) die("--step must be positive");
  if (!a.pods.empty()) {
    auto p = sim::read_pods(a.pods);
    if (!p) die(p.error().message);
    cfg.pods = std::move(p).value();
  } else {
    size_t n = a.synthetic_pods > 0 ? a.synthetic_pods : static_cast<size_t>(cfg.machines.size()) * 8;
    cfg.pods = sim::synthetic_pods(n, cfg.start_s, cfg.duration_s, a.seed);
  }
  if (!a.usage.empty()) {
    auto u = sim::read_usage(a.usage);
    if (!u) die(u.error().message);
    cfg.usage = std::move(u).value();
  } else {
    cfg.usage = sim::synthetic_usage(256, a.seed);
  }
  cfg.seed = a.seed;
  cfg.faults.fail_nodes = a.fail_nodes;
  cfg.faults.fail_rack = a.fail_rack;
  cfg.faults.partition_nodes = a.partition_nodes;
  cfg.faults.slow_nodes = a.slow_nodes;
  cfg.faults.controller_pause_ms = seconds_ms("--controller-pause", a.controller_pause);
  cfg.faults.at_fraction = a.fault_at;
  if (a.fault_at < 0 || a.fault_at >= 1) die("--fault-at must be in [0, 1)");
  cfg.faults.partition_for_ms = seconds_ms("--partition-for", a.partition_for);
  cfg.faults.controller_down_ms = seconds_ms("--controller-down", a.controller_down);
  if (a.restart_controller_at >= 1) die("--restart-controller-at must be in [0, 1)");
  cfg.faults.restart_controller_at = a.restart_controller_at;
  if (a.controller_failover_at >= 1) die("--controller-failover-at must be in [0, 1)");
  if (a.controller_failover_at >= 0 && a.restart_controller_at >= 0) {
    die("--controller-failover-at and --restart-controller-at are two ways to lose the controller: give one");
  }
  cfg.faults.controller_failover_at = a.controller_failover_at;
  cfg.faults.leader_lease_ms = seconds_ms("--leader-lease", a.leader_lease);
  cfg.mapping.burst_factor = a.burst_factor;
  cfg.mapping.demand_scale = a.demand_scale;
  cfg.mapping.memory_base = a.memory_base;
  if (a.min_fraction >= 0) {
    if (a.min != "auto") die("give --min or --min-fraction, not both");
    if (a.min_fraction > 1) die("--min-fraction must be in [0, 1]");
    cfg.mapping.learned_min = false;
    cfg.mapping.min_fraction = a.min_fraction;
  } else if (a.min != "auto") {
    char* end = nullptr;
    const double f = std::strtod(a.min.c_str(), &end);
    if (a.min.empty() || *end != '\0' || f < 0 || f > 1) die("--min: \"" + a.min + "\" is neither auto nor a fraction in [0, 1]");
    cfg.mapping.learned_min = false;
    cfg.mapping.min_fraction = f;
  }
  if (a.gpus != "use" && a.gpus != "ignore") die("--gpus: \"" + a.gpus + "\" is not allowed (use, ignore)");
  cfg.mapping.ignore_gpus = a.gpus == "ignore";
  if (a.load_scale < 1 || a.load_scale > 1000) die("--load-scale must be in [1, 1000]");
  cfg.pods = sim::scale_load(cfg.pods, a.load_scale);
  if (auto err = a.learn.apply(cfg.recommender); !err.empty()) die(err);
  if (a.burst_factor < 1) die("--burst-factor must be at least 1");
  if (a.memory_base < 0 || a.memory_base > 1) die("--memory-base must be in [0, 1]");
  cfg.nodes_per_rack = a.nodes_per_rack;
  cfg.baseline_detect_ms = seconds("--baseline-detect", a.baseline_detect) * 1000;

  auto mine = sim::run_simulation(cfg);
  if (!mine) die(mine.error().message);
  sim::SimConfig base_cfg = cfg;
  base_cfg.baseline = true;
  // The baseline models Kubernetes' failure timing; a restart of rackos's
  // controller (which gives nodes 2 s to reconnect) is not part of it.
  base_cfg.faults.restart_controller_at = -1;
  base_cfg.faults.controller_failover_at = -1;
  auto base = sim::run_simulation(base_cfg);
  if (!base) die(base.error().message);

  std::optional<int> need_mine, need_base;
  sim::SimResult at_mine, at_base;
  if (a.find_min) {
    sim::SimConfig c = cfg;
    c.node_limit = 0;
    need_mine = find_min_nodes(c, mine->never_placed, &at_mine);
    c.baseline = true;
    need_base = find_min_nodes(c, base->never_placed, &at_base);
  }
  if (!a.plot.empty()) {
    std::ofstream out(a.plot);
    if (!out) die("cannot write " + a.plot);
    out << sim::plot_svg(*mine, *base);
  }
  if (a.json) {
    nlohmann::json j = sim::figures_json(*mine, need_mine);
    j["baseline"] = sim::figures_json(*base, need_base);
    if (a.find_min) {
      // The contended runs: each at the fewest machines it needs.
      j["at_nodes_needed"] = sim::contended_json(at_mine);
      j["baseline"]["at_nodes_needed"] = sim::contended_json(at_base);
      j["nodes_ratio"] = std::round(1000.0 * *need_mine / std::max(*need_base, 1)) / 1000.0;
    }
    j["seed"] = a.seed;
    j["window"] = {{"start_s", cfg.start_s}, {"duration_s", cfg.duration_s}, {"step_s", cfg.step_s}};
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::fputs(sim::summary_table(*mine, *base, need_mine, need_base).c_str(), stdout);
    if (a.find_min) {
      std::printf("at the fewest machines: rackos %d (slack %.1f %%, unserved %.2f %%), static %d (slack %.1f %%, unserved "
                  "%.2f %%); ratio %.3f\n",
                  *need_mine, at_mine.slack_percent, at_mine.unserved_percent, *need_base, at_base.slack_percent,
                  at_base.unserved_percent, static_cast<double>(*need_mine) / std::max(*need_base, 1));
    }
  }
  for (const auto& v : mine->violations) std::fprintf(stderr, "INVARIANT BROKEN (rackos): %s\n", v.c_str());
  for (const auto& v : base->violations) std::fprintf(stderr, "INVARIANT BROKEN (baseline): %s\n", v.c_str());
  if (!mine->violations.empty() || !base->violations.empty()) std::exit(4);
}

}  // namespace

void add_sim(CLI::App& app) {
  static SimArgs a;
  auto* cmd = app.add_subcommand("sim", "Simulate a cluster over a trace, with faults, against static sizing");
  cmd->add_option("--machines", a.machines, "Machines CSV (sn, cpu_milli, memory_mib[, gpu, model])");
  cmd->add_option("--nodes", a.nodes, "Synthetic machines (or, with --machines, use only this many)");
  cmd->add_option("--pods", a.pods, "Tasks CSV (name, cpu_milli, memory_mib, qos, creation_time[, deletion_time, num_gpu, gpu_milli])");
  cmd->add_option("--synthetic-pods", a.synthetic_pods, "Synthetic tasks when no --pods (default 8 per machine)");
  cmd->add_option("--usage", a.usage, "CPU usage series CSV (vm, s0..sN percent every 5 minutes)");
  cmd->add_option("--start", a.start, "Window start, seconds from the trace start (or 3d, 12h...)")->capture_default_str();
  cmd->add_option("--duration", a.duration, "Window length (1d, 6h, or seconds)")->capture_default_str();
  cmd->add_option("--step", a.step, "Usage step")->capture_default_str();
  cmd->add_option("--fail-nodes", a.fail_nodes, "Crash this many nodes that run processes");
  cmd->add_flag("--fail-rack", a.fail_rack, "Crash the rack that runs the most processes");
  cmd->add_option("--partition-nodes", a.partition_nodes, "Partition this many busy nodes from the controller");
  cmd->add_option("--slow-heartbeats", a.slow_nodes, "Make this many busy nodes' heartbeats slow and lossy for 5 s");
  cmd->add_option("--controller-pause", a.controller_pause, "The controller is away this long (unplanned failover), e.g. 2s");
  cmd->add_option("--partition-for", a.partition_for, "How long a partition lasts")->capture_default_str();
  cmd->add_option("--restart-controller-at", a.restart_controller_at,
                  "Kill the controller at this fraction of the window and rebuild it from the store (kill -9 and restart)");
  cmd->add_option("--controller-down", a.controller_down, "How long the killed controller stays down")->capture_default_str();
  cmd->add_option("--controller-failover-at", a.controller_failover_at,
                  "Kill the active of a controller pair at this fraction of the window; the standby takes over after "
                  "--leader-lease (nodes freeze their at-most-one work meanwhile)");
  cmd->add_option("--leader-lease", a.leader_lease, "The controller pair's leader lease")->capture_default_str();
  cmd->add_option("--fault-at", a.fault_at, "When faults happen, as a fraction of the window")->capture_default_str();
  cmd->add_option("--seed", a.seed, "Seed (same seed, same output)")->capture_default_str();
  cmd->add_option("--min", a.min,
                  "Envelope min of tasks that are not Guaranteed: auto (learned from use by the controller's "
                  "recommender) or a fraction of the request")
      ->capture_default_str();
  cmd->add_option("--min-fraction", a.min_fraction, "Envelope min = request × this (the same as --min F)");
  cmd->add_option("--gpus", a.gpus, "use: tasks ask for GPUs; ignore: GPU requests set aside (CPU and memory bind)")
      ->capture_default_str();
  a.learn.add_to(cmd);
  cmd->add_option("--load-scale", a.load_scale, "Each task K times, each copy with its own usage series")->capture_default_str();
  cmd->add_option("--burst-factor", a.burst_factor, "Envelope burst = request × this")->capture_default_str();
  cmd->add_option("--demand-scale", a.demand_scale, "CPU demand = request × usage × this")->capture_default_str();
  cmd->add_option("--memory-base", a.memory_base, "Memory use = request × (base + (1 − base) × usage)")->capture_default_str();
  cmd->add_option("--nodes-per-rack", a.nodes_per_rack, "Consecutive machines per rack")->capture_default_str();
  cmd->add_option("--baseline-detect", a.baseline_detect, "Baseline failure detection (Kubernetes: 40s grace + 300s toleration)")->capture_default_str();
  cmd->add_flag("--json", a.json, "Print every figure as JSON");
  cmd->add_option("--plot", a.plot, "Write an SVG plot here");
  cmd->add_flag("--find-min-nodes", a.find_min, "Search the fewest machines that serve the window (≤ 1 % unserved)");
  cmd->callback([] { run(a); });
}

}  // namespace rackos::cli

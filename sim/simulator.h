// rackos sim: a deterministic discrete-event simulation with virtual time that
// runs the real ClusterController (sim/sim_world: in-memory store, simulated
// shims speaking the node protocol, faults on messages) over a trace or a
// synthetic workload, checks invariants from the nodes' side, and measures the
// figures operators pay for, for rackos and for a static-sizing baseline.
//
// Time advances in usage steps (default 60 s): tasks leave (a client stop),
// arrive (a client apply), the controller places and the shims start them,
// then one summary heartbeat per node carries the usage the shims' allocator
// served. Faults happen at exact milliseconds inside a step and are followed
// in detail: every heartbeat, every controller tick, every lease. Same inputs
// and seed, same output, byte for byte.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/node_health.h"
#include "core/recommender.h"
#include "core/result.h"
#include "sim/traces.h"
#include "sim/workload_map.h"

namespace rackos::sim {

struct FaultPlan {
  int fail_nodes = 0;            // crash this many nodes that run processes at that moment
  bool fail_rack = false;        // crash the rack that runs the most processes
  int partition_nodes = 0;       // cut this many busy nodes off the network (they keep running)
  int slow_nodes = 0;            // busy nodes whose heartbeats turn slow and lossy
  int64_t slow_delay_ms = 300;   //   extra one-way delay of their heartbeats and acks
  double slow_loss = 0.3;        //   chance a heartbeat is lost
  int64_t slow_for_ms = 5'000;   //   how long
  int64_t partition_for_ms = 5'000;  // how long a partition lasts
  int64_t controller_pause_ms = 0;  // the controller is away this long (it stalls; nothing is lost)
  double at_fraction = 0.5;      // when, as a fraction of the window
  double restart_controller_at = -1;  // the controller is killed and rebuilt from the store then (fraction; < 0: never)
  int64_t controller_down_ms = 300;   //   down this long before it is rebuilt
  // Unplanned failover of the controller pair (fraction; < 0: never): the
  // active dies and the standby takes over after the leader lease, from the
  // store, with every node's at-most-one work frozen meanwhile — not killed.
  double controller_failover_at = -1;
  int64_t leader_lease_ms = 600;
};

struct SimConfig {
  std::vector<TraceMachine> machines;
  std::vector<TracePod> pods;
  UsageTable usage;
  int64_t start_s = 0;
  int64_t duration_s = 86'400;
  int64_t step_s = 60;
  uint64_t seed = 1;
  MappingConfig mapping;
  FaultPlan faults;
  int nodes_per_rack = 32;       // the trace has no racks: consecutive machines form one
  HealthConfig health;           // heartbeat 100 ms, suspect after 3, lease 500 ms
  RecommenderConfig recommender; // learned mins: the controller's defaults
  int64_t controller_tick_ms = 10;
  int64_t net_delay_ms_max = 5;  // one way, uniform in [0, max]
  int64_t start_latency_ms_min = 2;
  int64_t start_latency_ms_max = 20;
  double placements_per_ms = 50; // the controller's compute time, modelled (bench: ~370 placements/ms)
  bool baseline = false;         // static sizing, Kubernetes failure timing
  int64_t baseline_detect_ms = 340'000;  // node-monitor-grace 40 s + not-ready toleration 300 s
  int64_t baseline_heartbeat_ms = 10'000; // the kubelet's node status update
  size_t node_limit = 0;         // use only this many machines, taken in a fixed seeded order (0: all)
  bool check_every_step = true;  // full invariant check each step (O(table))
  bool evictions = true;         // nodes report processes they cannot keep (memory pressure), as the shim does
  bool keep_series = true;       // per-step samples for the plot
};

struct SimSample {
  double t_s = 0;
  double capacity_cpu = 0;       // millicores of live nodes
  double allocated_cpu = 0;      // held: rackos Σ max(min, target); baseline Σ request
  double used_cpu = 0;           // served
  double demand_cpu = 0;
};

struct SimEvent {
  double t_s = 0;
  std::string what;
};

struct SimResult {
  int nodes = 0;
  size_t tasks = 0;              // tasks in the window
  size_t placed = 0;             // placed at least once
  size_t unplaceable = 0;        // never placed in the window
  std::vector<std::string> never_placed;  // their names, sorted
  std::map<std::string, size_t> unplaceable_reasons;  // the scheduler's last reason → tasks
  size_t lost = 0;               // processes lost to faults
  size_t rescheduled = 0;        // of those, running again
  size_t lost_unplaceable = 0;   // of those, reported unplaceable (with a reason)
  size_t false_deaths = 0;       // nodes that did not crash declared dead (slow heartbeats)
  size_t fenced_stops = 0;       // at-most-one processes killed by their node's fence (frozen past the grace)
  std::vector<double> frozen_ms; // per freeze of an at-most-one process: how long until thawed or stopped
  size_t moves = 0;              // processes moved off a node that could not give them enough
  std::vector<double> recovery_ms;   // per failed node: death → its last lost process running
  std::vector<double> sched_ms;      // modelled controller time per step that placed
  int64_t controller_restarts = 0;
  int64_t processes_doubled = 0;     // an at-most-one process started while another copy ran
  int64_t processes_lost = 0;        // a record gone, or a process a fault stopped never run again
  uint64_t store_commits = 0;
  double slack_percent = 0;      // (allocated − used) / allocated
  double unserved_percent = 0;   // demanded CPU-seconds not served
  double utilization_percent = 0;// used / capacity
  double allocation_percent = 0; // allocated / capacity
  double slack_learned_percent = 0;  // slack of processes whose min is learned (min: auto)
  double slack_fixed_percent = 0;    // slack of processes sized by their spec (Guaranteed; the baseline)
  double fixed_share_percent = 0;    // their part of what is allocated
  double memory_overcommit_percent = 0;  // memory in use above its node's capacity / memory in use
  uint64_t learned_raises = 0;   // learned mins raised / lowered by the controller (min: auto)
  uint64_t learned_lowers = 0;
  uint64_t learned_moves = 0;    // replicas moved because a raised min no longer fit (part of moves)
  std::vector<std::string> violations;  // broken invariants, each with seed and step
  std::vector<SimSample> series;
  std::vector<SimEvent> events;
};

Result<SimResult> run_simulation(const SimConfig& cfg);

double percentile(std::vector<double> v, double p);

// Synthetic workload for tests and scale: `count` tasks with requests between
// 100m and 4 cores, arrivals spread over the window with exponential
// lifetimes, and `series` diurnal usage curves with step jumps and noise.
std::vector<TraceMachine> synthetic_machines(int count, uint64_t seed);
std::vector<TracePod> synthetic_pods(size_t count, int64_t start_s, int64_t duration_s, uint64_t seed);
UsageTable synthetic_usage(size_t series, uint64_t seed);

}  // namespace rackos::sim

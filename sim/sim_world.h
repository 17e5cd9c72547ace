// The world the real ClusterController runs in under simulation: the
// simulator is its network, its clock and its disk (FoundationDB's model).
//
// - disk: the in-memory Store (controller/memory_store), the same
//   one-transaction-per-commit and revision rules as SQLite;
// - network: a queue of node-protocol messages (register, heartbeat, events;
//   start, stop, update, ack, registered, refused), each delayed by a seeded
//   network delay; a controller that is down loses what was in flight to it;
// - nodes: simulated shims that speak the protocol as the real shim does —
//   register with what they run and the cluster id and revision they saw,
//   heartbeat (usage on every 10th), answer a start after a start latency
//   with `started`, a stop with `exited`, stop what `Registered` lists, run
//   the core allocator over their processes, and fence their at-most-one
//   processes when the lease deadline (last acknowledged send + lease −
//   lease/5) passes without an ack, as the real monitors do;
// - clock: virtual milliseconds, event by event.
//
// Time runs in two modes. Detailed: every shim heartbeats every heartbeat_ms
// (random phase), the controller ticks every tick_ms, leases run by the
// millisecond — used around faults. Summarised: no time-driven events; each
// summarise() stands for the heartbeats of the interval it ends (one
// heartbeat per node carrying every process's usage, then one tick) — what
// lets a day on 10,000 nodes run in seconds. The controller gets the same
// messages either way; only how many heartbeats it sees differs.
//
// Faults act on the messages and objects: node crash, partition (both
// directions dropped), slow and lossy heartbeats, controller pause (messages
// wait), controller restart (the object destroyed and rebuilt from the store,
// every stream dropped). Checked from the nodes' side: an at-most-one process
// that starts while another copy of it runs (processes_doubled); processes a
// fault stopped and how long until each disrupted node's processes ran again.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "controller/cluster_controller.h"
#include "controller/memory_store.h"
#include "core/allocator.h"
#include "core/cluster_state.h"

namespace rackos::sim {

struct WorldConfig {
  controller::ControllerConfig controller;  // health (heartbeat, lease), scaling
  int64_t tick_ms = 10;                     // the controller's tick while detailed
  int64_t net_delay_min_ms = 0;             // one way, uniform in [min, max]
  int64_t net_delay_max_ms = 5;
  int64_t start_latency_min_ms = 2;         // a start order until the process runs
  int64_t start_latency_max_ms = 20;
  double placements_per_ms = 50;            // the controller's compute time, modelled per step
  int64_t reconnect_ms = 50;                // a shim's reconnect backoff
  int64_t fence_grace_ms = 3'000;           // frozen at-most-one processes are killed this long after the lease
  bool allocator = true;                    // shims run the core allocator (false: static sizing)
  bool evictions = true;                    // shims report processes they cannot keep (memory pressure)
  uint64_t seed = 1;
};

// One process's use at a moment (the driver's usage model).
struct Demand {
  int64_t cpu_millis = 0;
  int64_t memory_bytes = 0;
  bool fixed = false;        // its size is fixed by its spec (not learned): counted apart too
};
using DemandFn = std::function<Demand(const std::string& service, int64_t now_ms)>;

// CPU over the live nodes at one summary (millicores).
struct StepUse {
  double capacity_cpu = 0;
  double allocated_cpu = 0;  // allocator: per node max(Σ min, Σ used) ≤ capacity; static: Σ max (the request)
  double used_cpu = 0;
  double demand_cpu = 0;
  double memory_used = 0;    // bytes in use on live nodes
  double memory_over = 0;    // of those, above their node's capacity (would be reclaimed or OOM-killed)
  // The same, per node, over the processes whose min is learned and over
  // those whose size is fixed (Guaranteed; every process of the baseline).
  double allocated_learned = 0, used_learned = 0;
  double allocated_fixed = 0, used_fixed = 0;
};

struct WorldCounters {
  int64_t processes_doubled = 0;   // an at-most-one process started while another copy of it ran
  int64_t processes_disrupted = 0; // stopped by a fault (crash, fence)
  int64_t fenced_stops = 0;        // at-most-one processes killed on their node: frozen past the lease and the grace
  std::vector<double> frozen_ms;   // per freeze: how long an at-most-one process stayed frozen (thawed or killed)
  int64_t false_deaths = 0;        // nodes that did not crash, declared dead by the controller
  int64_t controller_restarts = 0;
  int64_t records_gone = 0;        // process records a restarted controller did not find
  int64_t messages = 0;
  std::vector<double> recovery_ms; // per disrupted node: fault → its last disrupted process running again
  std::vector<double> batch_ms;    // modelled controller time of each step that placed
};

// What became of the processes faults stopped, asked at the end.
struct DisruptionReport {
  int64_t running_again = 0;
  int64_t unplaceable = 0;   // pending in the controller (with its reason)
  int64_t departed = 0;      // their service was stopped meanwhile
  int64_t lost = 0;          // none of these: gone or never run again
  std::vector<std::string> lost_names;
};

class World {
 public:
  World(WorldConfig cfg, std::vector<NodeSpec> nodes);
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  // Starts the controller on an empty store at `now_ms` and connects every
  // shim; returns once every node has registered.
  void boot(int64_t now_ms);
  int64_t now() const;

  void set_detailed(bool on);
  bool detailed() const;
  // Processes every event up to and including t_ms; now() becomes t_ms.
  void run_until(int64_t t_ms);
  // At now(): every connected shim runs its allocator with the demand and
  // sends one heartbeat carrying every process's usage; the controller ticks.
  StepUse summarise(const DemandFn& demand);

  // Clients, at now().
  v1::ApplyResponse apply(const std::vector<ServiceSpec>& specs);
  Result<uint32_t> stop_service(const std::string& name);

  // Faults, at now().
  void crash(size_t node);
  void partition(size_t node, int64_t for_ms);
  void slow(size_t node, int64_t extra_delay_ms, double loss, int64_t for_ms);
  void pause_controller(int64_t for_ms);
  void kill_controller(int64_t down_ms);

  // Views.
  const controller::ClusterController* controller() const;  // null while it is down
  size_t node_count() const;
  const std::string& node_name(size_t node) const;
  bool node_alive(size_t node) const;
  size_t processes_on(size_t node) const;     // running or starting
  bool ever_ran(const std::string& service) const;
  const WorldCounters& counters() const;
  uint64_t store_commits() const;
  // Every process the controller holds as running is running on the node it
  // names, and nothing runs that it does not know; one line per mismatch.
  std::vector<std::string> check_agreement() const;
  DisruptionReport disruptions() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rackos::sim

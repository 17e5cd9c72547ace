// The real ClusterController in virtual time: the simulator is its network,
// its clock and its disk. An in-memory Store (controller/memory_store) holds
// what it commits; simulated shims speak the node protocol as messages
// (register with what they run, heartbeats, started/exited events; start and
// stop orders answered after modelled latencies; self-fencing of at-most-one
// work after a lease without an acknowledgement); every message takes a
// modelled network delay. Faults act on those messages and objects: a node
// crash (its processes and its shim vanish), and a controller restart (the
// controller object destroyed and rebuilt from the store, every stream
// dropped, as kill -9 and a restart would). Invariants are checked from the
// nodes' side at every step: an at-most-one process running twice counts in
// `processes_doubled`; a process record gone, or one that is not running at
// the end, in `processes_lost`. Deterministic: same config, same result.
//
// This is the first piece of "one controller everywhere" (issue 11): it runs
// synthetic services; `rackos sim` over the traces still uses its own model.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace rackos::sim {

struct ControllerSimConfig {
  int nodes = 20;
  int64_t node_cpu_millis = 8000;
  int64_t node_memory_bytes = 16ll << 30;
  // Services: `singletons` of one instance (at-most-one) and `services` of
  // `instances` each, every process cpu 100m:500m, memory 64Mi:128Mi.
  int singletons = 10;
  int services = 10;
  int instances = 5;
  int64_t duration_ms = 10'000;
  int64_t crash_node_at_ms = -1;          // a node (the busiest) crashes then; -1: none
  int64_t restart_controller_at_ms = -1;  // the controller is killed and rebuilt from the store then; -1: never
  int64_t controller_down_ms = 300;       // how long it stays down before it is rebuilt
  int64_t net_delay_ms = 1;               // one way, each message
  int64_t start_latency_ms = 5;           // a start order until "started"
  int64_t tick_ms = 20;                   // the controller's tick
  uint64_t seed = 1;
};

struct ControllerSimResult {
  int64_t processes_doubled = 0;  // samples in which an at-most-one process ran on two nodes
  int64_t processes_lost = 0;     // records gone, or not running at the end
  int64_t controller_restarts = 0;
  int64_t commits = 0;            // store transactions
  int64_t messages = 0;
  int64_t running_at_end = 0;
  int64_t expected_at_end = 0;
  int64_t recovery_ms = -1;       // crash → every process running again (-1: no crash, or never)
};

ControllerSimResult run_controller_sim(const ControllerSimConfig& cfg);

}  // namespace rackos::sim

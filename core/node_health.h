// The node state machine (DESIGN.md "Failure handling"), driven by heartbeat
// times passed in:  ready → suspect (3 heartbeats missed) → dead (lease
// expired); suspect → ready on a heartbeat; dead → fenced when the node comes
// back (it may still run stale copies) → ready once its shim has reconciled.
// `draining` is an operator's flag laid over a live node. Also the shim's side
// of the lease: when to self-fence. Pure functions; time is an argument.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/ids.h"

namespace rackos {

struct HealthConfig {
  int64_t heartbeat_ms = 100;
  int64_t suspect_after_missed = 3;
  int64_t node_lease_ms = 500;
};

struct NodeHealth {
  NodeState liveness = NodeState::ready;  // ready, suspect, dead or fenced
  bool draining = false;
  int64_t last_heartbeat_ms = 0;
  int64_t state_since_ms = 0;
  uint64_t incarnation = 1;  // bumped each time the node registers anew

  // What operators and the scheduler see: draining hides a live node's readiness.
  NodeState state() const {
    if (draining && (liveness == NodeState::ready || liveness == NodeState::suspect)) return NodeState::draining;
    return liveness;
  }
  // New processes may be placed here.
  bool schedulable() const { return liveness == NodeState::ready && !draining; }
};

enum class HealthEvent : uint8_t { none, became_suspect, became_ready, became_dead, became_fenced };

// A node registered (first time or again). A node that was dead comes back
// fenced; otherwise ready.
HealthEvent on_register(NodeHealth& h, int64_t now_ms);
// A heartbeat arrived. suspect → ready; a dead node must register again.
HealthEvent on_heartbeat(NodeHealth& h, int64_t now_ms);
// Time passed: ready → suspect → dead as heartbeats stay missing; suspect →
// ready when h.last_heartbeat_ms is recent again (heartbeats recorded apart).
HealthEvent on_tick(NodeHealth& h, int64_t now_ms, const HealthConfig& cfg);
// The fenced node's shim reports its stale processes stopped: fenced → ready.
HealthEvent on_reconciled(NodeHealth& h, int64_t now_ms);

// Kubernetes' "full disruption": when more than half of the live nodes are
// silent at once (suspect, or their lease just ran out), it is far likelier
// that the controller is the one cut off (a network split on its side, a
// stall) than that most of the cluster died together. The controller then
// declares no node dead — nothing is rescheduled — until enough nodes are
// heard again; at-most-one work on silent nodes is held by their own leases.
// `silent` and `live` count nodes not already dead; needs at least 3 live.
inline bool looks_cut_off(size_t silent, size_t live) { return live >= 3 && silent * 2 > live; }

// The shim's side: no acknowledgement for a whole lease means the controller
// may already have declared this node dead, so at-most-one workloads must stop.
inline bool shim_should_self_fence(int64_t last_ack_ms, int64_t now_ms, const HealthConfig& cfg) {
  return now_ms - last_ack_ms >= cfg.node_lease_ms;
}

}  // namespace rackos

// Node state machine transitions (see node_health.h).
#include "core/node_health.h"

namespace rackos {

static HealthEvent move(NodeHealth& h, NodeState to, int64_t now_ms, HealthEvent ev) {
  h.liveness = to;
  h.state_since_ms = now_ms;
  return ev;
}

HealthEvent on_register(NodeHealth& h, int64_t now_ms) {
  h.last_heartbeat_ms = now_ms;
  ++h.incarnation;
  if (h.liveness == NodeState::dead || h.liveness == NodeState::fenced) {
    return move(h, NodeState::fenced, now_ms, HealthEvent::became_fenced);
  }
  if (h.liveness != NodeState::ready) return move(h, NodeState::ready, now_ms, HealthEvent::became_ready);
  return HealthEvent::none;
}

HealthEvent on_heartbeat(NodeHealth& h, int64_t now_ms) {
  if (h.liveness == NodeState::dead) return HealthEvent::none;  // must register again
  if (now_ms > h.last_heartbeat_ms) h.last_heartbeat_ms = now_ms;
  if (h.liveness == NodeState::suspect) return move(h, NodeState::ready, now_ms, HealthEvent::became_ready);
  return HealthEvent::none;
}

HealthEvent on_tick(NodeHealth& h, int64_t now_ms, const HealthConfig& cfg) {
  if (h.liveness == NodeState::dead) return HealthEvent::none;
  const int64_t silent_ms = now_ms - h.last_heartbeat_ms;
  if (silent_ms >= cfg.node_lease_ms) return move(h, NodeState::dead, now_ms, HealthEvent::became_dead);
  const bool missed = silent_ms > cfg.suspect_after_missed * cfg.heartbeat_ms;
  if (h.liveness == NodeState::ready && missed) return move(h, NodeState::suspect, now_ms, HealthEvent::became_suspect);
  // Heard again, by heartbeats taken where the node's stream is read (the
  // controller's NodeBeats): suspect → ready as a heartbeat would.
  if (h.liveness == NodeState::suspect && !missed) return move(h, NodeState::ready, now_ms, HealthEvent::became_ready);
  return HealthEvent::none;
}

HealthEvent on_reconciled(NodeHealth& h, int64_t now_ms) {
  if (h.liveness != NodeState::fenced) return HealthEvent::none;
  return move(h, NodeState::ready, now_ms, HealthEvent::became_ready);
}

}  // namespace rackos

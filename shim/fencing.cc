// The node lease as the shim keeps it (see fencing.h).
#include "shim/fencing.h"

#include <algorithm>

namespace rackos::shim {

void on_ack(NodeStatus& status, Supervisor& sup, int64_t sent_ms, int64_t now_ms) {
  status.last_ack_ms = std::max(status.last_ack_ms, std::min(sent_ms, now_ms));
  // A late acknowledgement of a heartbeat sent before the lease lapsed grants
  // nothing: the controller may have declared the node dead since and run its
  // frozen work elsewhere. Only one that renews the lease into the future
  // (as the monitors count it) lifts the fence and thaws.
  if (status.fenced && monitor_deadline(status, status.node_lease_ms) > now_ms) {
    status.fenced = false;
    const size_t thawed = sup.set_at_most_one_frozen(false);
    sup.emit(NodeEventKind::unfenced, "", "controller acknowledgements resumed; thawed " + std::to_string(thawed) +
                                              " at-most-one processes");
  }
}

int64_t monitor_deadline(const NodeStatus& status, int64_t lease_ms) {
  if (status.last_ack_ms < 0) return 0;
  return status.last_ack_ms + lease_ms - lease_ms / 5;
}

std::optional<size_t> fence_if_silent(NodeStatus& status, Supervisor& sup, int64_t now_ms, const HealthConfig& cfg) {
  if (status.last_ack_ms < 0 || status.fenced || !shim_should_self_fence(status.last_ack_ms, now_ms, cfg)) return std::nullopt;
  status.fenced = true;
  size_t held = 0;
  sup.set_at_most_one_frozen(true);  // the monitors froze most already, a fifth of a lease earlier
  for (const auto& [id, p] : sup.processes()) held += p.state == ProcState::running && sup.is_frozen(p);
  sup.emit(NodeEventKind::fenced, "", "no acknowledgement from the controller for " + std::to_string(now_ms - status.last_ack_ms) +
                             " ms; " + std::to_string(held) + " at-most-one processes frozen until it answers (killed after " +
                             std::to_string(sup.config().fence_grace_ms) + " ms more)");
  return held;
}

size_t kill_if_fence_outlasts_grace(NodeStatus& status, Supervisor& sup, int64_t now_ms, const HealthConfig& cfg) {
  if (!status.fenced || now_ms - status.last_ack_ms < cfg.node_lease_ms + sup.config().fence_grace_ms) return 0;
  size_t killed = 0;
  for (auto& [id, p] : sup.processes()) {
    if (p.state == ProcState::running && p.spec.on_partition == OnPartition::stop) {
      (void)sup.stop(id, 0, now_ms);  // running and known: cannot fail
      ++killed;
    }
  }
  if (killed > 0) {
    sup.emit(NodeEventKind::warning, "", "fenced for " + std::to_string(now_ms - status.last_ack_ms) + " ms: killed " +
                                             std::to_string(killed) + " frozen at-most-one processes");
  }
  return killed;
}

std::optional<std::string> refuse_start(const NodeStatus& status, const Supervisor& sup, const ProcessSpec& spec) {
  if (!status.fenced || spec.on_partition != OnPartition::stop) return std::nullopt;
  return "node " + sup.config().node + " is fenced (no word from its controller): not starting " + spec.id;
}

}  // namespace rackos::shim

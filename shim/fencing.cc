// The node lease as the shim keeps it (see fencing.h).
#include "shim/fencing.h"

#include <algorithm>

namespace rackos::shim {

void on_ack(NodeStatus& status, Supervisor& sup, int64_t sent_ms, int64_t now_ms) {
  status.last_ack_ms = std::max(status.last_ack_ms, std::min(sent_ms, now_ms));
  if (status.fenced) {
    status.fenced = false;
    sup.emit(NodeEventKind::unfenced, "", "controller acknowledgements resumed");
  }
}

int64_t monitor_deadline(const NodeStatus& status, int64_t lease_ms) {
  if (status.last_ack_ms < 0) return 0;
  return status.last_ack_ms + lease_ms - lease_ms / 5;
}

std::optional<size_t> fence_if_silent(NodeStatus& status, Supervisor& sup, int64_t now_ms, const HealthConfig& cfg) {
  if (status.last_ack_ms < 0 || status.fenced || !shim_should_self_fence(status.last_ack_ms, now_ms, cfg)) return std::nullopt;
  status.fenced = true;
  size_t stopped = 0;
  for (auto& [id, p] : sup.processes()) {
    if (p.state == ProcState::running && p.spec.on_partition == OnPartition::stop) {
      (void)sup.stop(id, 0, now_ms);  // running and known: cannot fail
      ++stopped;
    }
  }
  sup.emit(NodeEventKind::fenced, "", "no acknowledgement from the controller for " + std::to_string(now_ms - status.last_ack_ms) +
                             " ms; stopped " + std::to_string(stopped) + " at-most-one processes");
  return stopped;
}

std::optional<std::string> refuse_start(const NodeStatus& status, const Supervisor& sup, const ProcessSpec& spec) {
  if (!status.fenced || spec.on_partition != OnPartition::stop) return std::nullopt;
  return "node " + sup.config().node + " is fenced (no word from its controller): not starting " + spec.id;
}

}  // namespace rackos::shim

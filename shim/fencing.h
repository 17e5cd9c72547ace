// The shim's side of the node lease, in one place: an acknowledgement renews
// it and lifts a fence; a lease's worth of silence fences the node (its
// at-most-one workloads are stopped); a fenced node refuses at-most-one
// starts; and the deadline the monitors enforce on their own (node_lease.h)
// is derived here. Used by the controller link, the local API and the loop.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/node_health.h"
#include "shim/node_api.h"
#include "shim/supervisor.h"

namespace rackos::shim {

// An acknowledgement of the heartbeat the shim sent at `sent_ms` (its own
// clock, echoed back: the lease counts from the send, so the node fences no
// later than the controller, counting from receipt, declares it dead).
void on_ack(NodeStatus& status, Supervisor& sup, int64_t sent_ms, int64_t now_ms);

// When the monitors fence, given the newest acknowledgement: a fifth of the
// lease before the controller can declare the node dead. 0: no ack yet.
int64_t monitor_deadline(const NodeStatus& status, int64_t lease_ms);

// Every tick: after a whole lease without an acknowledgement (and only once
// there has been one), fences the node and stops its at-most-one workloads.
// Returns how many it stopped when it fenced just now, else nothing.
std::optional<size_t> fence_if_silent(NodeStatus& status, Supervisor& sup, int64_t now_ms, const HealthConfig& cfg);

// Why a start must be refused (an at-most-one process on a fenced node), if so.
std::optional<std::string> refuse_start(const NodeStatus& status, const Supervisor& sup, const ProcessSpec& spec);

}  // namespace rackos::shim

// The shim's side of the node lease, in one place: an acknowledgement renews
// it, lifts a fence and thaws; a lease's worth of silence fences the node (its
// at-most-one workloads are frozen, and killed if the silence outlasts the
// grace, freeze.h); a fenced node refuses at-most-one starts; and the deadline the monitors enforce on their own (node_lease.h)
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
// later than the controller, counting from receipt, declares it dead). It
// lifts a fence (and thaws) only if the lease it grants has not run out.
void on_ack(NodeStatus& status, Supervisor& sup, int64_t sent_ms, int64_t now_ms);

// When the monitors fence, given the newest acknowledgement: a fifth of the
// lease before the controller can declare the node dead. 0: no ack yet.
int64_t monitor_deadline(const NodeStatus& status, int64_t lease_ms);

// Every tick: after a whole lease without an acknowledgement (and only once
// there has been one), fences the node and freezes its at-most-one workloads.
// Returns how many it froze when it fenced just now, else nothing.
std::optional<size_t> fence_if_silent(NodeStatus& status, Supervisor& sup, int64_t now_ms, const HealthConfig& cfg);

// Every tick: a fence that has lasted the lease plus the grace
// (SupervisorConfig::fence_grace_ms) kills the frozen at-most-one workloads:
// the controller has long since placed them elsewhere. Returns how many.
size_t kill_if_fence_outlasts_grace(NodeStatus& status, Supervisor& sup, int64_t now_ms, const HealthConfig& cfg);

// Why a start must be refused (an at-most-one process on a fenced node), if so.
std::optional<std::string> refuse_start(const NodeStatus& status, const Supervisor& sup, const ProcessSpec& spec);

}  // namespace rackos::shim

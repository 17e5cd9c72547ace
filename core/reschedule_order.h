// The order in which lost processes (their node died) are placed again:
// highest priority class first, then the oldest, then by id. Pure.
#pragma once

#include <vector>

#include "core/cluster_state.h"

namespace rackos {

// Sorts `lost` in place into rescheduling order.
void order_for_reschedule(const ClusterState& state, std::vector<ProcessId>& lost);

// Marks every process bound to `node` lost and unbinds it (Σmin freed), and
// returns them in rescheduling order. Called when the node is declared dead.
std::vector<ProcessId> take_lost_processes(ClusterState& state, NodeId node, int64_t now_ms);

}  // namespace rackos

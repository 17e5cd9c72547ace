// The order in which waiting processes are placed — new ones, restarted ones,
// and lost ones (their node died): highest priority class first, then the
// oldest, then by id. The scheduler and the rescheduling of a dead node's
// processes both use this one rule. Pure.
#pragma once

#include <vector>

#include "core/cluster_state.h"

namespace rackos {

// Sorts `ids` in place into placement order.
void order_for_placement(const ClusterState& state, std::vector<ProcessId>& ids);

// Marks every process bound to `node` lost and unbinds it (Σmin freed), and
// returns them in rescheduling order. Called when the node is declared dead.
std::vector<ProcessId> take_lost_processes(ClusterState& state, NodeId node, int64_t now_ms);

}  // namespace rackos

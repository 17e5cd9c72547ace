// Lost-process ordering and collection (see reschedule_order.h).
#include "core/reschedule_order.h"

#include <algorithm>

namespace rackos {

void order_for_placement(const ClusterState& state, std::vector<ProcessId>& lost) {
  std::sort(lost.begin(), lost.end(), [&](ProcessId a, ProcessId b) {
    const auto& ra = state.process(a);
    const auto& rb = state.process(b);
    auto pa = state.service(ra.service).spec.priority;
    auto pb = state.service(rb.service).spec.priority;
    if (pa != pb) return pa > pb;
    if (ra.created_ms != rb.created_ms) return ra.created_ms < rb.created_ms;
    return a < b;
  });
}

std::vector<ProcessId> take_lost_processes(ClusterState& state, NodeId node, int64_t now_ms) {
  std::vector<ProcessId> lost = state.node(node).processes;
  for (ProcessId p : lost) {
    state.unbind(p);
    state.set_state(p, ProcessState::lost, now_ms);
  }
  order_for_placement(state, lost);
  return lost;
}

}  // namespace rackos

// The scheduler: places pending processes on nodes, in batches, and returns the
// plan it applied (placements, preemptions, and what could not be placed and
// why) for the controller to persist in one transaction.
//
// Per process:  filter → score → pick.
//   filter  node schedulable, Σmin + this min fits (CPU, memory, countable
//           resources), placement constraints hold.
//   score   spread first (fewest instances of the service on the node, then
//           in its zone, then in its rack), then best fit on min (least free
//           CPU left), then node id: deterministic.
//   preempt a process that fits nowhere evicts the fewest lower-priority
//           processes needed on one node (ties: lowest victim priority, then
//           node id). Victims go back to pending in the same batch.
//
// Candidates come from the best-fit index (nodes by free CPU), starting at the
// first node with enough CPU, so a placement does not scan every node: the scan
// stops at a perfectly spread candidate, or after `score_window` feasible ones.
// Mutates the ClusterState it is given (binds, unbinds, states); no I/O.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/cluster_state.h"

namespace rackos {

struct SchedulerConfig {
  // Feasible candidates scored per placement before taking the best seen
  // (like Kubernetes' percentageOfNodesToScore). The scan always goes on past
  // this while the best candidate still holds an instance of the same service,
  // so instances share a node only when no other node fits.
  int score_window = 32;
  bool preemption = true;
  int64_t now_ms = 0;
  // Processes being moved away from a node that cannot give them enough:
  // each must not land on the node named here.
  std::vector<std::pair<ProcessId, NodeId>> avoid;
};

struct Placement {
  ProcessId process;
  NodeId node = kNoNode;
};

struct Preemption {
  ProcessId victim;
  NodeId node = kNoNode;
  ProcessId preemptor;
};

struct Unplaceable {
  ProcessId process;
  std::string reason;  // e.g. "0/10 nodes fit: 6 insufficient cpu, 4 do not match zone=eu1"
};

struct PlacementPlan {
  std::vector<Placement> placements;
  std::vector<Preemption> preemptions;
  std::vector<Unplaceable> unplaceable;
};

// Places `pending` (processes not bound to any node), highest priority first,
// then oldest, then id. Placed processes are bound and set `starting`;
// preempted ones are unbound, set `pending`, and retried in the same call.
PlacementPlan schedule(ClusterState& state, std::span<const ProcessId> pending, const SchedulerConfig& cfg);

// The filter for one node, exposed for tests and for explaining decisions:
// empty when `service` fits on `node` now, else the reason it does not.
std::string why_not_fit(const ClusterState& state, const Service& service, const Node& node);

}  // namespace rackos

// Integer identities and small enums shared by every part of core: nodes,
// services, processes, priority classes, node and process states.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>

namespace rackos {

using NodeId = uint32_t;
using ServiceId = uint32_t;
inline constexpr NodeId kNoNode = std::numeric_limits<NodeId>::max();
inline constexpr ServiceId kNoService = std::numeric_limits<ServiceId>::max();

// A process id is a table slot plus the slot's generation, packed in 64 bits:
// O(1) lookup, and an id is never reused for another process.
struct ProcessId {
  uint64_t value = 0;

  static constexpr ProcessId make(uint32_t slot, uint32_t generation) {
    return ProcessId{(uint64_t{generation} << 32) | slot};
  }
  constexpr uint32_t slot() const { return static_cast<uint32_t>(value & 0xffffffffu); }
  constexpr uint32_t generation() const { return static_cast<uint32_t>(value >> 32); }
  constexpr bool valid() const { return generation() != 0; }
  friend constexpr bool operator==(ProcessId a, ProcessId b) { return a.value == b.value; }
  friend constexpr bool operator<(ProcessId a, ProcessId b) { return a.value < b.value; }
};

// Priority classes, lowest first. Decide who is preempted and who restarts first.
enum class PriorityClass : uint8_t { batch = 0, normal = 1, high = 2, system = 3 };
inline constexpr int kPriorityClassCount = 4;

std::string_view to_string(PriorityClass p);
std::optional<PriorityClass> parse_priority_class(std::string_view s);
// CPU weight multiplier of a class: weight is proportional to min × this.
uint32_t priority_weight(PriorityClass p);

// What a shim reports (ProcessEvent.kind on the wire, and its own event log):
//   started / start_failed / exited   a launch's life
//   evict      memory cannot be kept: the controller should move it
//   fenced / unfenced   the node's lease ran out / acks resumed
//   adopted / takeover  a new shim took over running work
//   warning    anything else worth a line
enum class NodeEventKind : uint8_t { started, start_failed, exited, evict, fenced, unfenced, adopted, takeover, warning };
std::string_view to_string(NodeEventKind k);
std::optional<NodeEventKind> parse_node_event_kind(std::string_view s);

// Node states (DESIGN.md "Failure handling").
//   ready     heartbeats on time; accepts placements
//   suspect   3 heartbeats missed; no new placements, processes stay
//   dead      lease expired; its processes are lost and rescheduled
//   draining  operator asked to empty it; no new placements
//   fenced    came back after being declared dead; must stop stale processes
//             before it is ready again
enum class NodeState : uint8_t { ready, suspect, dead, draining, fenced };
std::string_view to_string(NodeState s);

// Process states.
//   pending   wants a node (new, preempted or lost)
//   starting  bound to a node; the shim has been told to start it
//   running   the shim reports it running
//   stopping  asked to stop (scale down, preemption, drain, user stop)
//   backoff   exited; waiting for its restart time (restart policy)
//   exited    finished for good (policy says no restart, or stopped by user)
//   lost      its node died; about to be rescheduled
enum class ProcessState : uint8_t { pending, starting, running, stopping, backoff, exited, lost };
std::string_view to_string(ProcessState s);

// What a process needs when its node is partitioned from the controller.
//   stop      at-most-one copy: the shim self-fences (stops it) after node_lease
//   keep      keep running; a second copy may run elsewhere for a while
enum class OnPartition : uint8_t { stop, keep };
std::string_view to_string(OnPartition p);
std::optional<OnPartition> parse_on_partition(std::string_view s);
std::optional<ProcessState> parse_process_state(std::string_view s);

}  // namespace rackos

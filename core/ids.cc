// String forms of the enums in ids.h (for specs, the CLI and JSON).
#include "core/ids.h"

namespace rackos {

std::string_view to_string(PriorityClass p) {
  switch (p) {
    case PriorityClass::batch: return "batch";
    case PriorityClass::normal: return "normal";
    case PriorityClass::high: return "high";
    case PriorityClass::system: return "system";
  }
  return "?";
}

std::optional<PriorityClass> parse_priority_class(std::string_view s) {
  if (s == "batch") return PriorityClass::batch;
  if (s == "normal") return PriorityClass::normal;
  if (s == "high") return PriorityClass::high;
  if (s == "system") return PriorityClass::system;
  return std::nullopt;
}

uint32_t priority_weight(PriorityClass p) {
  switch (p) {
    case PriorityClass::batch: return 1;
    case PriorityClass::normal: return 2;
    case PriorityClass::high: return 4;
    case PriorityClass::system: return 8;
  }
  return 1;
}

std::string_view to_string(NodeState s) {
  switch (s) {
    case NodeState::ready: return "ready";
    case NodeState::suspect: return "suspect";
    case NodeState::dead: return "dead";
    case NodeState::draining: return "draining";
    case NodeState::fenced: return "fenced";
  }
  return "?";
}

std::string_view to_string(ProcessState s) {
  switch (s) {
    case ProcessState::pending: return "pending";
    case ProcessState::starting: return "starting";
    case ProcessState::running: return "running";
    case ProcessState::stopping: return "stopping";
    case ProcessState::backoff: return "backoff";
    case ProcessState::exited: return "exited";
    case ProcessState::lost: return "lost";
  }
  return "?";
}

std::optional<OnPartition> parse_on_partition(std::string_view s) {
  for (auto p : {OnPartition::stop, OnPartition::keep}) {
    if (to_string(p) == s) return p;
  }
  return std::nullopt;
}

std::optional<ProcessState> parse_process_state(std::string_view s) {
  for (auto st : {ProcessState::pending, ProcessState::starting, ProcessState::running, ProcessState::stopping,
                  ProcessState::backoff, ProcessState::exited, ProcessState::lost}) {
    if (to_string(st) == s) return st;
  }
  return std::nullopt;
}

std::string_view to_string(OnPartition p) {
  return p == OnPartition::stop ? "stop" : "keep";
}

std::string_view to_string(NodeEventKind k) {
  switch (k) {
    case NodeEventKind::started: return "started";
    case NodeEventKind::start_failed: return "start_failed";
    case NodeEventKind::exited: return "exited";
    case NodeEventKind::evict: return "evict";
    case NodeEventKind::fenced: return "fenced";
    case NodeEventKind::unfenced: return "unfenced";
    case NodeEventKind::adopted: return "adopted";
    case NodeEventKind::takeover: return "takeover";
    case NodeEventKind::warning: return "warning";
  }
  return "warning";
}

std::optional<NodeEventKind> parse_node_event_kind(std::string_view s) {
  for (auto k : {NodeEventKind::started, NodeEventKind::start_failed, NodeEventKind::exited, NodeEventKind::evict,
                 NodeEventKind::fenced, NodeEventKind::unfenced, NodeEventKind::adopted, NodeEventKind::takeover,
                 NodeEventKind::warning}) {
    if (to_string(k) == s) return k;
  }
  return std::nullopt;
}

}  // namespace rackos

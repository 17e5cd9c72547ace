// Conversions between core values and the rackos.v1 wire types (see convert.h).
#include "proto/convert.h"

namespace rackos {


v1::ProcessState to_proto(ProcessState s) {
  switch (s) {
    case ProcessState::pending: return v1::PENDING;
    case ProcessState::starting: return v1::STARTING;
    case ProcessState::running: return v1::RUNNING;
    case ProcessState::stopping: return v1::STOPPING;
    case ProcessState::backoff: return v1::BACKOFF;
    case ProcessState::exited: return v1::EXITED;
    case ProcessState::lost: return v1::LOST;
  }
  return v1::PROCESS_STATE_UNSPECIFIED;
}

v1::NodeState to_proto(NodeState s) {
  switch (s) {
    case NodeState::ready: return v1::READY;
    case NodeState::suspect: return v1::SUSPECT;
    case NodeState::dead: return v1::DEAD;
    case NodeState::draining: return v1::DRAINING;
    case NodeState::fenced: return v1::FENCED;
  }
  return v1::NODE_STATE_UNSPECIFIED;
}

std::string_view to_string(v1::ProcessState s) {
  switch (s) {
    case v1::PENDING: return "pending";
    case v1::STARTING: return "starting";
    case v1::RUNNING: return "running";
    case v1::STOPPING: return "stopping";
    case v1::BACKOFF: return "backoff";
    case v1::EXITED: return "exited";
    case v1::LOST: return "lost";
    default: return "unknown";
  }
}

std::string_view to_string(v1::NodeState s) {
  switch (s) {
    case v1::READY: return "ready";
    case v1::SUSPECT: return "suspect";
    case v1::DEAD: return "dead";
    case v1::DRAINING: return "draining";
    case v1::FENCED: return "fenced";
    default: return "unknown";
  }
}

v1::Envelope to_proto(const Envelope& e) {
  v1::Envelope out;
  out.mutable_cpu_millis()->set_min(e.cpu_millis.min);
  out.mutable_cpu_millis()->set_max(e.cpu_millis.max);
  out.mutable_cpu_millis()->set_burst(e.cpu_millis.burst);
  out.mutable_memory_bytes()->set_min(e.memory_bytes.min);
  out.mutable_memory_bytes()->set_max(e.memory_bytes.max);
  out.mutable_memory_bytes()->set_burst(e.memory_bytes.burst);
  return out;
}

Envelope from_proto(const v1::Envelope& e) {
  return Envelope{{e.cpu_millis().min(), e.cpu_millis().max(), e.cpu_millis().burst()},
                  {e.memory_bytes().min(), e.memory_bytes().max(), e.memory_bytes().burst()}};
}

}  // namespace rackos

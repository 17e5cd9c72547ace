// The shim's node-local API: one JSON object a line over a Unix socket
// (<state-dir>/shim.sock), answered by one JSON object a line. The controller
// (and `rackos shim ctl`, and the tests) drive a node through it.
//
//   {"op":"status"}                               node, pid, role, enforcement, fenced, counts
//   {"op":"start","id":..,"service":..,"argv":[..],"env":{..},"workdir":..,
//    "uid":..,"gid":..,"cpu":"MIN:MAX[:BURST]","memory":"MIN:MAX[:BURST]",
//    "priority":"normal","on_partition":"stop|keep"}  → {"ok":true,"pid":N}
//   {"op":"stop","id":..,"grace_ms":5000}
//   {"op":"update","id":..,"cpu":..,"memory":..,"priority":..}   envelope in place
//   {"op":"list"}                                 every process: state, pid, use, allocation, exit
//   {"op":"forget","id":..}                       drop an exited record
//   {"op":"events","since":SEQ}                   exits, evictions, fencing, takeovers
//   {"op":"ack","sent_ms":T}                      controller's heartbeat acknowledgement; T is the
//                                                 shim-clock send time of the acknowledged heartbeat
//                                                 (the lease counts from it; default: now)
//   {"op":"handover"}                             active shim exits, workloads untouched
// Errors: {"ok":false,"error":"one clear line"}.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "shim/supervisor.h"

namespace rackos::shim {

struct NodeStatus {
  std::string enforcement;   // "cgroup v1 (...)" or "enforcement off: ..."
  bool fenced = false;
  bool handover_requested = false;
  std::string reexec_binary;  // with a handover: re-execute this as the new standby (an upgrade)
  int64_t last_ack_ms = -1;  // monotonic; -1: no controller yet
  int64_t register_sent_ms = -1;  // when the Register of the current stream went out (its answer is an ack too)
  int64_t node_lease_ms = 500;  // the lease an acknowledgement grants (fencing.h)
  int64_t started_wall_ms = 0;
  std::string version;
  // The cluster this node joined and the newest store revision it has seen
  // (persisted in <state-dir>/cluster.json; presented when registering).
  std::string cluster_id;
  uint64_t store_revision = 0;
  bool identity_dirty = false;  // changed since last written
};

// Handles one request against the supervisor. Pure of I/O except what the
// supervisor does.
nlohmann::json handle_request(const nlohmann::json& req, Supervisor& sup, NodeStatus& status, int64_t now_ms);

// A JSON view of one process (for list and tools).
nlohmann::json process_json(const ManagedProcess& p);

}  // namespace rackos::shim

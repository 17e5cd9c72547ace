// What the shim's loop says to its controller and does with what it hears:
// the Register message (capacity, labels, token, every process it holds, so a
// restarted controller adopts instead of starting twice), heartbeats (usage
// of live processes every Nth), events, and the controller's start/stop/update/log/ack orders
// carried out against the supervisor. Runs on the loop thread; no network.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "rackos/v1/node.pb.h"
#include "shim/node_api.h"
#include "shim/supervisor.h"

namespace rackos::shim {

struct NodeIdentity {
  std::string node;
  std::string token;
  int64_t cpu_millis = 0;
  int64_t memory_bytes = 0;
  std::map<std::string, std::string> labels;
};

v1::ShimMessage make_register(const NodeIdentity& id, const Supervisor& sup, const NodeStatus& status);
v1::ShimMessage make_heartbeat(const Supervisor& sup, const NodeStatus& status, uint64_t seq, int64_t sent_ms,
                               bool with_processes);
v1::ProcessInfo process_info(const ManagedProcess& p);
// How a process was launched (from its launch.json), as a controller's start
// order: what a controller started with --adopt rebuilds its service from.
std::optional<v1::StartProcess> launch_of(const ManagedProcess& p);
// A supervisor event as the controller hears it (exits carry their status).
v1::ShimMessage event_message(const ShimEvent& e, const Supervisor& sup);

// Carries out one controller message; returns what to answer. `power_off` is
// set when the controller injected a power cut (the caller dies at once).
std::vector<v1::ShimMessage> handle_controller_message(const v1::ControllerMessage& m, Supervisor& sup,
                                                       NodeStatus& status, int64_t now_ms, bool& power_off);

}  // namespace rackos::shim

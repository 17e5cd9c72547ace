// Elastic instance count (DESIGN.md): when a service's processes want more CPU
// than they get — at their cap, or on a node that cannot give more — for long
// enough, and the service allows more instances, add one; when the load would
// fit comfortably in one instance fewer for long enough, remove one. A service
// held at one instance that outgrows its node is moved to a node with room.
// Pure: observed load and the time in, a decision and the new rule state out.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/service_spec.h"

namespace rackos {

struct InstanceLoad {
  ProcessId id;
  int64_t cpu_demand_millis = 0;   // what it would use
  int64_t cpu_target_millis = 0;   // what its node's allocator gives it
  int64_t created_ms = 0;
};

struct ScalingConfig {
  int64_t up_after_ms = 3'000;        // starved this long → grow
  int64_t down_after_ms = 60'000;     // idle this long → shrink
  int64_t cooldown_ms = 10'000;       // between two changes of one service
  int64_t starved_percent = 10;       // demand > target by more than this is starved
  int64_t down_fill_percent = 60;     // shrink if load fits in n−1 instances at this much of max
};

struct ScalingState {
  int64_t starved_since_ms = -1;
  int64_t idle_since_ms = -1;
  int64_t last_change_ms = INT64_MIN / 2;
};

enum class ScalingAction : uint8_t { none, add, remove, move };
std::string_view to_string(ScalingAction a);

struct ScalingDecision {
  ScalingAction action = ScalingAction::none;
  ProcessId target;       // remove: the instance to stop; move: the one to move
  std::string reason;
};

ScalingDecision decide_scaling(const ServiceSpec& spec, std::span<const InstanceLoad> instances, ScalingState& state,
                               int64_t now_ms, const ScalingConfig& cfg);

// Instance reconciliation: which of a service's live instances go when it has
// `extra` too many — those doing least first (exited, then waiting: pending,
// lost or backing off, then starting, then running), and within each the
// highest instance number, so the instances kept are the oldest names.
struct InstanceState {
  ProcessId id;
  ProcessState state = ProcessState::pending;
  uint32_t instance = 0;
};
std::vector<ProcessId> choose_surplus(std::vector<InstanceState> live, size_t extra);

}  // namespace rackos

// The elastic instance rule (see instance_scaling.h).
#include "core/instance_scaling.h"

#include <algorithm>

#include "core/quantity.h"

namespace rackos {
namespace {

// The newest instance: stopped first, since the oldest have the warmest caches.
ProcessId newest(std::span<const InstanceLoad> instances) {
  const InstanceLoad* n = &instances[0];
  for (const auto& i : instances) {
    if (i.created_ms > n->created_ms || (i.created_ms == n->created_ms && n->id < i.id)) n = &i;
  }
  return n->id;
}

}  // namespace

std::string_view to_string(ScalingAction a) {
  switch (a) {
    case ScalingAction::none: return "none";
    case ScalingAction::add: return "add";
    case ScalingAction::remove: return "remove";
    case ScalingAction::move: return "move";
  }
  return "?";
}

ScalingDecision decide_scaling(const ServiceSpec& spec, std::span<const InstanceLoad> instances, ScalingState& st,
                               int64_t now_ms, const ScalingConfig& cfg) {
  ScalingDecision d;
  const size_t count = instances.size();
  // Bounds first: they are not load decisions and need no waiting.
  if (count < spec.instances.min) {
    d.action = ScalingAction::add;
    d.reason = std::to_string(count) + " instances, below instances.min " + std::to_string(spec.instances.min);
    return d;
  }
  if (count > spec.instances.max) {
    d.action = ScalingAction::remove;
    d.target = newest(instances);
    d.reason = std::to_string(count) + " instances, above instances.max " + std::to_string(spec.instances.max);
    return d;
  }
  if (count == 0) return d;

  int64_t demand = 0, target = 0;
  size_t starved = 0;
  const InstanceLoad* most_starved = nullptr;
  int64_t worst_gap = 0;
  for (const auto& i : instances) {
    demand += i.cpu_demand_millis;
    target += i.cpu_target_millis;
    int64_t gap = i.cpu_demand_millis - i.cpu_target_millis;
    if (gap * 100 > i.cpu_target_millis * cfg.starved_percent && gap > 0) {
      ++starved;
      if (gap > worst_gap) {
        worst_gap = gap;
        most_starved = &i;
      }
    }
  }
  const int64_t cpu_max = spec.envelope.cpu_millis.max;
  const bool is_starved = starved * 2 > count || (count == 1 && starved == 1);
  const bool is_idle = count > spec.instances.min &&
                       demand * 100 <= static_cast<int64_t>(count - 1) * cpu_max * cfg.down_fill_percent;

  st.starved_since_ms = is_starved ? (st.starved_since_ms < 0 ? now_ms : st.starved_since_ms) : -1;
  st.idle_since_ms = is_idle ? (st.idle_since_ms < 0 ? now_ms : st.idle_since_ms) : -1;
  if (now_ms - st.last_change_ms < cfg.cooldown_ms) return d;

  if (is_starved && now_ms - st.starved_since_ms >= cfg.up_after_ms) {
    if (count < spec.instances.max) {
      d.action = ScalingAction::add;
      d.reason = "demand " + format_cpu_millis(demand) + " exceeds allocation " + format_cpu_millis(target) + " on " +
                 std::to_string(starved) + "/" + std::to_string(count) + " instances";
    } else if (count == 1 && most_starved != nullptr && most_starved->cpu_target_millis < cpu_max) {
      // One instance allowed, below its own max: its node cannot give more.
      d.action = ScalingAction::move;
      d.target = most_starved->id;
      d.reason = "demand " + format_cpu_millis(most_starved->cpu_demand_millis) + " but its node gives " +
                 format_cpu_millis(most_starved->cpu_target_millis) + " (max " + format_cpu_millis(cpu_max) +
                 "); moving to a node with room";
    } else {
      return d;  // at instances.max and at the cap: nothing to do but serve max
    }
    st.last_change_ms = now_ms;
    st.starved_since_ms = -1;
    return d;
  }
  if (is_idle && now_ms - st.idle_since_ms >= cfg.down_after_ms) {
    d.action = ScalingAction::remove;
    d.target = newest(instances);
    d.reason = "demand " + format_cpu_millis(demand) + " fits in " + std::to_string(count - 1) + " instances";
    st.last_change_ms = now_ms;
    st.idle_since_ms = -1;
  }
  return d;
}

std::vector<ProcessId> choose_surplus(std::vector<InstanceState> live, size_t extra) {
  auto rank = [](ProcessState st) {
    switch (st) {
      case ProcessState::exited: return 0;
      case ProcessState::pending:
      case ProcessState::lost:
      case ProcessState::backoff: return 1;
      case ProcessState::starting: return 2;
      default: return 3;
    }
  };
  std::sort(live.begin(), live.end(), [&](const InstanceState& a, const InstanceState& b) {
    if (rank(a.state) != rank(b.state)) return rank(a.state) < rank(b.state);
    return a.instance > b.instance;
  });
  std::vector<ProcessId> out;
  for (size_t i = 0; i < extra && i < live.size(); ++i) out.push_back(live[i].id);
  return out;
}

}  // namespace rackos

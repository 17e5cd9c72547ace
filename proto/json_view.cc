// JSON views of processes and nodes (see json_view.h).
#include "proto/json_view.h"

#include "proto/convert.h"

namespace rackos {

using nlohmann::json;

namespace {
json range_json(const v1::Range& r) { return {{"min", r.min()}, {"max", r.max()}, {"burst", r.burst()}}; }

}  // namespace

json process_json(const v1::ProcessInfo& p) {
  const auto& a = p.allocation();
  return {{"name", p.id()},
          {"service", p.service()},
          {"node", p.node()},
          {"state", std::string(to_string(p.state()))},
          {"pid", p.pid()},
          {"launch", p.launch()},
          {"restarts", p.restarts()},
          {"priority", p.priority()},
          {"envelope", {{"cpu_millis", range_json(p.envelope().cpu_millis())},
                        {"memory_bytes", range_json(p.envelope().memory_bytes())},
                        {"cpu_min_learned", p.cpu_min_learned()},
                        {"memory_min_learned", p.memory_min_learned()}}},
          {"allocation", {{"cpu_target_millis", a.cpu_target_millis()},
                          {"cpu_quota_millis", a.cpu_quota_millis()},
                          {"cpu_burst_millis", a.cpu_burst_millis()},
                          {"cpu_shares", a.cpu_shares()},
                          {"memory_low_bytes", a.memory_low_bytes()},
                          {"memory_high_bytes", a.memory_high_bytes()},
                          {"memory_max_bytes", a.memory_max_bytes()}}},
          {"usage", {{"cpu_used_millis", p.usage().cpu_used_millis()},
                     {"cpu_demand_millis", p.usage().cpu_demand_millis()},
                     {"memory_bytes", p.usage().memory_bytes()}}},
          {"exit_code", p.exit().exit_code()},
          {"signal", p.exit().signal()},
          {"reason", p.reason()}};
}

json node_json(const v1::NodeInfo& n) {
  json labels = json::object();
  for (const auto& [k, v] : n.labels()) labels[k] = v;
  return {{"name", n.name()},
          {"state", std::string(to_string(n.state()))},
          {"cpu_millis", n.cpu_millis()},
          {"memory_bytes", n.memory_bytes()},
          {"reserved_cpu_millis", n.reserved_cpu_millis()},
          {"reserved_memory_bytes", n.reserved_memory_bytes()},
          {"processes", n.processes()},
          {"labels", labels},
          {"enforcement", n.enforcement()}};
}

}  // namespace rackos

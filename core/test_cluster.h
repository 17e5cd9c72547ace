// Helpers for core tests: small clusters and services built in one line.
#pragma once

#include <string>

#include "core/cluster_state.h"

namespace rackos::testing {

inline NodeId add_node(ClusterState& st, const std::string& name, int64_t cpu_millis, int64_t memory_bytes,
                       std::map<std::string, std::string> labels = {}, std::map<std::string, int64_t> res = {}) {
  NodeSpec n;
  n.name = name;
  n.cpu_millis = cpu_millis;
  n.memory_bytes = memory_bytes;
  n.labels = std::move(labels);
  n.resources = std::move(res);
  auto r = st.add_node(n, 0);
  if (!r) throw std::runtime_error(r.error().message);
  return *r;
}

inline ServiceSpec service_spec(const std::string& name, int64_t cpu_min, int64_t mem_min,
                                PriorityClass prio = PriorityClass::normal, uint32_t instances = 1) {
  ServiceSpec s;
  s.name = name;
  s.command = {"/bin/true"};
  s.envelope.cpu_millis = {cpu_min, cpu_min * 2 + 1, cpu_min * 4 + 1};
  s.envelope.memory_bytes = {mem_min, mem_min * 2 + 1, mem_min * 2 + 1};
  s.priority = prio;
  s.instances = {instances, instances};
  return s;
}

inline ServiceId add_service(ClusterState& st, const ServiceSpec& spec) {
  auto r = st.add_service(spec);
  if (!r) throw std::runtime_error(r.error().message);
  return *r;
}

inline constexpr int64_t GiB = 1ll << 30;
inline constexpr int64_t MiB = 1ll << 20;

}  // namespace rackos::testing

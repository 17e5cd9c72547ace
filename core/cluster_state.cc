// ClusterState: nodes, services, processes and the indexes kept in step with
// every change (see cluster_state.h).
#include "core/cluster_state.h"

#include <algorithm>
#include <cassert>

#include "core/quantity.h"

namespace rackos {

const std::string* Node::label(std::string_view key) const {
  auto it = std::lower_bound(labels.begin(), labels.end(), key,
                             [](const auto& kv, std::string_view k) { return kv.first < k; });
  if (it == labels.end() || it->first != key) return nullptr;
  return &it->second;
}

Result<NodeId> ClusterState::add_node(const NodeSpec& spec, int64_t now_ms) {
  if (spec.name.empty()) return Error{"node name is empty"};
  if (node_by_name_.count(spec.name)) return Error{"node \"" + spec.name + "\" already exists"};
  if (spec.cpu_millis <= 0) return Error{"node " + spec.name + ": cpu " + format_cpu_millis(spec.cpu_millis) + " must be greater than 0"};
  if (spec.memory_bytes <= 0) return Error{"node " + spec.name + ": memory " + format_memory_bytes(spec.memory_bytes) + " must be greater than 0"};
  Node n;
  n.id = static_cast<NodeId>(nodes_.size());
  n.name = spec.name;
  n.capacity.cpu_millis = spec.cpu_millis;
  n.capacity.memory_bytes = spec.memory_bytes;
  for (const auto& [name, count] : spec.resources) {
    if (count < 0) return Error{"node " + spec.name + ": resource " + name + " " + std::to_string(count) + " is negative"};
    auto slot = resource_names_.intern(name);
    if (!slot) return Error{"node " + spec.name + ": resource \"" + name + "\" is one kind too many (at most 4 kinds in a cluster)"};
    n.capacity.extended[static_cast<size_t>(*slot)] = count;
  }
  for (const auto& kv : spec.labels) n.labels.emplace_back(kv.first, kv.second);  // std::map: sorted
  for (int level = 0; level < kSpreadLevels; ++level) {
    if (const std::string* v = n.label(cfg_.spread_keys[static_cast<size_t>(level)])) {
      auto& dom = domains_[static_cast<size_t>(level)];
      auto [it, _] = dom.emplace(*v, static_cast<uint32_t>(dom.size()));
      n.domain[static_cast<size_t>(level)] = it->second;
    }
  }
  n.health.last_heartbeat_ms = now_ms;
  n.health.state_since_ms = now_ms;
  node_by_name_[n.name] = n.id;
  nodes_.push_back(std::move(n));
  indexed_key_.push_back(-1);
  index_insert(nodes_.back().id);
  return nodes_.back().id;
}

std::optional<NodeId> ClusterState::find_node(std::string_view name) const {
  auto it = node_by_name_.find(std::string(name));
  if (it == node_by_name_.end()) return std::nullopt;
  return it->second;
}

void ClusterState::update_health(NodeId id, const NodeHealth& h) {
  index_erase(id);
  nodes_[id].health = h;
  index_insert(id);
}

void ClusterState::index_insert(NodeId id) {
  const Node& n = nodes_[id];
  if (n.removed || !n.health.schedulable()) return;
  int64_t key = n.capacity.cpu_millis - n.reserved.cpu_millis;
  by_free_cpu_.emplace(key, id);
  indexed_key_[id] = key;
}

void ClusterState::index_erase(NodeId id) {
  if (indexed_key_[id] < 0) return;
  by_free_cpu_.erase({indexed_key_[id], id});
  indexed_key_[id] = -1;
}

Result<ServiceId> ClusterState::add_service(const ServiceSpec& spec) {
  if (service_by_name_.count(spec.name)) return Error{"service \"" + spec.name + "\" already exists"};
  Service s;
  s.id = static_cast<ServiceId>(services_.size());
  s.spec = spec;
  s.request.cpu_millis = spec.envelope.cpu_millis.min;
  s.request.memory_bytes = spec.envelope.memory_bytes.min;
  for (const auto& [name, count] : spec.resources) {
    auto slot = resource_names_.intern(name);
    if (!slot) return Error{"resources." + name + ": no room for another kind of countable resource (at most 4 in a cluster)"};
    s.request.extended[static_cast<size_t>(*slot)] = count;
  }
  service_by_name_[s.spec.name] = s.id;
  services_.push_back(std::move(s));
  return services_.back().id;
}

std::optional<ServiceId> ClusterState::find_service(std::string_view name) const {
  auto it = service_by_name_.find(std::string(name));
  if (it == service_by_name_.end()) return std::nullopt;
  return it->second;
}

void ClusterState::replace_spec(ServiceId id, const ServiceSpec& spec) {
  Service& s = services_[id];
  // Re-reserve every bound process under the new min.
  std::vector<std::pair<ProcessId, NodeId>> bound;
  for (ProcessId p : s.processes) {
    const auto& r = table_.at(p);
    if (r.node != kNoNode) bound.emplace_back(p, r.node);
  }
  for (auto& [p, n] : bound) unbind(p);
  s.spec = spec;
  s.request = Resources{};
  s.request.cpu_millis = spec.envelope.cpu_millis.min;
  s.request.memory_bytes = spec.envelope.memory_bytes.min;
  for (const auto& [name, count] : spec.resources) {
    if (auto slot = resource_names_.intern(name)) s.request.extended[static_cast<size_t>(*slot)] = count;
  }
  for (auto& [p, n] : bound) bind(p, n);
}

void ClusterState::mark_service_removed(ServiceId id) {
  Service& s = services_[id];
  s.removed = true;
  service_by_name_.erase(s.spec.name);
}

ProcessId ClusterState::create_process(ServiceId service, int64_t now_ms, std::optional<uint32_t> instance) {
  Service& s = services_[service];
  const uint32_t ordinal = instance ? *instance : s.next_instance;
  s.next_instance = std::max(s.next_instance, ordinal + 1);
  ProcessId id = table_.add(service, ordinal, now_ms);
  ProcessRecord& r = table_.at(id);
  r.service_pos = static_cast<uint32_t>(s.processes.size());
  s.processes.push_back(id);
  return id;
}

void ClusterState::remove_process(ProcessId id) {
  ProcessRecord& r = table_.at(id);
  if (r.node != kNoNode) unbind(id);
  Service& s = services_[r.service];
  uint32_t pos = r.service_pos;
  ProcessId last = s.processes.back();
  s.processes[pos] = last;
  table_.at(last).service_pos = pos;
  s.processes.pop_back();
  table_.remove(id);
}

void ClusterState::set_state(ProcessId id, ProcessState st, int64_t now_ms) {
  ProcessRecord& r = table_.at(id);
  if (r.state == st) return;
  r.state = st;
  r.state_since_ms = now_ms;
}

void ClusterState::bind(ProcessId id, NodeId node_id) {
  ProcessRecord& r = table_.at(id);
  assert(r.node == kNoNode);
  Service& s = services_[r.service];
  Node& n = nodes_[node_id];
  index_erase(node_id);
  n.reserved += s.request;
  r.node = node_id;
  r.node_pos = static_cast<uint32_t>(n.processes.size());
  n.processes.push_back(id);
  ++s.per_node[node_id];
  for (int level = 0; level < kSpreadLevels; ++level) {
    uint32_t d = n.domain[static_cast<size_t>(level)];
    if (d != kNoDomain) ++s.per_domain[static_cast<size_t>(level)][d];
  }
  index_insert(node_id);
}

void ClusterState::unbind(ProcessId id) {
  ProcessRecord& r = table_.at(id);
  if (r.node == kNoNode) return;
  NodeId node_id = r.node;
  Service& s = services_[r.service];
  Node& n = nodes_[node_id];
  index_erase(node_id);
  n.reserved -= s.request;
  uint32_t pos = r.node_pos;
  ProcessId last = n.processes.back();
  n.processes[pos] = last;
  table_.at(last).node_pos = pos;
  n.processes.pop_back();
  r.node = kNoNode;
  if (--s.per_node[node_id] == 0) s.per_node.erase(node_id);
  for (int level = 0; level < kSpreadLevels; ++level) {
    uint32_t d = n.domain[static_cast<size_t>(level)];
    if (d == kNoDomain) continue;
    auto& m = s.per_domain[static_cast<size_t>(level)];
    if (--m[d] == 0) m.erase(d);
  }
  index_insert(node_id);
}

std::string ClusterState::check_invariants() const {
  std::vector<Resources> reserved(nodes_.size());
  std::vector<size_t> count(nodes_.size());
  std::string broken;
  table_.for_each([&](const ProcessRecord& r) {
    if (!broken.empty()) return;
    if (r.node == kNoNode) return;
    if (r.node >= nodes_.size()) {
      broken = "process bound to unknown node " + std::to_string(r.node);
      return;
    }
    reserved[r.node] += services_[r.service].request;
    ++count[r.node];
    if (nodes_[r.node].processes[r.node_pos] != r.id) broken = "node process list out of step on " + nodes_[r.node].name;
  });
  if (!broken.empty()) return broken;
  for (const Node& n : nodes_) {
    if (!(reserved[n.id] == n.reserved)) return "node " + n.name + ": reserved min out of step with its processes";
    if (count[n.id] != n.processes.size()) return "node " + n.name + ": process count out of step";
    if (!fits(n.reserved, n.capacity)) {
      return "node " + n.name + ": Σmin exceeds capacity (cpu " + format_cpu_millis(n.reserved.cpu_millis) + " of " +
             format_cpu_millis(n.capacity.cpu_millis) + ", memory " + format_memory_bytes(n.reserved.memory_bytes) +
             " of " + format_memory_bytes(n.capacity.memory_bytes) + ")";
    }
    bool should_index = !n.removed && n.health.schedulable();
    bool indexed = by_free_cpu_.count({n.capacity.cpu_millis - n.reserved.cpu_millis, n.id}) == 1;
    if (should_index != indexed) return "node " + n.name + ": best-fit index out of step";
  }
  for (const Service& s : services_) {
    size_t bound = 0;
    for (ProcessId p : s.processes) {
      const ProcessRecord* r = table_.find(p);
      if (r == nullptr) return "service " + s.spec.name + " lists a process not in the table";
      if (r->node != kNoNode) ++bound;
    }
    size_t counted = 0;
    for (const auto& kv : s.per_node) counted += kv.second;
    if (counted != bound) return "service " + s.spec.name + ": per-node instance counts out of step";
  }
  if (by_free_cpu_.size() > nodes_.size()) return "best-fit index holds more entries than nodes";
  return {};
}

}  // namespace rackos

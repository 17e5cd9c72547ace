// The cluster as the controller (and the simulator) holds it: nodes, services
// and the process table, plus the indexes the scheduler needs kept up to date
// on every bind/unbind so that one placement never scans every node:
//   - schedulable nodes ordered by free CPU min (best-fit lookups),
//   - per service: instances per node and per failure domain (spreading).
// All changes go through the methods here so the indexes stay true.
// Not thread-safe: owned by one writer loop. No I/O, no clock.
#pragma once

#include <array>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/node_health.h"
#include "core/process_table.h"
#include "core/resources.h"
#include "core/result.h"
#include "core/service_spec.h"

namespace rackos {

// Label keys that name failure domains, widest first. Spreading tries to put
// a service's instances in different zones, then racks, then nodes.
inline constexpr int kSpreadLevels = 2;
inline constexpr uint32_t kNoDomain = 0xffffffffu;

struct NodeSpec {
  std::string name;
  int64_t cpu_millis = 0;
  int64_t memory_bytes = 0;
  std::map<std::string, int64_t> resources;   // countable, e.g. {"gpu": 8}
  std::map<std::string, std::string> labels;  // e.g. {"rack": "r12", "zone": "eu1"}
};

struct Node {
  NodeId id = kNoNode;
  std::string name;
  Resources capacity;
  Resources reserved;                         // Σ min of processes bound here
  std::vector<std::pair<std::string, std::string>> labels;  // sorted by key
  std::array<uint32_t, kSpreadLevels> domain{kNoDomain, kNoDomain};
  NodeHealth health;
  bool removed = false;
  std::vector<ProcessId> processes;           // bound here

  Resources free() const {
    Resources f = capacity;
    f -= reserved;
    return f;
  }
  const std::string* label(std::string_view key) const;
};

struct Service {
  ServiceId id = kNoService;
  ServiceSpec spec;
  Resources request;                          // min CPU, min memory, countable by slot
  bool removed = false;
  uint32_t next_instance = 0;
  std::vector<ProcessId> processes;           // every process of the service in the table
  std::unordered_map<NodeId, uint32_t> per_node;                      // bound instances per node
  std::array<std::unordered_map<uint32_t, uint32_t>, kSpreadLevels> per_domain;

  uint32_t on_node(NodeId n) const {
    auto it = per_node.find(n);
    return it == per_node.end() ? 0 : it->second;
  }
  uint32_t in_domain(int level, uint32_t d) const {
    if (d == kNoDomain) return 0;
    auto it = per_domain[static_cast<size_t>(level)].find(d);
    return it == per_domain[static_cast<size_t>(level)].end() ? 0 : it->second;
  }
};

struct ClusterConfig {
  std::array<std::string, kSpreadLevels> spread_keys{"zone", "rack"};
};

class ClusterState {
 public:
  explicit ClusterState(ClusterConfig cfg = {}) : cfg_(std::move(cfg)) {}

  // Nodes. A node name is unique; adding an existing name is an error.
  Result<NodeId> add_node(const NodeSpec& spec, int64_t now_ms);
  const Node& node(NodeId id) const { return nodes_[id]; }
  size_t node_count() const { return nodes_.size(); }
  const std::vector<Node>& nodes() const { return nodes_; }
  std::optional<NodeId> find_node(std::string_view name) const;
  // Liveness and drain changes go through here so the index follows.
  void update_health(NodeId id, const NodeHealth& h);

  // Services. Countable resources are given slots; too many kinds is an error.
  Result<ServiceId> add_service(const ServiceSpec& spec);
  const Service& service(ServiceId id) const { return services_[id]; }
  size_t service_count() const { return services_.size(); }
  std::optional<ServiceId> find_service(std::string_view name) const;
  // Changes instances, priority, restart policy, command... of a live service.
  // Envelope changes apply to processes already bound only when the new min
  // still fits on their nodes; the caller checks (the controller refuses
  // an envelope change whose new min does not fit where its processes run).
  void replace_spec(ServiceId id, const ServiceSpec& spec);
  void mark_service_removed(ServiceId id);

  // Processes.
  // A new pending process; its instance ordinal is the service's next one, or
  // `instance` when given (a controller reloading its table keeps names).
  ProcessId create_process(ServiceId service, int64_t now_ms, std::optional<uint32_t> instance = {});
  void remove_process(ProcessId id);  // unbinds first
  ProcessTable& processes() { return table_; }
  const ProcessTable& processes() const { return table_; }
  ProcessRecord& process(ProcessId id) { return table_.at(id); }
  const ProcessRecord& process(ProcessId id) const { return table_.at(id); }
  void set_state(ProcessId id, ProcessState s, int64_t now_ms);

  // Binding reserves the service's min on the node and updates every index.
  void bind(ProcessId id, NodeId node);
  void unbind(ProcessId id);

  // Best-fit index of schedulable nodes: (free CPU millis, node id), ascending.
  const std::set<std::pair<int64_t, NodeId>>& by_free_cpu() const { return by_free_cpu_; }

  const ResourceNames& resource_names() const { return resource_names_; }
  const ClusterConfig& config() const { return cfg_; }
  // Number of distinct failure domains at a level (for reporting).
  size_t domain_count(int level) const { return domains_[static_cast<size_t>(level)].size(); }

  // Σ reserved ≤ capacity on every node and every index agrees with the table.
  // Returns the first broken invariant, empty when all hold. O(everything).
  std::string check_invariants() const;

 private:
  void index_insert(NodeId id);
  void index_erase(NodeId id);

  ClusterConfig cfg_;
  std::vector<Node> nodes_;
  std::deque<Service> services_;  // a deque: growing never moves (or copies) the services held
  ProcessTable table_;
  ResourceNames resource_names_;
  std::unordered_map<std::string, NodeId> node_by_name_;
  std::unordered_map<std::string, ServiceId> service_by_name_;
  std::array<std::unordered_map<std::string, uint32_t>, kSpreadLevels> domains_;
  std::set<std::pair<int64_t, NodeId>> by_free_cpu_;
  std::vector<int64_t> indexed_key_;  // the key a node is indexed under, or -1
};

}  // namespace rackos

// Read-only views of the controller (see cluster_controller.h): processes,
// nodes and services for the API, Prometheus text, and the JSON state.
#include "controller/cluster_controller.h"

#include <map>
#include <nlohmann/json.hpp>

#include "proto/json_view.h"

namespace rackos::controller {

using nlohmann::json;

v1::ProcessInfo ClusterController::process_info(const ProcessRecord& r) const {
  v1::ProcessInfo p;
  const ServiceSpec& spec = state_.service(r.service).spec;
  p.set_id(process_name(r.id));
  p.set_service(spec.name);
  if (r.node != kNoNode) p.set_node(state_.node(r.node).name);
  p.set_state(to_proto(r.state));
  *p.mutable_envelope() = to_proto(spec.envelope);
  p.set_cpu_min_learned(spec.auto_cpu.on);
  p.set_memory_min_learned(spec.auto_memory.on);
  p.set_restarts(r.restart_count);
  p.set_launch(launch_id(r.id));
  p.set_state_since_ms(r.state_since_ms);
  p.set_priority(std::string(to_string(spec.priority)));
  p.mutable_exit()->set_exit_code(r.exit_code < 0 ? 0 : r.exit_code);
  p.mutable_exit()->set_signal(r.exit_code < 0 ? -r.exit_code : 0);
  if (auto it = pextra_.find(r.id.value); it != pextra_.end()) {
    p.set_pid(it->second.pid);
    p.set_reason(it->second.reason);
    if (r.node != kNoNode) {
      *p.mutable_allocation() = it->second.allocation;
      *p.mutable_usage() = it->second.usage;
    }
  }
  return p;
}

v1::ListProcessesResponse ClusterController::list_processes(const v1::ListRequest& req) const {
  v1::ListProcessesResponse out;
  std::optional<NodeId> node;
  if (!req.node().empty()) {
    node = state_.find_node(req.node());
    if (!node) return out;
  }
  // A table of 500,000 processes is counted whole but listed only up to the
  // limit: the rows are the costly part (built on the loop, sent, printed).
  uint64_t total = 0;
  auto add = [&](const ProcessRecord& r) {
    if (node && r.node != *node) return;
    if (req.limit() == 0 || total < req.limit()) *out.add_processes() = process_info(r);
    ++total;
  };
  if (!req.service().empty()) {
    // One service: its own processes, not a walk over the whole table.
    auto sid = state_.find_service(req.service());
    if (!sid) return out;
    for (ProcessId id : state_.service(*sid).processes) add(state_.process(id));
  } else {
    state_.processes().for_each(add);
  }
  out.set_total(total);
  return out;
}

v1::ListNodesResponse ClusterController::list_nodes(const v1::ListRequest& req) const {
  v1::ListNodesResponse out;
  for (const auto& n : state_.nodes()) {
    if (n.removed || (!req.node().empty() && n.name != req.node())) continue;
    auto* i = out.add_nodes();
    i->set_name(n.name);
    i->set_state(to_proto(n.health.state()));
    i->set_cpu_millis(n.capacity.cpu_millis);
    i->set_memory_bytes(n.capacity.memory_bytes);
    for (const auto& [k, v] : n.labels) (*i->mutable_labels())[k] = v;
    i->set_reserved_cpu_millis(n.reserved.cpu_millis);
    i->set_reserved_memory_bytes(n.reserved.memory_bytes);
    i->set_processes(static_cast<uint32_t>(n.processes.size()));
    if (auto it = links_.find(n.id); it != links_.end()) i->set_enforcement(it->second.enforcement);
    i->set_incarnation(n.health.incarnation);
  }
  return out;
}

v1::ListServicesResponse ClusterController::list_services(const v1::ListRequest& req) const {
  v1::ListServicesResponse out;
  for (ServiceId sid = 0; sid < state_.service_count(); ++sid) {
    const Service& s = state_.service(sid);
    if (s.removed || (!req.service().empty() && s.spec.name != req.service())) continue;
    auto* i = out.add_services();
    i->set_name(s.spec.name);
    i->set_spec_yaml(yaml_of(sid));
    uint32_t running = 0, pending = 0, exited = 0;
    for (ProcessId id : s.processes) {
      auto st = state_.process(id).state;
      if (st == ProcessState::running) ++running;
      if (st == ProcessState::pending || st == ProcessState::lost || st == ProcessState::starting) ++pending;
      if (st == ProcessState::exited) ++exited;
    }
    i->set_running(running);
    i->set_pending(pending);
    i->set_exited(exited);
    i->set_processes(static_cast<uint32_t>(s.processes.size()));
  }
  return out;
}

// ---------------------------------------------------------------- views

std::string ClusterController::metrics_text() const {
  std::string out;
  std::vector<std::pair<std::string, double>> nodes, procs;
  std::map<std::string, double> nc, pc;
  for (auto s : {NodeState::ready, NodeState::suspect, NodeState::dead, NodeState::draining, NodeState::fenced}) {
    nc[std::string(to_string(s))] = 0;
  }
  for (const auto& n : state_.nodes()) {
    if (!n.removed) nc[std::string(to_string(n.health.state()))] += 1;
  }
  for (auto s : {ProcessState::pending, ProcessState::starting, ProcessState::running, ProcessState::stopping,
                 ProcessState::backoff, ProcessState::exited, ProcessState::lost}) {
    pc[std::string(to_string(s))] = 0;
  }
  state_.processes().for_each([&](const ProcessRecord& r) { pc[std::string(to_string(r.state))] += 1; });
  nodes.assign(nc.begin(), nc.end());
  procs.assign(pc.begin(), pc.end());
  render_gauge_family(out, "rackos_nodes", "Nodes by state.", "state", nodes);
  render_gauge_family(out, "rackos_processes", "Processes by state.", "state", procs);
  render_counter(out, "rackos_placements_total", "Processes placed on a node.", static_cast<double>(counters_.placements));
  render_counter(out, "rackos_reschedules_total", "Lost processes placed again after their node died.",
                 static_cast<double>(counters_.reschedules));
  render_counter(out, "rackos_preemptions_total", "Lower-priority processes preempted.", static_cast<double>(counters_.preemptions));
  render_counter(out, "rackos_restarts_total", "Restarts by restart policy.", static_cast<double>(counters_.restarts));
  render_counter(out, "rackos_process_exits_total", "Process exits reported by shims.", static_cast<double>(counters_.exits));
  render_counter(out, "rackos_learned_min_raises_total", "Learned mins raised (a service's cpu and/or memory).",
                 static_cast<double>(counters_.learned_raises));
  render_counter(out, "rackos_learned_min_lowers_total", "Learned mins lowered.", static_cast<double>(counters_.learned_lowers));
  render_counter(out, "rackos_learned_min_moves_total", "Processes moved because a raised learned min no longer fit their node.",
                 static_cast<double>(counters_.learned_moves));
  render_counter(out, "rackos_store_commits_total", "Store transactions.", static_cast<double>(counters_.commits));
  render_counter(out, "rackos_store_commit_errors_total", "Store transactions that failed.", static_cast<double>(counters_.commit_errors));
  render_counter(out, "rackos_shims_refused_total", "Shim registrations refused (token, version).",
                 static_cast<double>(counters_.refused_shims));
  render_histogram(out, "rackos_failover_duration_ms",
                   "Node death (last heartbeat) to the last of its processes running elsewhere.", failover_);
  render_histogram(out, "rackos_store_commit_duration_ms", "Store commit latency.", store_latency_);
  return out;
}

std::string ClusterController::state_json() const {
  json nodes = json::array();
  const auto node_list = list_nodes({});
  for (const auto& n : node_list.nodes()) nodes.push_back(node_json(n));
  json services = json::array();
  const auto service_list = list_services({});
  for (const auto& s : service_list.services()) {
    services.push_back({{"name", s.name()}, {"running", s.running()}, {"pending", s.pending()}, {"exited", s.exited()},
                        {"processes", s.processes()}});
  }
  json procs = json::array();
  const auto process_list = list_processes({});
  for (const auto& p : process_list.processes()) procs.push_back(process_json(p));
  return json{{"revision", store_->revision()}, {"nodes", nodes}, {"services", services}, {"processes", procs}}.dump();
}

}  // namespace rackos::controller

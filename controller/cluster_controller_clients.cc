// Client operations on the controller (see cluster_controller.h): apply,
// stop, scale, drain, node kill, and where logs are read from. Each returns
// one clear error and then has changed nothing.
#include "controller/cluster_controller.h"

#include <set>

#include "core/quantity.h"
#include "core/spec_parse.h"

namespace rackos::controller {

namespace {

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t nl = text.find('\n', start);
    std::string line = text.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
    if (!line.empty()) out.push_back(line);
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------- clients

v1::ApplyResponse ClusterController::apply(const std::string& yaml, int64_t now_ms, const std::string& root_refusal) {
  v1::ApplyResponse resp;
  auto specs = parse_services_yaml(yaml);
  if (!specs) {
    for (const auto& line : split_lines(specs.error().message)) resp.add_errors(line);
    return resp;
  }
  if (!root_refusal.empty()) {
    for (const auto& spec : *specs) {
      if (spec.runs_as_root()) resp.add_errors("service " + spec.name + ": " + root_refusal);
    }
    if (resp.errors_size() > 0) return resp;
  }
  return apply_specs(*specs, now_ms);
}

v1::ApplyResponse ClusterController::apply_specs(const std::vector<ServiceSpec>& given, int64_t now_ms) {
  v1::ApplyResponse resp;
  // A learned min survives applying the spec again: an existing service that
  // learns keeps what it learned (within the new bounds).
  std::vector<ServiceSpec> specs = given;
  for (auto& spec : specs) {
    auto sid = state_.find_service(spec.name);
    if (!sid) continue;
    const ServiceSpec& old = state_.service(*sid).spec;
    auto keep = [](const LearnedMin& now, const LearnedMin& before, int64_t learned, Range& r) {
      if (!now.on || !before.on) return;
      const int64_t hi = now.ceiling > 0 ? std::min(now.ceiling, r.max) : r.max;
      r.min = std::clamp(learned, std::min(now.floor, hi), hi);
    };
    keep(spec.auto_cpu, old.auto_cpu, old.envelope.cpu_millis.min, spec.envelope.cpu_millis);
    keep(spec.auto_memory, old.auto_memory, old.envelope.memory_bytes.min, spec.envelope.memory_bytes);
  }
  // Check everything first: a request with any error changes nothing.
  std::set<std::string> seen;
  for (const auto& spec : specs) {
    for (const auto& e : validate_service_spec(spec)) resp.add_errors("service " + spec.name + ": " + e.message);
    for (const auto& e : admission_errors(spec)) resp.add_errors("service " + spec.name + ": " + e.message);
    if (!seen.insert(spec.name).second) {
      resp.add_errors("service " + spec.name + ": named twice in one request");
      continue;
    }
    auto sid = state_.find_service(spec.name);
    if (!sid) continue;
    if (sx(*sid).stopping) {
      resp.add_errors("service " + spec.name + ": it is stopping; apply again once `rackos ps` no longer lists it");
      continue;
    }
    const Service& s = state_.service(*sid);
    const int64_t dcpu = spec.envelope.cpu_millis.min - s.spec.envelope.cpu_millis.min;
    const int64_t dmem = spec.envelope.memory_bytes.min - s.spec.envelope.memory_bytes.min;
    if (dcpu <= 0 && dmem <= 0) continue;
    for (const auto& [node, count] : s.per_node) {
      if (count == 0) continue;
      const Node& n = state_.node(node);
      const Resources free = n.free();
      if (dcpu * count > free.cpu_millis) {
        resp.add_errors("service " + spec.name + ": cpu.min " + format_cpu_millis(spec.envelope.cpu_millis.min) +
                        " does not fit where it runs: node " + n.name + " has " + std::to_string(count) +
                        " instances and " + format_cpu_millis(free.cpu_millis) +
                        " cpu unreserved (stop or scale it down first, or raise max instead)");
      }
      if (dmem * count > free.memory_bytes) {
        resp.add_errors("service " + spec.name + ": memory.min " + format_memory_bytes(spec.envelope.memory_bytes.min) +
                        " does not fit where it runs: node " + n.name + " has " + std::to_string(count) +
                        " instances and " + format_memory_human(free.memory_bytes) + " memory unreserved");
      }
    }
  }
  if (resp.errors_size() > 0) return resp;
  for (const auto& spec : specs) {
    auto sid = state_.find_service(spec.name);
    if (!sid) {
      auto r = state_.add_service(spec);
      if (!r) {
        resp.add_errors("service " + spec.name + ": " + r.error().message);
        continue;
      }
      sx(*r).desired = spec.instances.min;
      reconcile_instances(*r, now_ms);
      events_->add(now_ms, "service-created", spec.name,
                   std::to_string(spec.instances.min) + " instances, cpu " + format_cpu_millis(spec.envelope.cpu_millis.min) +
                       ":" + format_cpu_millis(spec.envelope.cpu_millis.max));
      resp.add_services(spec.name);
      continue;
    }
    const ServiceSpec old = state_.service(*sid).spec;
    resp.add_services(spec.name);
    if (old == spec) continue;
    const SpecChange change = classify_change(old, spec);
    const bool replace = change == SpecChange::replace;
    state_.replace_spec(*sid, spec);
    capacity_changed_ = true;
    std::vector<ProcessId> procs = state_.service(*sid).processes;
    for (ProcessId id : procs) {
      const auto& r = state_.process(id);
      if (pextra_[id.value].stop_wanted) continue;
      if (replace) {
        stop_for_good(id, now_ms);
      } else if (r.node != kNoNode && change == SpecChange::in_place) {
        v1::ControllerMessage m;
        m.mutable_update()->set_id(launch_id(id));
        *m.mutable_update()->mutable_envelope() = to_proto(spec.envelope);
        m.mutable_update()->set_priority(std::string(to_string(spec.priority)));
        send(links_[r.node].conn, std::move(m));
      }
    }
    reconcile_instances(*sid, now_ms);
    events_->add(now_ms, "service-updated", spec.name,
                 replace ? "command or environment changed: processes replaced" : "envelope/policy changed in place");
  }
  return resp;
}

Result<uint32_t> ClusterController::stop_service(const std::string& name, int64_t now_ms) {
  auto sid = state_.find_service(name);
  if (!sid) return not_found("no service \"" + name + "\" (see `rackos ps`)");
  auto& e = sx(*sid);
  e.stopping = true;
  dirty_services_.insert(*sid);
  std::vector<ProcessId> procs = state_.service(*sid).processes;
  uint32_t stopping = 0;
  for (ProcessId id : procs) {
    if (state_.process(id).node != kNoNode) ++stopping;
    if (!pextra_[id.value].stop_wanted) stop_for_good(id, now_ms);
  }
  events_->add(now_ms, "service-stopping", name, std::to_string(stopping) + " processes stopping");
  finish_stopping(*sid, now_ms);
  return stopping;
}

Result<bool> ClusterController::scale(const std::string& name, uint32_t min, uint32_t max, int64_t now_ms) {
  auto sid = state_.find_service(name);
  if (!sid) return not_found("no service \"" + name + "\" (see `rackos ps`)");
  if (sx(*sid).stopping) return Error{"service " + name + " is stopping", ErrorCode::conflict};
  ServiceSpec spec = state_.service(*sid).spec;
  spec.instances = {min, max};
  if (auto errs = validate_service_spec(spec); !errs.empty()) return Error{join_errors(errs, "; ")};
  state_.replace_spec(*sid, spec);
  auto& e = sx(*sid);
  e.desired = std::clamp(e.desired, min, max);
  reconcile_instances(*sid, now_ms);
  events_->add(now_ms, "service-scaled", name, "instances " + std::to_string(min) + ":" + std::to_string(max));
  return true;
}

Result<uint32_t> ClusterController::drain(const std::string& name, bool undo, int64_t now_ms) {
  auto nid = state_.find_node(name);
  if (!nid) {
    std::string known;
    for (const auto& n : state_.nodes()) known += (known.empty() ? "" : ", ") + n.name;
    return not_found("no node \"" + name + "\" (nodes: " + (known.empty() ? "none" : known) + ")");
  }
  NodeHealth h = state_.node(*nid).health;
  h.draining = !undo;
  set_health(*nid, h);
  dirty_nodes_.insert(*nid);
  capacity_changed_ = true;
  uint32_t moved = 0;
  if (!undo) {
    std::vector<ProcessId> procs = state_.node(*nid).processes;
    for (ProcessId id : procs) {
      if (pextra_[id.value].stop_wanted) continue;
      move_off(id, now_ms);
      ++moved;
    }
  }
  events_->add(now_ms, undo ? "node-undrained" : "node-draining", name,
               undo ? "accepting work again" : "moving " + std::to_string(moved) + " processes off");
  return moved;
}

Result<uint32_t> ClusterController::kill_node(const std::string& name, int64_t now_ms) {
  if (!cfg_.allow_fault_injection) {
    return Error{"node kill is fault injection and this controller does not allow it (start it with "
                 "--allow-fault-injection; `rackos up` does)"};
  }
  auto nid = state_.find_node(name);
  if (!nid) return not_found("no node \"" + name + "\"");
  const ConnId conn = links_[*nid].conn;
  if (conn == 0) return Error{"node " + name + " has no shim connected", ErrorCode::unavailable};
  v1::ControllerMessage m;
  m.mutable_power_off()->set_reason("rackos node kill " + name);
  send(conn, std::move(m));
  events_->add(now_ms, "node-kill", name, "power cut injected");
  return static_cast<uint32_t>(state_.node(*nid).processes.size());
}

Result<uint64_t> ClusterController::upgrade_node(const std::string& name, const std::string& binary, int64_t now_ms) {
  if (binary.empty() || binary.front() != '/') return Error{"upgrade: --binary must be an absolute path on the node, not \"" + binary + "\""};
  auto nid = state_.find_node(name);
  if (!nid) return not_found("no node \"" + name + "\"");
  const ConnId conn = links_[*nid].conn;
  if (conn == 0) return Error{"node " + name + " has no shim connected", ErrorCode::unavailable};
  v1::ControllerMessage m;
  m.mutable_upgrade()->set_binary(binary);
  send(conn, std::move(m));
  events_->add(now_ms, "node-upgrade", name, "its active shim hands over and comes back on " + binary);
  return state_.node(*nid).health.incarnation;
}

Result<std::vector<ClusterController::LogSource>> ClusterController::log_sources(const std::string& service,
                                                                                 const std::string& process) const {
  std::vector<ProcessId> ids;
  if (!process.empty()) {
    auto dash = process.rfind('-');
    auto sid = dash == std::string::npos ? std::nullopt : state_.find_service(process.substr(0, dash));
    if (sid) {
      for (ProcessId id : state_.service(*sid).processes) {
        if (process_name(id) == process) ids.push_back(id);
      }
    }
    if (ids.empty()) return not_found("no process \"" + process + "\" (see `rackos ps`)");
  } else {
    auto sid = state_.find_service(service);
    if (!sid) return not_found("no service \"" + service + "\" (see `rackos ps`)");
    ids = state_.service(*sid).processes;
  }
  std::vector<LogSource> out;
  for (ProcessId id : ids) {
    auto it = pextra_.find(id.value);
    if (it == pextra_.end() || it->second.launch == 0 || it->second.last_node == kNoNode) continue;
    auto lit = links_.find(it->second.last_node);
    if (lit == links_.end() || lit->second.conn == 0) continue;
    out.push_back({process_name(id), lit->second.conn, launch_id(id)});
  }
  return out;
}

void ClusterController::send_read_log(ConnId conn, const v1::ReadLog& req) {
  v1::ControllerMessage m;
  *m.mutable_read_log() = req;
  send(conn, std::move(m));
}

std::vector<v1::LogData> ClusterController::take_log_data() { return std::exchange(log_data_, {}); }

}  // namespace rackos::controller

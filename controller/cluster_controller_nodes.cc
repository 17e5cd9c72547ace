// The controller's side of the node stream (see cluster_controller.h):
// registration (token, wire version, cluster identity, reconcile, --adopt),
// heartbeats and their acknowledgements, process events, exits and restarts.
#include "controller/cluster_controller.h"

#include <algorithm>
#include <limits>

#include "core/quantity.h"
#include "core/restart_policy.h"
#include "rackos_version.h"

namespace rackos::controller {

// ---------------------------------------------------------------- node streams

void ClusterController::on_shim_message(ConnId conn, const v1::ShimMessage& m, int64_t now_ms, bool acked) {
  if (m.has_register_()) {
    on_register(conn, m.register_(), now_ms);
    return;
  }
  auto it = conn_node_.find(conn);
  if (it == conn_node_.end()) {
    v1::ControllerMessage out;
    out.set_refused("this stream has not registered (or its node was taken over by a newer stream): register first");
    send(conn, std::move(out), true);
    return;
  }
  if (m.has_heartbeat()) on_heartbeat(conn, it->second, m.heartbeat(), now_ms, acked);
  if (m.has_event()) on_event(conn, it->second, m.event(), now_ms);
  if (m.has_log_data()) log_data_.push_back(m.log_data());
}

void ClusterController::on_disconnect(ConnId conn, int64_t now_ms) {
  auto it = conn_node_.find(conn);
  if (it == conn_node_.end()) return;
  NodeId node = it->second;
  conn_node_.erase(it);
  bind(conn, kNoNode);
  if (links_[node].conn == conn) {
    links_[node].conn = 0;
    events_->add(now_ms, "node-disconnected", state_.node(node).name,
                 "stream closed; the node stays until its lease (" + format_duration_ms(cfg_.health.node_lease_ms) +
                     ") runs out without a heartbeat");
  }
}

void ClusterController::on_register(ConnId conn, const v1::Register& reg, int64_t now_ms) {
  auto refuse = [&](const std::string& why) {
    ++counters_.refused_shims;
    events_->add(now_ms, "shim-refused", reg.node(), why);
    v1::ControllerMessage out;
    out.set_refused(why);
    send(conn, std::move(out), true);
  };
  if (reg.wire_version() == 0) return refuse("node " + reg.node() + ": wire version 0 is not supported (need ≥ 1)");
  if (reg.node().empty()) return refuse("a shim registered without a node name");
  if (cfg_.insecure && !cfg_.token.empty() && reg.token() != cfg_.token) {
    return refuse("node " + reg.node() +
                  ": the join token does not match this controller's (give the shim the token the controller was "
                  "started with, --token-file)");
  }
  if (std::string why = identity_mismatch(reg); !why.empty()) {
    if (!cfg_.adopt) return refuse(why);
    events_->add(now_ms, "node-adopted", reg.node(), "--adopt: " + why + "; taking over what it runs");
  }
  auto nid = state_.find_node(reg.node());
  if (!nid) {
    NodeSpec spec;
    spec.name = reg.node();
    spec.cpu_millis = reg.cpu_millis();
    spec.memory_bytes = reg.memory_bytes();
    for (const auto& [k, v] : reg.resources()) spec.resources[k] = v;
    for (const auto& [k, v] : reg.labels()) spec.labels[k] = v;
    auto r = state_.add_node(spec, now_ms);
    if (!r) return refuse("node " + reg.node() + ": " + r.error().message);
    nid = *r;
    events_->add(now_ms, "node-joined", reg.node(),
                 format_cpu_millis(spec.cpu_millis) + " cpu, " + format_memory_human(spec.memory_bytes) + " memory");
  } else {
    const Node& n = state_.node(*nid);
    if (n.capacity.cpu_millis != reg.cpu_millis() || n.capacity.memory_bytes != reg.memory_bytes()) {
      events_->add(now_ms, "warning", reg.node(),
                   "registered with " + format_cpu_millis(reg.cpu_millis()) + " cpu / " +
                       format_memory_human(reg.memory_bytes()) + " but the cluster holds " +
                       format_cpu_millis(n.capacity.cpu_millis) + " / " + format_memory_human(n.capacity.memory_bytes) +
                       "; keeping the stored capacity");
    }
  }
  const NodeId node = *nid;
  dirty_nodes_.insert(node);
  NodeLink& link = links_[node];
  if (link.conn != 0 && link.conn != conn) {  // a shim taken over by its standby
    conn_node_.erase(link.conn);
    bind(link.conn, kNoNode);
  }
  link.conn = conn;
  conn_node_[conn] = node;
  bind(conn, node);
  link.enforcement = reg.enforcement();
  NodeHealth h = state_.node(node).health;
  HealthEvent ev = rackos::on_register(h, now_ms);
  set_health(node, h);
  capacity_changed_ = true;
  const size_t registered_at = outbox_.size();

  // Reconcile what the shim runs with what the cluster says runs there.
  std::set<std::string> on_shim;
  std::vector<std::string> stale;
  size_t adopted = 0;
  std::map<std::string, const v1::StartProcess*> launches;
  for (const auto& l : reg.launches()) launches[l.id()] = &l;
  std::vector<std::string> forget;
  size_t unadoptable = 0;
  for (const auto& p : reg.running()) {
    on_shim.insert(p.id());
    auto it = by_launch_.find(p.id());
    bool ours = it != by_launch_.end() && state_.process(it->second).node == node;
    if (!ours && cfg_.adopt && it == by_launch_.end() && (p.state() != v1::EXITED || p.exit().fenced())) {
      auto l = launches.find(p.id());
      if (adopt_launch(node, p, l == launches.end() ? nullptr : l->second, now_ms)) {
        if (p.state() != v1::EXITED) ++adopted;
        continue;
      }
      if (p.state() != v1::EXITED) ++unadoptable;
      continue;  // left running: the operator decides
    }
    if (!ours) {
      if (p.state() != v1::EXITED) stale.push_back(p.id());
      else if (!state_.find_service(p.service())) forget.push_back(p.id());  // its service is gone: so are its logs
      continue;
    }
    ProcessId id = it->second;
    if (p.state() == v1::EXITED) {
      handle_exit(id, p.exit(), now_ms);
    } else if (pextra_[id.value].stop_wanted || state_.process(id).state == ProcessState::stopping) {
      send_stop(id, cfg_.stop_grace_ms);  // the stop may not have reached it
    } else {
      mark_running(id, p.pid(), now_ms);
      ++adopted;
    }
  }
  std::vector<ProcessId> bound = state_.node(node).processes;
  for (ProcessId id : bound) {
    if (on_shim.count(launch_id(id))) continue;
    auto& r = state_.process(id);
    if (pextra_[id.value].stop_wanted) {
      remove_process(id, now_ms);
    } else if (r.state == ProcessState::starting) {
      send_start(id);  // it never got there
    } else {
      v1::ExitStatus gone;
      gone.set_start_error("node " + reg.node() + " no longer has it (its state was lost)");
      handle_exit(id, gone, now_ms);
    }
  }
  if (ev == HealthEvent::became_fenced) {
    link.stale.clear();
    link.stale.insert(stale.begin(), stale.end());
    events_->add(now_ms, "node-fenced", reg.node(),
                 "came back after being declared dead; stopping " + std::to_string(stale.size()) + " stale processes");
  } else if (!stale.empty()) {
    events_->add(now_ms, "warning", reg.node(), "stopping " + std::to_string(stale.size()) + " processes the cluster does not know");
  }
  v1::ControllerMessage out;
  auto* r = out.mutable_registered();
  r->set_wire_version(RACKOS_WIRE_VERSION);
  r->set_incarnation(state_.node(node).health.incarnation);
  for (const auto& s : stale) r->add_stop(s);
  for (const auto& f : forget) r->add_forget(f);
  r->set_cluster_id(cluster_id_);
  r->set_store_revision(store_->revision());
  if (unadoptable > 0) {
    events_->add(now_ms, "warning", reg.node(),
                 std::to_string(unadoptable) + " running processes could not be adopted (no launch record, or their "
                 "spec is not valid here); left running, unmanaged");
  }
  outbox_.insert(outbox_.begin() + static_cast<std::ptrdiff_t>(registered_at), Outgoing{conn, std::move(out), false});
  events_->add(now_ms, "node-registered", reg.node(),
               "incarnation " + std::to_string(state_.node(node).health.incarnation) + ", " + std::to_string(adopted) +
                   " processes adopted; " + link.enforcement);
  check_reconciled(node, now_ms);
}

std::string ClusterController::identity_mismatch(const v1::Register& reg) const {
  size_t live = 0, unknown = 0;
  for (const auto& p : reg.running()) {
    if (p.state() == v1::EXITED) continue;
    ++live;
    unknown += by_launch_.count(p.id()) == 0;
  }
  const std::string keeps = "; the node keeps its " + std::to_string(live) +
                            " processes running. Restore the controller's store and restart it, or restart it with "
                            "--adopt to take over what the nodes run";
  if (!reg.cluster_id().empty() && reg.cluster_id() != cluster_id_) {
    return "node " + reg.node() + " belongs to cluster " + reg.cluster_id() + " (it saw store revision " +
           std::to_string(reg.store_revision()) + "), but this controller's store " + store_->name() + " is cluster " +
           cluster_id_ + (store_was_empty_ ? ", begun empty at this start" : "") +
           ": the store was lost, replaced, or is another cluster's" + keeps;
  }
  if (!reg.cluster_id().empty() && reg.store_revision() > store_->revision()) {
    return "node " + reg.node() + " saw store revision " + std::to_string(reg.store_revision()) + " of cluster " +
           cluster_id_ + ", but the store " + store_->name() + " is at revision " + std::to_string(store_->revision()) +
           ": it was restored from an older copy or lost its latest commits" + keeps;
  }
  if (reg.cluster_id().empty() && store_was_empty_ && unknown > 0) {
    return "node " + reg.node() + " runs " + std::to_string(unknown) +
           " processes that this controller's store (empty at this start) does not know" + keeps;
  }
  return {};
}

bool ClusterController::adopt_launch(NodeId node, const v1::ProcessInfo& p, const v1::StartProcess* launch, int64_t now_ms) {
  // Launch ids are "<service>-<instance>.<launch>".
  const std::string& id = p.id();
  const size_t dot = id.rfind('.'), dash = id.rfind('-', dot);
  if (dot == std::string::npos || dash == std::string::npos || dash + 1 >= dot) return false;
  const std::string service = id.substr(0, dash);
  uint32_t instance = 0, launch_no = 0;
  try {
    instance = static_cast<uint32_t>(std::stoul(id.substr(dash + 1, dot - dash - 1)));
    launch_no = static_cast<uint32_t>(std::stoul(id.substr(dot + 1)));
  } catch (const std::exception&) {
    return false;
  }
  auto sid = state_.find_service(service);
  if (!sid) {
    if (launch == nullptr) return false;
    ServiceSpec spec;
    spec.name = service;
    spec.command.assign(launch->argv().begin(), launch->argv().end());
    for (const auto& [k, v] : launch->env()) {
      if (k.rfind("RACKOS_", 0) != 0) spec.env.emplace_back(k, v);
    }
    std::sort(spec.env.begin(), spec.env.end());
    spec.workdir = launch->workdir();
    spec.user = launch->user();
    if (launch->has_uid()) spec.uid = launch->uid();
    if (launch->has_gid()) spec.gid = launch->gid();
    spec.envelope = from_proto(launch->envelope());
    spec.priority = parse_priority_class(launch->priority()).value_or(PriorityClass::normal);
    spec.on_partition = parse_on_partition(launch->on_partition()).value_or(OnPartition::keep);
    spec.instances = {1, 1};
    if (!validate_service_spec(spec).empty()) return false;
    auto r = state_.add_service(spec);
    if (!r) return false;
    sid = *r;
    sx(*sid).desired = 1;
    events_->add(now_ms, "service-adopted", service, "rebuilt from what node " + state_.node(node).name + " runs");
  }
  for (ProcessId other : state_.service(*sid).processes) {
    if (state_.process(other).instance == instance) return false;  // that instance is known: this one is a copy
  }
  // One more instance of the service: instances grow to hold what is adopted.
  ServiceSpec spec = state_.service(*sid).spec;
  const uint32_t count = static_cast<uint32_t>(state_.service(*sid).processes.size()) + 1;
  if (spec.instances.max < count) {
    spec.instances = {count, count};
    state_.replace_spec(*sid, spec);
  }
  sx(*sid).desired = std::max(sx(*sid).desired, count);
  dirty_services_.insert(*sid);
  ProcessId pid = state_.create_process(*sid, now_ms, instance);
  auto& x = pextra_[pid.value];
  x.launch = launch_no;
  x.last_node = node;
  if (p.state() == v1::EXITED) {
    // Killed by fencing while no controller would have it: it runs again.
    state_.set_state(pid, ProcessState::pending, now_ms);
    waiting_.insert(pid.value);
  } else {
    state_.bind(pid, node);
    state_.set_state(pid, ProcessState::starting, now_ms);
    by_launch_[launch_id(pid)] = pid;
    mark_running(pid, p.pid(), now_ms);
  }
  capacity_changed_ = true;
  mark_dirty(pid);
  return true;
}

void ClusterController::check_reconciled(NodeId node, int64_t now_ms) {
  NodeLink& link = links_[node];
  if (state_.node(node).health.liveness != NodeState::fenced || !link.stale.empty()) return;
  NodeHealth h = state_.node(node).health;
  if (rackos::on_reconciled(h, now_ms) == HealthEvent::became_ready) {
    set_health(node, h);
    capacity_changed_ = true;
    events_->add(now_ms, "node-ready", state_.node(node).name, "stale processes stopped; accepting work again");
  }
}

void ClusterController::on_heartbeat(ConnId conn, NodeId node, const v1::Heartbeat& hb, int64_t now_ms, bool acked) {
  const Node& n = state_.node(node);
  if (acked && n.health.liveness == NodeState::dead) return;  // what it carried is stale now
  if (acked) {
    on_heartbeat_processes(node, hb, now_ms);
    return;
  }
  if (n.health.liveness == NodeState::dead) {
    v1::ControllerMessage out;
    out.set_refused("node " + n.name + " was declared dead (no heartbeat for " +
                    format_duration_ms(now_ms - n.health.last_heartbeat_ms) + "); register again");
    send(conn, std::move(out), true);
    conn_node_.erase(conn);
    bind(conn, kNoNode);
    links_[node].conn = 0;
    return;
  }
  NodeHealth h = n.health;
  HealthEvent ev = rackos::on_heartbeat(h, now_ms);
  set_health(node, h);
  if (ev == HealthEvent::became_ready) {
    capacity_changed_ = true;
    events_->add(now_ms, "node-ready", n.name, "heartbeats resumed");
  }
  v1::ControllerMessage ack;
  ack.mutable_ack()->set_seq(hb.seq());
  ack.mutable_ack()->set_sent_ms(hb.sent_ms());
  ack.mutable_ack()->set_store_revision(store_->revision());
  send(conn, std::move(ack));
  on_heartbeat_processes(node, hb, now_ms);
}

void ClusterController::on_heartbeat_processes(NodeId node, const v1::Heartbeat& hb, int64_t now_ms) {
  NodeLink& link = links_[node];
  for (const auto& p : hb.processes()) {
    if (link.stale.count(p.id()) && p.state() == v1::EXITED) link.stale.erase(p.id());
    auto it = by_launch_.find(p.id());
    if (it == by_launch_.end() || state_.process(it->second).node != node) continue;
    ProcessId id = it->second;
    auto& r = state_.process(id);
    auto& x = pextra_[id.value];
    x.allocation = p.allocation();
    x.usage = p.usage();
    r.cpu_used_millis = p.usage().cpu_used_millis();
    r.memory_used_bytes = p.usage().memory_bytes();
    r.cpu_target_millis = p.allocation().cpu_target_millis();
    r.cpu_quota_millis = p.allocation().cpu_quota_millis();
    r.memory_high_bytes = p.allocation().memory_high_bytes();
    if (p.state() == v1::RUNNING && r.state == ProcessState::starting) mark_running(id, p.pid(), now_ms);
    if (p.state() == v1::RUNNING && r.state == ProcessState::running) observe_usage(id, p.usage(), p.allocation(), now_ms);
  }
  if (hb.processes_size() > 0 && !link.stale.empty()) {
    std::set<std::string> running;
    for (const auto& p : hb.processes()) {
      if (p.state() != v1::EXITED) running.insert(p.id());
    }
    for (auto it = link.stale.begin(); it != link.stale.end();) it = running.count(*it) ? std::next(it) : link.stale.erase(it);
  }
  check_reconciled(node, now_ms);
}

void ClusterController::on_event(ConnId, NodeId node, const v1::ProcessEvent& ev, int64_t now_ms) {
  const std::optional<NodeEventKind> kind = parse_node_event_kind(ev.kind());
  const std::string where = state_.node(node).name + (ev.id().empty() ? "" : "/" + ev.id());
  if (!kind) {
    // A newer shim's kind: shown, never acted on.
    events_->add(now_ms, "warning", where, "unknown event kind \"" + ev.kind() + "\": " + ev.message());
    return;
  }
  NodeLink& link = links_[node];
  if (*kind == NodeEventKind::exited && link.stale.erase(ev.id())) {
    check_reconciled(node, now_ms);
    return;
  }
  auto it = by_launch_.find(ev.id());
  const bool ours = it != by_launch_.end() && state_.process(it->second).node == node;
  switch (*kind) {
    case NodeEventKind::started:
      if (ours) mark_running(it->second, ev.pid(), now_ms);
      return;
    case NodeEventKind::start_failed:
      if (ours) {
        v1::ExitStatus st;
        st.set_start_error(ev.message());
        handle_exit(it->second, st, now_ms);
      }
      return;
    case NodeEventKind::exited:
      if (ours) handle_exit(it->second, ev.exit(), now_ms);
      return;
    case NodeEventKind::evict:
      if (ours && !pextra_[it->second.value].stop_wanted) {
        ProcessId id = it->second;
        events_->add(now_ms, "evict", process_name(id), state_.node(node).name + ": " + ev.message() + "; moving it");
        avoid_.emplace_back(id, node);
        move_off(id, now_ms);
      }
      return;
    case NodeEventKind::fenced:
    case NodeEventKind::unfenced:
    case NodeEventKind::adopted:
    case NodeEventKind::takeover:
    case NodeEventKind::warning:
      events_->add(now_ms, std::string(to_string(*kind)), where, ev.message());
      return;
  }
}

void ClusterController::mark_running(ProcessId id, int32_t pid, int64_t now_ms) {
  auto& r = state_.process(id);
  auto& x = pextra_[id.value];
  x.pid = pid;
  if (r.state == ProcessState::running) return;
  state_.set_state(id, ProcessState::running, now_ms);
  r.started_ms = now_ms;
  x.reason.clear();
  // Not written to the store: starting → running is learnt again from the
  // node when it registers after a controller restart (it reports what runs).
  clear_lost(id, now_ms, true);
}

void ClusterController::clear_lost(ProcessId id, int64_t now_ms, bool running) {
  auto& x = pextra_[id.value];
  if (x.lost_at_ms < 0) return;
  x.lost_at_ms = -1;
  auto lit = links_.find(x.lost_from);
  x.lost_from = kNoNode;
  if (lit == links_.end() || lit->second.lost_outstanding == 0) return;
  NodeLink& link = lit->second;
  if (--link.lost_outstanding == 0 && running) {
    const int64_t took = now_ms - link.died_at_ms;
    failover_.observe(static_cast<double>(took));
    events_->add(now_ms, "failover-done", state_.node(lit->first).name,
                 "every process it ran is running elsewhere " + std::to_string(took) + " ms after its last heartbeat");
  }
}

void ClusterController::handle_exit(ProcessId id, const v1::ExitStatus& exit, int64_t now_ms) {
  auto& r = state_.process(id);
  auto& x = pextra_[id.value];
  by_launch_.erase(launch_id(id));
  ++counters_.exits;
  clear_lost(id, now_ms, false);
  x.pid = 0;
  if (x.stop_wanted) {
    remove_process(id, now_ms);
    return;
  }
  if (r.state == ProcessState::stopping) {
    // An at-most-one process being moved (move_off): its old launch is gone,
    // so now it may be placed again. Not a crash: no restart is counted.
    if (r.node != kNoNode) {
      state_.unbind(id);
      capacity_changed_ = true;
    }
    state_.set_state(id, ProcessState::pending, now_ms);
    waiting_.insert(id.value);
    mark_dirty(id);
    return;
  }
  ExitInfo ei;
  ei.exit_code = exit.exit_code();
  ei.signal = exit.signal();
  ei.oom_killed = exit.oom_killed();
  if (!exit.start_error().empty() && ei.exit_code == 0 && ei.signal == 0) ei.exit_code = 127;
  const Service& s = state_.service(r.service);
  // A launch that never ran (could not start, or died before it was seen
  // running) ran for no time: it counts toward the backoff like a crash.
  const int64_t ran_from = (exit.start_error().empty() && r.state == ProcessState::running) ? r.started_ms : now_ms;
  RestartDecision d = decide_restart(s.spec.restart, ei, r.restart_count, ran_from, now_ms);
  if (r.node != kNoNode) {
    state_.unbind(id);
    capacity_changed_ = true;
  }
  r.exit_code = ei.signal > 0 ? -ei.signal : ei.exit_code;
  std::string what = exit.start_error().empty() ? d.reason : "could not start: " + exit.start_error() + "; " + d.reason;
  if (d.restart) {
    state_.set_state(id, ProcessState::backoff, now_ms);
    r.next_start_ms = d.at_ms;
    r.restart_count = static_cast<uint16_t>(std::min<uint32_t>(d.restart_count, UINT16_MAX));
    waiting_.insert(id.value);
    ++counters_.restarts;
    events_->add(now_ms, "restart", process_name(id), what);
  } else {
    state_.set_state(id, ProcessState::exited, now_ms);
    events_->add(now_ms, "exited", process_name(id), what);
  }
  x.reason = what;
  mark_dirty(id);
}

void ClusterController::ack_all_for_handover() {
  for (const auto& [node, link] : links_) {
    if (link.conn == 0) continue;
    v1::ControllerMessage ack;
    // Later than any send time: the shim counts an echo from its future as its now.
    ack.mutable_ack()->set_sent_ms(std::numeric_limits<int64_t>::max() / 2);
    ack.mutable_ack()->set_store_revision(store_->revision());
    send(link.conn, std::move(ack));
  }
}

}  // namespace rackos::controller

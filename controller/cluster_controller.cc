// The controller's decisions (see cluster_controller.h).
#include "controller/cluster_controller.h"
#include "controller/store_schema.h"

#include <algorithm>
#include <chrono>
#include <random>
#include <nlohmann/json.hpp>

#include "core/quantity.h"
#include "core/reschedule_order.h"
#include "core/scheduler.h"
#include "core/spec_parse.h"
#include "proto/json_view.h"
#include "rackos_version.h"

namespace rackos::controller {

using nlohmann::json;

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

// ---------------------------------------------------------------- basics

ClusterController::ClusterController(ControllerConfig cfg, Store* store, EventLog* events)
    : cfg_(std::move(cfg)), store_(store), events_(events) {}

std::string ClusterController::process_name(ProcessId id) const {
  const auto& r = state_.process(id);
  return state_.service(r.service).spec.name + "-" + std::to_string(r.instance);
}

std::string ClusterController::launch_id(ProcessId id) const {
  auto it = pextra_.find(id.value);
  return process_name(id) + "." + std::to_string(it == pextra_.end() ? 0 : it->second.launch);
}

std::string ClusterController::process_key(ProcessId id) const {
  const auto& r = state_.process(id);
  return schema::process_key(state_.service(r.service).spec.name, r.instance);
}

ClusterController::ServiceExtra& ClusterController::sx(ServiceId id) { return sextra_[id]; }

const std::string& ClusterController::yaml_of(ServiceId id) const {
  auto& cache = yaml_cache_[id];
  if (cache.first != state_.service(id).spec) cache = {state_.service(id).spec, format_service_yaml(state_.service(id).spec)};
  return cache.second;
}

void ClusterController::mark_dirty(ProcessId id) { dirty_procs_.insert(id.value); }

void ClusterController::set_health(NodeId node, const NodeHealth& h) { state_.update_health(node, h); }

void ClusterController::send(ConnId conn, v1::ControllerMessage msg, bool close) {
  if (conn == 0) return;
  outbox_.push_back(Outgoing{conn, std::move(msg), close});
}

// ---------------------------------------------------------------- load

static std::string new_cluster_id() {
  std::random_device rd;
  std::string id;
  const char* hex = "0123456789abcdef";
  for (int i = 0; i < 16; ++i) id.push_back(hex[rd() % 16]);
  return id;
}

Result<size_t> ClusterController::load(int64_t now_ms) {
  auto snap = store_->load();
  if (!snap) return snap.error();
  size_t processes = 0;
  cluster_id_.clear();
  for (const auto& rec : snap->records) {
    if (rec.kind == schema::kCluster && rec.key == schema::kClusterKey) {
      auto row = schema::cluster_from_json(rec.value);
      if (!row) return row.error();
      cluster_id_ = row->id;
    }
  }
  if (cluster_id_.empty()) {
    // A new store (or one from before cluster ids): it gets an identity now.
    // An EMPTY store is worth a loud word: nodes that belonged to a cluster
    // will be refused (and keep their work) rather than emptied.
    store_was_empty_ = snap->records.empty();
    cluster_id_ = new_cluster_id();
    cluster_dirty_ = true;
    if (store_was_empty_) {
      events_->add(now_ms, "store-empty", store_->name(),
                   "the store was empty: a new cluster " + cluster_id_ +
                       " begins. Nodes that belonged to another cluster are refused and keep their work" +
                       (cfg_.adopt ? "; --adopt: what they run is taken over" : " (restore the store, or restart with --adopt)"));
    }
  }
  for (const auto& rec : snap->records) {
    if (rec.kind != schema::kService) continue;
    auto row = schema::service_from_json(rec.key, rec.value);
    if (!row) return row.error();
    auto specs = parse_services_yaml(row->yaml, /*admit=*/false);
    if (!specs || specs->size() != 1) {
      return Error{"store: service " + rec.key + " does not parse: " + (specs ? "not one spec" : specs.error().message)};
    }
    auto sid = state_.add_service((*specs)[0]);
    if (!sid) return Error{"store: service " + rec.key + ": " + sid.error().message};
    auto& e = sx(*sid);
    e.desired = row->desired == 0 ? (*specs)[0].instances.min : row->desired;  // 0: a record from before "desired"
    e.stopping = row->stopping;
  }
  for (const auto& rec : snap->records) {
    if (rec.kind != schema::kNode) continue;
    auto row = schema::node_from_json(rec.key, rec.value);
    if (!row) return row.error();
    NodeSpec spec;
    spec.name = rec.key;
    spec.cpu_millis = row->cpu_millis;
    spec.memory_bytes = row->memory_bytes;
    spec.resources = row->resources;
    spec.labels = row->labels;
    auto nid = state_.add_node(spec, now_ms);
    if (!nid) return Error{"store: node " + rec.key + ": " + nid.error().message};
    NodeHealth h = state_.node(*nid).health;
    h.draining = row->draining;
    h.incarnation = row->incarnation;
    h.state_since_ms = now_ms;
    if (row->dead) {
      h.liveness = NodeState::dead;
    } else {
      // Its shim has until then to reconnect before it is declared dead.
      h.liveness = NodeState::ready;
      h.last_heartbeat_ms = now_ms + cfg_.reconnect_grace_ms - cfg_.health.node_lease_ms;
    }
    set_health(*nid, h);
    links_[*nid];
  }
  for (const auto& rec : snap->records) {
    if (rec.kind != schema::kProcess) continue;
    auto row = schema::process_from_json(rec.key, rec.value);
    if (!row) return row.error();
    auto sid = state_.find_service(row->service);
    if (!sid) return Error{"store: process " + rec.key + " names a service that is not stored"};
    ProcessId id = state_.create_process(*sid, row->created_ms, row->instance);
    ++processes;
    auto& r = state_.process(id);
    auto& x = pextra_[id.value];
    r.restart_count = row->restarts;
    r.next_start_ms = row->next_start_ms;
    r.exit_code = row->exit_code;
    r.started_ms = row->started_ms;
    x.launch = row->launch;
    x.stop_wanted = row->stop;
    x.reason = row->reason;
    if (auto ln = state_.find_node(row->last_node)) x.last_node = *ln;
    auto nid = row->node.empty() ? std::nullopt : state_.find_node(row->node);
    if (nid && state_.node(*nid).health.liveness != NodeState::dead) {
      state_.bind(id, *nid);
      state_.set_state(id, row->state, r.created_ms);
      by_launch_[launch_id(id)] = id;
    } else if (x.stop_wanted) {
      remove_process(id, now_ms);  // its stop was asked for and its node is gone: done
      continue;
    } else {
      ProcessState st = row->state;
      if (st == ProcessState::starting || st == ProcessState::running || st == ProcessState::stopping) {
        st = ProcessState::pending;
        mark_dirty(id);
      }
      state_.set_state(id, st, r.created_ms);
      if (st != ProcessState::exited) waiting_.insert(id.value);
    }
  }
  for (ServiceId sid = 0; sid < state_.service_count(); ++sid) {
    if (!state_.service(sid).removed && sx(sid).stopping) finish_stopping(sid, now_ms);
  }
  events_->add(now_ms, "controller-loaded", store_->name(),
               "revision " + std::to_string(snap->revision) + ": " + std::to_string(state_.service_count()) +
                   " services, " + std::to_string(state_.node_count()) + " nodes, " + std::to_string(processes) +
                   " processes; nodes have " + format_duration_ms(cfg_.reconnect_grace_ms) + " to reconnect");
  return processes;
}

Result<size_t> ClusterController::reset_to_store(int64_t now_ms) {
  const ControllerCounters counters = counters_;
  const Histogram failover = failover_, store_latency = store_latency_;
  std::vector<ConnId> conns;
  for (const auto& [conn, node] : conn_node_) conns.push_back(conn);
  *this = ClusterController(cfg_, store_, events_);
  counters_ = counters;
  failover_ = failover;
  store_latency_ = store_latency;
  auto r = load(now_ms);
  for (ConnId conn : conns) send(conn, v1::ControllerMessage{}, /*close=*/true);
  events_->add(now_ms, "store-reset", store_->name(),
               "a commit failed: the changes since the last good one are undone; nodes register again");
  return r;
}

// ---------------------------------------------------------------- node streams

void ClusterController::on_shim_message(ConnId conn, const v1::ShimMessage& m, int64_t now_ms) {
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
  if (m.has_heartbeat()) on_heartbeat(conn, it->second, m.heartbeat(), now_ms);
  if (m.has_event()) on_event(conn, it->second, m.event(), now_ms);
  if (m.has_log_data()) log_data_.push_back(m.log_data());
}

void ClusterController::on_disconnect(ConnId conn, int64_t now_ms) {
  auto it = conn_node_.find(conn);
  if (it == conn_node_.end()) return;
  NodeId node = it->second;
  conn_node_.erase(it);
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
  if (!cfg_.token.empty() && reg.token() != cfg_.token) {
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
  if (link.conn != 0 && link.conn != conn) conn_node_.erase(link.conn);  // a shim taken over by its standby
  link.conn = conn;
  conn_node_[conn] = node;
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

void ClusterController::on_heartbeat(ConnId conn, NodeId node, const v1::Heartbeat& hb, int64_t now_ms) {
  const Node& n = state_.node(node);
  if (n.health.liveness == NodeState::dead) {
    v1::ControllerMessage out;
    out.set_refused("node " + n.name + " was declared dead (no heartbeat for " +
                    format_duration_ms(now_ms - n.health.last_heartbeat_ms) + "); register again");
    send(conn, std::move(out), true);
    conn_node_.erase(conn);
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
  const std::string& kind = ev.kind();
  NodeLink& link = links_[node];
  if (kind == "exited" && link.stale.erase(ev.id())) {
    check_reconciled(node, now_ms);
    return;
  }
  auto it = by_launch_.find(ev.id());
  const bool ours = it != by_launch_.end() && state_.process(it->second).node == node;
  if (kind == "started") {
    if (ours) mark_running(it->second, ev.pid(), now_ms);
  } else if (kind == "start_failed") {
    if (ours) {
      v1::ExitStatus st;
      st.set_start_error(ev.message());
      handle_exit(it->second, st, now_ms);
    }
  } else if (kind == "exited") {
    if (ours) handle_exit(it->second, ev.exit(), now_ms);
  } else if (kind == "evict") {
    if (ours && !pextra_[it->second.value].stop_wanted) {
      ProcessId id = it->second;
      events_->add(now_ms, "evict", process_name(id), state_.node(node).name + ": " + ev.message() + "; moving it");
      avoid_.emplace_back(id, node);
      move_off(id, now_ms);
    }
  } else {
    events_->add(now_ms, kind, state_.node(node).name + (ev.id().empty() ? "" : "/" + ev.id()), ev.message());
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

// ---------------------------------------------------------------- messages to shims

void ClusterController::send_start(ProcessId id) {
  const auto& r = state_.process(id);
  if (r.node == kNoNode) return;
  const ConnId conn = links_[r.node].conn;
  if (conn == 0) return;  // sent when the node registers
  const ServiceSpec& spec = state_.service(r.service).spec;
  v1::ControllerMessage m;
  auto* s = m.mutable_start();
  s->set_id(launch_id(id));
  s->set_service(spec.name);
  for (const auto& a : spec.command) s->add_argv(a);
  auto& env = *s->mutable_env();
  for (const auto& [k, v] : spec.env) env[k] = v;
  env["RACKOS_SERVICE"] = spec.name;
  env["RACKOS_PROCESS"] = process_name(id);
  env["RACKOS_INSTANCE"] = std::to_string(r.instance);
  env["RACKOS_NODE"] = state_.node(r.node).name;
  s->set_workdir(spec.workdir);
  if (spec.uid) s->set_uid(*spec.uid);
  if (spec.gid) s->set_gid(*spec.gid);
  *s->mutable_envelope() = to_proto(spec.envelope);
  s->set_priority(std::string(to_string(spec.priority)));
  s->set_on_partition(std::string(to_string(spec.effective_on_partition())));
  // Refused here rather than breaking the node's stream (a shim takes at most
  // kMaxNodeMessageBytes a message); apply's limits keep specs well below it.
  if (const size_t bytes = m.ByteSizeLong(); bytes > kMaxNodeMessageBytes) {
    start_too_big_.emplace_back(id, "its start order is " + std::to_string(bytes) + " bytes; a node takes at most " +
                                        std::to_string(kMaxNodeMessageBytes) + " (shorten its command or env)");
    return;
  }
  send(conn, std::move(m));
}

void ClusterController::send_stop(ProcessId id, int64_t grace_ms) {
  const auto& r = state_.process(id);
  if (r.node == kNoNode) return;
  v1::ControllerMessage m;
  m.mutable_stop()->set_id(launch_id(id));
  m.mutable_stop()->set_grace_ms(grace_ms);
  // A service going away takes its retained logs on the node with it.
  m.mutable_stop()->set_forget(sx(r.service).stopping);
  send(links_[r.node].conn, std::move(m));
}

void ClusterController::move_off(ProcessId id, int64_t now_ms) {
  auto& r = state_.process(id);
  if (r.node == kNoNode) return;
  send_stop(id, cfg_.stop_grace_ms);
  by_launch_.erase(launch_id(id));
  state_.unbind(id);
  state_.set_state(id, ProcessState::pending, now_ms);
  waiting_.insert(id.value);
  capacity_changed_ = true;
  mark_dirty(id);
}

void ClusterController::stop_for_good(ProcessId id, int64_t now_ms) {
  auto& x = pextra_[id.value];
  x.stop_wanted = true;
  const auto& r = state_.process(id);
  if (r.node == kNoNode) {
    remove_process(id, now_ms);
    return;
  }
  state_.set_state(id, ProcessState::stopping, now_ms);
  send_stop(id, cfg_.stop_grace_ms);
  mark_dirty(id);
}

void ClusterController::remove_process(ProcessId id, int64_t now_ms) {
  const ServiceId sid = state_.process(id).service;
  deletes_.emplace_back(schema::kProcess, process_key(id));
  dirty_procs_.erase(id.value);
  auto it = by_launch_.find(launch_id(id));
  if (it != by_launch_.end() && it->second == id) by_launch_.erase(it);
  waiting_.erase(id.value);
  clear_lost(id, 0, false);
  std::erase_if(avoid_, [&](const auto& a) { return a.first == id; });
  if (state_.process(id).node != kNoNode) capacity_changed_ = true;
  state_.remove_process(id);
  pextra_.erase(id.value);
  if (sx(sid).stopping) finish_stopping(sid, now_ms);
}

void ClusterController::finish_stopping(ServiceId sid, int64_t now_ms) {
  const Service& s = state_.service(sid);
  if (s.removed || !s.processes.empty()) return;
  deletes_.emplace_back(schema::kService, s.spec.name);
  dirty_services_.erase(sid);
  events_->add(now_ms, "service-stopped", s.spec.name, "every process stopped; the service is gone");
  state_.mark_service_removed(sid);
  sextra_.erase(sid);
}

// ---------------------------------------------------------------- time

void ClusterController::tick(int64_t now_ms) {
  for (NodeId n = 0; n < state_.node_count(); ++n) {
    const Node& node = state_.node(n);
    if (node.removed || node.health.liveness == NodeState::dead) continue;
    NodeHealth h = node.health;
    HealthEvent ev = rackos::on_tick(h, now_ms, cfg_.health);
    if (ev == HealthEvent::none) continue;
    set_health(n, h);
    if (ev == HealthEvent::became_suspect) {
      events_->add(now_ms, "node-suspect", node.name,
                   "no heartbeat for " + format_duration_ms(now_ms - h.last_heartbeat_ms) + "; no new placements");
    } else if (ev == HealthEvent::became_dead) {
      node_died(n, now_ms);
    }
  }
  if (now_ms - last_scaling_ms_ >= cfg_.scaling_every_ms) {
    last_scaling_ms_ = now_ms;
    scale_services(now_ms);
  }
}

void ClusterController::node_died(NodeId node, int64_t now_ms) {
  NodeLink& link = links_[node];
  const Node& n = state_.node(node);
  link.died_at_ms = n.health.last_heartbeat_ms;
  std::vector<ProcessId> bound = n.processes;
  for (ProcessId id : bound) {
    if (pextra_[id.value].stop_wanted) remove_process(id, now_ms);
  }
  for (ProcessId id : bound) {
    if (state_.processes().find(id)) by_launch_.erase(launch_id(id));
  }
  std::vector<ProcessId> lost = take_lost_processes(state_, node, now_ms);
  for (ProcessId id : lost) {
    auto& x = pextra_[id.value];
    x.lost_at_ms = now_ms;
    x.lost_from = node;
    x.pid = 0;
    waiting_.insert(id.value);
    mark_dirty(id);
  }
  link.lost_outstanding = lost.size();
  link.stale.clear();
  capacity_changed_ = true;
  dirty_nodes_.insert(node);
  events_->add(now_ms, "node-dead", n.name,
               "no heartbeat for " + format_duration_ms(now_ms - n.health.last_heartbeat_ms) + " (lease " +
                   format_duration_ms(cfg_.health.node_lease_ms) + "); " + std::to_string(lost.size()) +
                   " processes lost, rescheduling");
  if (lost.empty()) link.died_at_ms = -1;
}

void ClusterController::scale_services(int64_t now_ms) {
  for (ServiceId sid = 0; sid < state_.service_count(); ++sid) {
    const Service& s = state_.service(sid);
    if (s.removed || s.spec.instances.min == s.spec.instances.max) continue;
    auto& e = sx(sid);
    if (e.stopping) continue;
    // Decide only on a settled service: every live instance running (one still
    // starting or backing off would read as "below instances.min").
    std::vector<InstanceLoad> loads;
    size_t live = 0;
    for (ProcessId id : s.processes) {
      const auto& r = state_.process(id);
      const auto& x = pextra_[id.value];
      if (x.stop_wanted || r.state == ProcessState::exited) continue;
      ++live;
      if (r.state == ProcessState::running) {
        loads.push_back({id, x.usage.cpu_demand_millis(), x.allocation.cpu_target_millis(), r.created_ms});
      }
    }
    if (loads.empty() || loads.size() != live || live != e.desired) {
      e.scaling = ScalingState{};
      continue;
    }
    ScalingDecision d = decide_scaling(s.spec, loads, e.scaling, now_ms, cfg_.scaling);
    if (d.action == ScalingAction::none) continue;
    events_->add(now_ms, "scale-" + std::string(to_string(d.action)), s.spec.name, d.reason);
    if (d.action == ScalingAction::add) {
      e.desired = std::min(e.desired + 1, s.spec.instances.max);
    } else if (d.action == ScalingAction::remove) {
      if (e.desired > s.spec.instances.min) --e.desired;
      stop_for_good(d.target, now_ms);
    } else if (d.action == ScalingAction::move) {
      avoid_.emplace_back(d.target, state_.process(d.target).node);
      move_off(d.target, now_ms);
    }
    dirty_services_.insert(sid);
    reconcile_instances(sid, now_ms);
  }
}

void ClusterController::reconcile_instances(ServiceId sid, int64_t now_ms) {
  const Service& s = state_.service(sid);
  auto& e = sx(sid);
  e.desired = std::clamp(e.desired, s.spec.instances.min, s.spec.instances.max);
  std::vector<ProcessId> live;
  for (ProcessId id : s.processes) {
    if (!pextra_[id.value].stop_wanted) live.push_back(id);
  }
  while (live.size() < e.desired) {
    ProcessId id = state_.create_process(sid, now_ms);
    pextra_[id.value];
    waiting_.insert(id.value);
    mark_dirty(id);
    live.push_back(id);
  }
  if (live.size() > e.desired) {
    std::vector<InstanceState> states;
    for (ProcessId id : live) states.push_back({id, state_.process(id).state, state_.process(id).instance});
    for (ProcessId id : choose_surplus(std::move(states), live.size() - e.desired)) stop_for_good(id, now_ms);
  }
  dirty_services_.insert(sid);
}

void ClusterController::settle(int64_t now_ms) {
  for (auto& [id, why] : std::exchange(start_too_big_, {})) {
    if (!state_.processes().find(id)) continue;
    v1::ExitStatus st;
    st.set_start_error(why);
    handle_exit(id, st, now_ms);
  }
  if (waiting_.empty()) return;
  const bool retry = capacity_changed_ || now_ms - last_retry_ms_ >= cfg_.retry_unplaceable_ms;
  std::vector<ProcessId> pending;
  for (uint64_t v : waiting_) {
    ProcessId id{v};
    auto& r = state_.process(id);
    auto& x = pextra_[v];
    if (r.state == ProcessState::backoff) {
      if (r.next_start_ms > now_ms) continue;
      state_.set_state(id, ProcessState::pending, now_ms);
      mark_dirty(id);
    } else if (!retry && !x.reason.empty()) {
      continue;  // unplaceable last time, and nothing changed since
    }
    pending.push_back(id);
  }
  if (retry) last_retry_ms_ = now_ms;
  capacity_changed_ = false;
  if (pending.empty()) return;
  SchedulerConfig sc;
  sc.score_window = cfg_.score_window;
  sc.preemption = true;
  sc.now_ms = now_ms;
  sc.avoid = avoid_;
  PlacementPlan plan = schedule(state_, pending, sc);
  for (const auto& pre : plan.preemptions) {
    // Its old launch, on the node it was bound to, stops; it waits again.
    auto& x = pextra_[pre.victim.value];
    v1::ControllerMessage m;
    m.mutable_stop()->set_id(launch_id(pre.victim));
    m.mutable_stop()->set_grace_ms(cfg_.stop_grace_ms);
    send(links_[pre.node].conn, std::move(m));
    by_launch_.erase(launch_id(pre.victim));
    x.reason = "preempted by " + process_name(pre.preemptor) + " on " + state_.node(pre.node).name;
    waiting_.insert(pre.victim.value);
    ++counters_.preemptions;
    events_->add(now_ms, "preempted", process_name(pre.victim), x.reason);
    mark_dirty(pre.victim);
  }
  for (const auto& pl : plan.placements) {
    auto& x = pextra_[pl.process.value];
    ++x.launch;
    x.last_node = pl.node;
    x.reason.clear();
    by_launch_[launch_id(pl.process)] = pl.process;
    waiting_.erase(pl.process.value);
    std::erase_if(avoid_, [&](const auto& a) { return a.first == pl.process; });
    ++counters_.placements;
    if (x.lost_at_ms >= 0) ++counters_.reschedules;
    send_start(pl.process);
    mark_dirty(pl.process);
  }
  for (auto& [id, why] : std::exchange(start_too_big_, {})) {
    if (!state_.processes().find(id)) continue;
    v1::ExitStatus st;
    st.set_start_error(why);
    handle_exit(id, st, now_ms);
  }
  for (const auto& u : plan.unplaceable) {
    auto& x = pextra_[u.process.value];
    if (x.reason != u.reason) {
      events_->add(now_ms, "unplaceable", process_name(u.process), u.reason);
      x.reason = u.reason;
    }
    waiting_.insert(u.process.value);
  }
}

// ---------------------------------------------------------------- clients

v1::ApplyResponse ClusterController::apply(const std::string& yaml, int64_t now_ms) {
  v1::ApplyResponse resp;
  auto specs = parse_services_yaml(yaml);
  if (!specs) {
    for (const auto& line : split_lines(specs.error().message)) resp.add_errors(line);
    return resp;
  }
  // Check everything first: a request with any error changes nothing.
  std::set<std::string> seen;
  for (const auto& spec : *specs) {
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
  for (const auto& spec : *specs) {
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

v1::ProcessInfo ClusterController::process_info(const ProcessRecord& r) const {
  v1::ProcessInfo p;
  const ServiceSpec& spec = state_.service(r.service).spec;
  p.set_id(process_name(r.id));
  p.set_service(spec.name);
  if (r.node != kNoNode) p.set_node(state_.node(r.node).name);
  p.set_state(to_proto(r.state));
  *p.mutable_envelope() = to_proto(spec.envelope);
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
  state_.processes().for_each([&](const ProcessRecord& r) {
    if (!req.service().empty() && state_.service(r.service).spec.name != req.service()) return;
    if (node && r.node != *node) return;
    *out.add_processes() = process_info(r);
  });
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

std::vector<Outgoing> ClusterController::take_outbox() { return std::exchange(outbox_, {}); }

// ---------------------------------------------------------------- store

Result<uint64_t> ClusterController::commit() {
  if (dirty_procs_.empty() && dirty_services_.empty() && dirty_nodes_.empty() && deletes_.empty() && !cluster_dirty_) {
    return store_->revision();
  }
  StoreBatch b;
  if (cluster_dirty_) b.puts.push_back({schema::kCluster, schema::kClusterKey, schema::to_json(schema::ClusterRow{cluster_id_})});
  b.deletes = deletes_;
  for (uint64_t v : dirty_procs_) {
    ProcessId id{v};
    const auto* r = state_.processes().find(id);
    if (!r) continue;
    const auto& x = pextra_[v];
    schema::ProcessRow row;
    row.service = state_.service(r->service).spec.name;
    row.instance = r->instance;
    row.node = r->node == kNoNode ? "" : state_.node(r->node).name;
    row.last_node = x.last_node == kNoNode ? "" : state_.node(x.last_node).name;
    row.state = r->state;
    row.launch = x.launch;
    row.restarts = r->restart_count;
    row.next_start_ms = r->next_start_ms;
    row.exit_code = r->exit_code;
    row.created_ms = r->created_ms;
    row.started_ms = r->started_ms;
    row.stop = x.stop_wanted;
    row.reason = x.reason;
    b.puts.push_back({schema::kProcess, process_key(id), schema::to_json(row)});
  }
  for (ServiceId sid : dirty_services_) {
    const Service& s = state_.service(sid);
    if (s.removed) continue;
    const auto& e = sextra_[sid];
    b.puts.push_back({schema::kService, s.spec.name, schema::to_json(schema::ServiceRow{yaml_of(sid), e.desired, e.stopping})});
  }
  for (NodeId nid : dirty_nodes_) {
    const Node& n = state_.node(nid);
    schema::NodeRow row;
    row.cpu_millis = n.capacity.cpu_millis;
    row.memory_bytes = n.capacity.memory_bytes;
    row.labels = std::map<std::string, std::string>(n.labels.begin(), n.labels.end());
    for (int i = 0; i < state_.resource_names().size(); ++i) {
      const int64_t v = n.capacity.extended[static_cast<size_t>(i)];
      if (v != 0) row.resources[state_.resource_names().name(i)] = v;
    }
    row.draining = n.health.draining;
    row.incarnation = n.health.incarnation;
    row.dead = n.health.liveness == NodeState::dead;
    b.puts.push_back({schema::kNode, n.name, schema::to_json(row)});
  }
  const auto t0 = std::chrono::steady_clock::now();
  auto r = store_->commit(b);
  store_latency_.observe(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  if (!r) {
    ++counters_.commit_errors;
    return r.error();
  }
  ++counters_.commits;
  cluster_dirty_ = false;
  dirty_procs_.clear();
  dirty_services_.clear();
  dirty_nodes_.clear();
  deletes_.clear();
  return r;
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

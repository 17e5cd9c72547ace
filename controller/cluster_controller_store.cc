// The controller and its Store (see cluster_controller.h): load everything at
// one revision, commit every change of a step as one transaction, and reset
// to what the store holds after a failed commit. Records go through
// store_schema, the one place their JSON form is defined.
#include "controller/cluster_controller.h"

#include <chrono>
#include <random>

#include "controller/store_schema.h"
#include "core/quantity.h"
#include "core/spec_parse.h"

namespace rackos::controller {

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
  revision_seen_ = snap->revision;
  size_t processes = 0;
  cluster_id_.clear();
  for (const auto& rec : snap->records) {
    if (rec.kind == schema::kCluster && rec.key == schema::kClusterKey) {
      auto row = schema::cluster_from_json(rec.value);
      if (!row) return row.error();
      cluster_id_ = row->id;
    }
  }
  for (const auto& rec : snap->records) {
    if (auto r = auth_.load_record(rec); !r) return r.error();
  }
  if (!cfg_.insecure) {
    auto r = auth_.ensure_ca(cfg_.fallback_ca);
    if (!r) return Error{"cannot create the cluster CA: " + r.error().message};
    if (*r && !cfg_.fallback_ca.cert_pem.empty() && auth_.ca().cert_pem == cfg_.fallback_ca.cert_pem) {
      events_->add(now_ms, "store-reset", store_->name(),
                   "the store held no cluster CA: restored the copy kept in the data dir (nodes keep their certificates)");
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
  for (ConnId conn : conns) bind(conn, kNoNode);  // node ids may name other nodes after the reload
  auto beats = beats_;
  auto binder = bind_;
  beats->reset();
  *this = ClusterController(cfg_, store_, events_);
  beats_ = beats;
  bind_ = binder;
  counters_ = counters;
  failover_ = failover;
  store_latency_ = store_latency;
  auto r = load(now_ms);
  for (ConnId conn : conns) send(conn, v1::ControllerMessage{}, /*close=*/true);
  events_->add(now_ms, "store-reset", store_->name(),
               "a commit failed: the changes since the last good one are undone; nodes register again");
  return r;
}

// ---------------------------------------------------------------- store

Result<uint64_t> ClusterController::commit() {
  if (dirty_procs_.empty() && dirty_services_.empty() && dirty_nodes_.empty() && deletes_.empty() && !cluster_dirty_ &&
      !auth_.dirty()) {
    return store_->revision();
  }
  StoreBatch b;
  // Guarded by the revision this controller last read or wrote: if anyone
  // else (a second controller, a stale leader) wrote since, it is refused and
  // changes nothing.
  b.expect_revision = revision_seen_;
  if (cluster_dirty_) b.puts.push_back({schema::kCluster, schema::kClusterKey, schema::to_json(schema::ClusterRow{cluster_id_})});
  b.deletes = deletes_;
  auth_.write(b);
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
  revision_seen_ = *r;
  cluster_dirty_ = false;
  auth_.committed();
  dirty_procs_.clear();
  dirty_services_.clear();
  dirty_nodes_.clear();
  deletes_.clear();
  return r;
}

}  // namespace rackos::controller

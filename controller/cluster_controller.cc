// The controller's decisions (see cluster_controller.h): names, messages to
// shims, time (leases, node death, scaling, instance reconciliation) and
// placement. The other seams live beside it: cluster_controller_nodes.cc (the
// node stream), _clients.cc (client operations), _views.cc (lists, metrics,
// JSON), _store.cc (load, commit, reset).
#include "controller/cluster_controller.h"

#include <algorithm>
#include <chrono>

#include "controller/store_schema.h"
#include "core/quantity.h"
#include "core/reschedule_order.h"
#include "core/scheduler.h"
#include "core/spec_parse.h"

namespace rackos::controller {

// ---------------------------------------------------------------- basics

ClusterController::ClusterController(ControllerConfig cfg, Store* store, EventLog* events)
    : cfg_(std::move(cfg)), auth_(cfg_.token), store_(store), events_(events) {}

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

std::string ClusterController::yaml_of(ServiceId id) const { return format_service_yaml(state_.service(id).spec); }

void ClusterController::mark_dirty(ProcessId id) { dirty_procs_.insert(id.value); }

void ClusterController::set_health(NodeId node, const NodeHealth& h) {
  state_.update_health(node, h);
  NodeBeats::publish(*beats_->slot(node), h);
}

void ClusterController::bind(ConnId conn, NodeId node) {
  if (bind_ && conn != 0) bind_(conn, node == kNoNode ? nullptr : beats_->slot(node));
}

uint64_t ClusterController::store_revision() const { return store_->revision(); }

void ClusterController::send(ConnId conn, v1::ControllerMessage msg, bool close) {
  if (conn == 0) return;
  outbox_.push_back(Outgoing{conn, std::move(msg), close});
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
  s->set_user(spec.user);
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
  if (state_.service(r.service).spec.effective_on_partition() == OnPartition::stop) {
    // At most one: break before make. It stays bound (stopping, its stop not
    // "for good") until its node reports the launch exited or the node dies;
    // only then is it placed again (handle_exit), elsewhere (avoid_).
    state_.set_state(id, ProcessState::stopping, now_ms);
    mark_dirty(id);
    return;
  }
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
  struct Change {
    NodeId node;
    NodeHealth health;
    HealthEvent event;
  };
  std::vector<Change> changes;
  size_t live = 0, silent = 0;
  for (NodeId n = 0; n < state_.node_count(); ++n) {
    const Node& node = state_.node(n);
    if (node.removed || node.health.liveness == NodeState::dead) continue;
    ++live;
    // Heartbeats taken on the stream threads count (NodeBeats); a node turns
    // dead only if none was taken since it was judged.
    NodeBeats::Slot& slot = *beats_->slot(n);
    NodeHealth h;
    HealthEvent ev;
    while (true) {
      const uint64_t seen = NodeBeats::word(slot);
      h = node.health;
      h.last_heartbeat_ms = std::max(h.last_heartbeat_ms, NodeBeats::heard_ms(seen));
      ev = rackos::on_tick(h, now_ms, cfg_.health);
      if (ev != HealthEvent::became_dead || NodeBeats::hold(slot, seen)) break;
    }
    silent += h.liveness == NodeState::suspect || ev == HealthEvent::became_dead;
    if (ev != HealthEvent::none) changes.push_back({n, h, ev});
  }
  // Mass expiry (core looks_cut_off): hold every death while more than half
  // of the live nodes are silent.
  const bool cut_off = looks_cut_off(silent, live);
  if (cut_off != cut_off_) {
    events_->add(now_ms, cut_off ? "controller-cut-off" : "nodes-heard-again", "cluster",
                 cut_off ? std::to_string(silent) + " of " + std::to_string(live) +
                               " nodes are silent at once: assuming this controller is cut off, no node is declared "
                               "dead and nothing is rescheduled until they are heard again"
                         : "most nodes are heard again: silent ones are declared dead as their leases run out");
    cut_off_ = cut_off;
  }
  for (const auto& c : changes) {
    if (c.event == HealthEvent::became_dead && cut_off) {
      // Held: suspect (no placements) rather than dead (nothing rescheduled).
      if (state_.node(c.node).health.liveness != NodeState::suspect) {
        NodeHealth held = c.health;
        held.liveness = NodeState::suspect;
        held.state_since_ms = now_ms;
        set_health(c.node, held);
      }
      continue;
    }
    set_health(c.node, c.health);
    const Node& node = state_.node(c.node);
    if (c.event == HealthEvent::became_ready) {
      capacity_changed_ = true;
      events_->add(now_ms, "node-ready", node.name, "heartbeats resumed");
    } else if (c.event == HealthEvent::became_suspect) {
      events_->add(now_ms, "node-suspect", node.name,
                   "no heartbeat for " + format_duration_ms(now_ms - c.health.last_heartbeat_ms) + "; no new placements");
    } else if (c.event == HealthEvent::became_dead) {
      node_died(c.node, now_ms);
    }
  }
  if (now_ms - last_scaling_ms_ >= cfg_.scaling_every_ms) {
    last_scaling_ms_ = now_ms;
    scale_services(now_ms);
  }
  if (now_ms - last_learn_ms_ >= cfg_.learn_every_ms) learn_mins(now_ms);
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
    // Every service: one held at a fixed count can still be moved off a
    // node that cannot give it enough (decide_scaling says when).
    if (s.removed) continue;
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
      ++counters_.moves;
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

std::vector<Outgoing> ClusterController::take_outbox() { return std::exchange(outbox_, {}); }

}  // namespace rackos::controller

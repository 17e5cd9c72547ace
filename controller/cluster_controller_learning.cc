// Learned minimums in the controller (min: auto; the rule is core/recommender):
// every usage report adds to its service's histograms; once a second each
// learning service is asked whether its mins should change, and the changes
// are made in place — an UpdateEnvelope to each bound process, no restart —
// raises before lowers, at most `learned_updates_per_s` processes a second.
// Σ min never exceeds a node's capacity. A raise that no longer fits: the
// instances of a replicated service that do not fit are moved (a replica
// restarts elsewhere); an at-most-one process is raised as far as its node
// has room — moving it would restart it — and moved only if it is then
// actually starved, by the instance rule, as any starved process is.
#include <algorithm>

#include "controller/cluster_controller.h"
#include "core/quantity.h"

namespace rackos::controller {

void ClusterController::observe_usage(ProcessId id, const v1::Usage& u, const v1::Allocation& a, int64_t now_ms) {
  const auto& r = state_.process(id);
  const Service& s = state_.service(r.service);
  if (!s.spec.auto_cpu.on && !s.spec.auto_memory.on) return;
  UsageSample sample;
  sample.cpu_used_millis = u.cpu_used_millis();
  sample.cpu_demand_millis = u.cpu_demand_millis();
  sample.cpu_target_millis = a.cpu_target_millis();
  sample.memory_bytes = u.memory_bytes();
  observe(sx(r.service).learning, sample, s.spec.envelope.cpu_millis.min, s.spec.envelope.memory_bytes.min, now_ms,
          cfg_.recommender);
}

void ClusterController::learn_mins(int64_t now_ms) {
  const double rate = static_cast<double>(std::max<int64_t>(cfg_.learned_updates_per_s, 1));
  learn_budget_ = std::min(rate, learn_budget_ + rate * static_cast<double>(now_ms - last_learn_ms_) / 1000.0);
  last_learn_ms_ = now_ms;
  struct Change {
    ServiceId sid;
    int64_t cpu, memory;
    bool raise;
    std::string reason;
    LearnedState cpu_before, memory_before;  // timers to restore when it is not made now
  };
  std::vector<Change> changes;
  for (ServiceId sid = 0; sid < state_.service_count(); ++sid) {
    const Service& s = state_.service(sid);
    if (s.removed || (!s.spec.auto_cpu.on && !s.spec.auto_memory.on)) continue;
    auto& e = sx(sid);
    if (e.stopping) continue;
    Change c{sid, s.spec.envelope.cpu_millis.min, s.spec.envelope.memory_bytes.min, false, "", LearnedState{}, LearnedState{}};
    // Only the timers are kept aside (the histograms are not changed by a decision).
    auto timers = [](const LearnedState& st) {
      LearnedState t;
      t.urgent = st.urgent;
      t.below_since_ms = st.below_since_ms;
      t.last = st.last;
      return t;
    };
    c.cpu_before = timers(e.learning.cpu);
    c.memory_before = timers(e.learning.memory);
    bool any = false;
    if (s.spec.auto_cpu.on) {
      MinDecision d = decide_min(e.learning.cpu, LearnedResource::cpu, s.spec.auto_cpu, s.spec.envelope.cpu_millis.max,
                                 c.cpu, now_ms, cfg_.recommender);
      if (d.change) {
        any = true;
        c.cpu = d.min;
        c.raise = c.raise || d.raise;
        c.reason = "cpu min " + format_cpu_millis(d.min) + ": " + d.reason;
      }
    }
    if (s.spec.auto_memory.on) {
      MinDecision d = decide_min(e.learning.memory, LearnedResource::memory, s.spec.auto_memory,
                                 s.spec.envelope.memory_bytes.max, c.memory, now_ms, cfg_.recommender);
      if (d.change) {
        any = true;
        c.memory = d.min;
        c.raise = c.raise || d.raise;
        c.reason += (c.reason.empty() ? "" : "; ") + std::string("memory min ") + format_memory_bytes(d.min) + ": " + d.reason;
      }
    }
    if (any) changes.push_back(std::move(c));
  }
  std::stable_sort(changes.begin(), changes.end(), [](const Change& a, const Change& b) { return a.raise && !b.raise; });
  auto restore = [&](const Change& c) {
    auto put = [](LearnedState& st, const LearnedState& t) {
      st.urgent = std::max(st.urgent, t.urgent);
      st.below_since_ms = t.below_since_ms;
      st.last = t.last;
    };
    put(sx(c.sid).learning.cpu, c.cpu_before);
    put(sx(c.sid).learning.memory, c.memory_before);
  };
  for (const auto& c : changes) {
    const double cost = static_cast<double>(std::max<size_t>(state_.service(c.sid).processes.size(), 1));
    // A service bigger than a second's budget still goes through when the
    // budget is full, rather than never.
    if (cost > learn_budget_ && learn_budget_ < rate) {
      restore(c);
      continue;
    }
    int64_t cpu = c.cpu, memory = c.memory;
    if (!set_learned_mins(c.sid, cpu, memory, now_ms)) {
      restore(c);
      continue;
    }
    std::string reason = c.reason;
    if (cpu != c.cpu) reason += "; cpu raised only to " + format_cpu_millis(cpu) + ", what its node has unreserved";
    if (memory != c.memory) reason += "; memory raised only to " + format_memory_bytes(memory) + ", what its node has unreserved";
    learn_budget_ -= cost;
    if (c.raise) ++counters_.learned_raises;
    else ++counters_.learned_lowers;
    events_->add(now_ms, "learned-min", state_.service(c.sid).spec.name, reason);
  }
}

bool ClusterController::set_learned_mins(ServiceId sid, int64_t& cpu_min, int64_t& memory_min, int64_t now_ms) {
  const Service& s = state_.service(sid);
  const int64_t old_cpu = s.spec.envelope.cpu_millis.min, old_mem = s.spec.envelope.memory_bytes.min;
  if (cpu_min == old_cpu && memory_min == old_mem) return true;
  const bool at_most_one = s.spec.effective_on_partition() == OnPartition::stop;
  if (at_most_one && (cpu_min > old_cpu || memory_min > old_mem)) {
    // As far as each node it is bound to has room.
    for (const auto& [node, count] : s.per_node) {
      if (count == 0) continue;
      const Resources free = state_.node(node).free();
      if (cpu_min > old_cpu) cpu_min = std::max(old_cpu, std::min(cpu_min, old_cpu + free.cpu_millis / count));
      if (memory_min > old_mem) memory_min = std::max(old_mem, std::min(memory_min, old_mem + free.memory_bytes / count));
    }
    if (cpu_min == old_cpu && memory_min == old_mem) return false;
  }
  if (cpu_min > old_cpu || memory_min > old_mem) {
    // Which instances can stay where they are under the new mins.
    std::vector<ProcessId> movers;
    for (const auto& [node, count] : s.per_node) {
      if (count == 0) continue;
      const Resources free = state_.node(node).free();
      // Keep r instances when r × new ≤ free + count × old, in each resource.
      int64_t keep = count;
      if (cpu_min > old_cpu && cpu_min > 0) keep = std::min(keep, (free.cpu_millis + int64_t{count} * old_cpu) / cpu_min);
      if (memory_min > old_mem && memory_min > 0) {
        keep = std::min(keep, (free.memory_bytes + int64_t{count} * old_mem) / memory_min);
      }
      if (keep >= count) continue;
      std::vector<ProcessId> here;
      for (ProcessId id : s.processes) {
        const auto& r = state_.process(id);
        if (r.node == node) here.push_back(id);
      }
      // One already leaving (break before make) still holds its reservation:
      // wait for it rather than over-commit the node.
      for (ProcessId id : here) {
        if (state_.process(id).state == ProcessState::stopping) return false;
      }
      // The newest go first (the oldest have the warmest caches).
      std::sort(here.begin(), here.end(), [&](ProcessId a, ProcessId b) {
        return state_.process(a).created_ms > state_.process(b).created_ms;
      });
      for (size_t i = 0; i < here.size() && static_cast<int64_t>(i) < int64_t{count} - keep; ++i) movers.push_back(here[i]);
    }
    for (ProcessId id : movers) {
      const NodeId from = state_.process(id).node;
      events_->add(now_ms, "learned-move", process_name(id),
                   "its learned min no longer fits on " + state_.node(from).name + "; moving it");
      ++counters_.learned_moves;
      avoid_.emplace_back(id, from);
      move_off(id, now_ms);  // a replica: unbound at once
    }
  }
  ServiceSpec next = s.spec;
  next.envelope.cpu_millis.min = cpu_min;
  next.envelope.memory_bytes.min = memory_min;
  state_.replace_spec(sid, next);
  capacity_changed_ = true;
  dirty_services_.insert(sid);
  for (ProcessId id : state_.service(sid).processes) {
    const auto& r = state_.process(id);
    if (r.node == kNoNode || pextra_[id.value].stop_wanted || r.state == ProcessState::stopping) continue;
    v1::ControllerMessage m;
    m.mutable_update()->set_id(launch_id(id));
    *m.mutable_update()->mutable_envelope() = to_proto(next.envelope);
    m.mutable_update()->set_priority(std::string(to_string(next.priority)));
    send(links_[r.node].conn, std::move(m));
  }
  return true;
}

Result<v1::ExplainResponse> ClusterController::explain(const std::string& service, int64_t now_ms) const {
  auto sid = state_.find_service(service);
  if (!sid) return not_found("no service \"" + service + "\" (see `rackos ps`)");
  const Service& s = state_.service(*sid);
  const RecommenderConfig& rc = cfg_.recommender;
  v1::ExplainResponse out;
  out.set_service(s.spec.name);
  out.set_half_life_ms(rc.half_life_ms);
  out.set_margin(rc.margin);
  out.set_lower_after_ms(rc.lower_after_ms);
  out.set_warmup_ms(rc.warmup_ms);
  uint32_t bound = 0;
  for (ProcessId id : s.processes) bound += state_.process(id).node != kNoNode ? 1 : 0;
  out.set_instances(bound);
  auto it = sextra_.find(*sid);
  static const ServiceLearning kNone;
  const ServiceLearning& l = it == sextra_.end() ? kNone : it->second.learning;
  auto add = [&](LearnedResource res, const LearnedMin& b, const Range& r, const LearnedState& st) {
    auto* x = out.add_resources();
    x->set_resource(std::string(to_string(res)));
    x->set_learned(b.on);
    x->set_min(r.min);
    x->set_floor(b.floor);
    x->set_ceiling(b.ceiling);
    x->set_max(r.max);
    x->set_now_ms(now_ms);
    x->set_percentile(res == LearnedResource::cpu ? rc.cpu_percentile : rc.memory_percentile);
    x->set_recommended(b.on ? recommend(st, res, b, r.max, r.min, rc) : r.min);
    x->set_samples(st.histogram.samples());
    x->set_first_sample_ms(st.histogram.first_sample_ms());
    x->set_last_sample_ms(st.histogram.last_sample_ms());
    x->set_last_change_ms(st.last.at_ms);
    x->set_last_reason(describe(st.last, res, rc));
    for (auto [top, share] : st.histogram.buckets()) {
      auto* bk = x->add_buckets();
      bk->set_upto(top);
      bk->set_share(share);
    }
    auto fmt = [&](int64_t v) { return res == LearnedResource::cpu ? format_cpu_millis(v) : format_memory_bytes(v); };
    auto in = [](int64_t ms) { return format_duration_ms(ms >= 10'000 ? ms / 1000 * 1000 : ms); };  // whole seconds past 10 s
    std::string next;
    const int64_t rec = x->recommended();
    const double cur = static_cast<double>(r.min);
    if (!b.on) {
      next = "fixed by the spec (not learned)";
    } else if (st.histogram.empty()) {
      next = "no use seen yet: the min stays " + fmt(r.min) + " until the first report";
    } else if (static_cast<double>(rec) > cur * (1 + rc.deadband)) {
      next = "raise to " + fmt(rec) + " on the next pass (within a second)";
    } else if (static_cast<double>(rec) < cur * (1 - rc.deadband)) {
      const int64_t warm_at = st.histogram.first_sample_ms() + rc.warmup_ms;
      if (now_ms < warm_at) {
        next = "lower to " + fmt(rec) + " once warmed up (in " + in(warm_at - now_ms) + ")";
      } else {
        const int64_t since = st.below_since_ms < 0 ? now_ms : st.below_since_ms;
        next = "lower to " + fmt(rec) + " if it stays below for " +
               in(std::max<int64_t>(0, since + rc.lower_after_ms - now_ms)) + " more";
      }
    } else {
      next = "steady: the recommendation " + fmt(rec) + " is within " + std::to_string(static_cast<int>(rc.deadband * 100)) +
             " % of the min";
    }
    x->set_next(next);
  };
  add(LearnedResource::cpu, s.spec.auto_cpu, s.spec.envelope.cpu_millis, l.cpu);
  add(LearnedResource::memory, s.spec.auto_memory, s.spec.envelope.memory_bytes, l.memory);
  return out;
}

}  // namespace rackos::controller

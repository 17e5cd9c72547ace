// Placement: filter → score → pick, with preemption (see scheduler.h).
#include "core/scheduler.h"

#include <unordered_set>

#include <algorithm>
#include <array>
#include <map>
#include <optional>
#include <tuple>
#include <unordered_map>

#include "core/reschedule_order.h"

namespace rackos {
namespace {

bool constraint_holds(const Constraint& c, const Node& n) {
  const std::string* v = n.label(c.key);
  switch (c.op) {
    case Constraint::Op::exists: return v != nullptr;
    case Constraint::Op::in: return v != nullptr && std::find(c.values.begin(), c.values.end(), *v) != c.values.end();
    case Constraint::Op::not_in: return v == nullptr || std::find(c.values.begin(), c.values.end(), *v) == c.values.end();
  }
  return false;
}

const Constraint* failed_constraint(const Service& s, const Node& n) {
  for (const auto& c : s.spec.constraints) {
    if (!constraint_holds(c, n)) return &c;
  }
  return nullptr;
}

// Instances of the service already on the node, then in its zone, then in its
// rack: lower is better. Sharing a node is worst (a node is the most likely
// thing to fail), then sharing a wide domain.
using SpreadScore = std::array<uint32_t, kSpreadLevels + 1>;

SpreadScore spread_score(const Service& s, const Node& n) {
  SpreadScore sc{};
  sc[0] = s.on_node(n.id);
  for (int level = 0; level < kSpreadLevels; ++level) {
    sc[static_cast<size_t>(level) + 1] = s.in_domain(level, n.domain[static_cast<size_t>(level)]);
  }
  return sc;
}

std::string resource_shortfall(const ClusterState& st, const Resources& want, const Resources& have) {
  if (want.cpu_millis > have.cpu_millis) return "insufficient cpu";
  if (want.memory_bytes > have.memory_bytes) return "insufficient memory";
  for (int i = 0; i < kMaxExtendedResources; ++i) {
    if (want.extended[static_cast<size_t>(i)] > have.extended[static_cast<size_t>(i)]) {
      return "insufficient " + st.resource_names().name(i);
    }
  }
  return {};
}

class Planner {
 public:
  Planner(ClusterState& st, const SchedulerConfig& cfg) : st_(st), cfg_(cfg) {}

  PlacementPlan run(std::span<const ProcessId> pending) {
    std::vector<ProcessId> queue;
    queue.reserve(pending.size());
    for (ProcessId p : pending) {
      const ProcessRecord* r = st_.processes().find(p);
      if (r != nullptr && r->node == kNoNode) queue.push_back(p);
    }
    sort_queue(queue);
    // Victims of preemption are retried after the queue; each round only
    // holds processes evicted by strictly higher priorities, so rounds are
    // bounded by the number of priority classes.
    for (int round = 0; round <= kPriorityClassCount && !queue.empty(); ++round) {
      std::vector<ProcessId> evicted;
      for (ProcessId p : queue) place(p, evicted);
      queue = std::move(evicted);
      sort_queue(queue);
    }
    for (ProcessId p : queue) plan_.unplaceable.push_back({p, "preempted and no node fits"});
    return std::move(plan_);
  }

 private:
  void sort_queue(std::vector<ProcessId>& q) const { order_for_placement(st_, q); }

  void place(ProcessId p, std::vector<ProcessId>& evicted) {
    const ProcessRecord& r = st_.process(p);
    const Service& s = st_.service(r.service);
    const NodeId avoid = avoided_node(p);
    if (avoid != kNoNode) {  // a move: elsewhere or nowhere, never by preemption
      if (auto node = pick(s, avoid)) {
        bind(p, *node);
        return;
      }
      plan_.unplaceable.push_back({p, "no other node has room"});
      return;
    }
    auto cached = no_fit_.find(r.service);
    if (cached == no_fit_.end()) {
      if (auto node = pick(s, kNoNode)) {
        bind(p, *node);
        return;
      }
    }
    if (cfg_.preemption && s.spec.priority > PriorityClass::batch) {
      if (auto victims = preempt_for(s)) {
        for (ProcessId v : victims->second) {
          plan_.preemptions.push_back({v, victims->first, p});
          st_.unbind(v);
          st_.set_state(v, ProcessState::pending, cfg_.now_ms);
          evicted.push_back(v);
        }
        no_fit_.clear();  // room was made: earlier "no fit" answers may be stale
        bind(p, victims->first);
        return;
      }
    }
    if (cached == no_fit_.end()) cached = no_fit_.emplace(r.service, explain(s)).first;
    plan_.unplaceable.push_back({p, cached->second});
  }

  void bind(ProcessId p, NodeId n) {
    placed_.insert(p.value);
    st_.bind(p, n);
    st_.set_state(p, ProcessState::starting, cfg_.now_ms);
    plan_.placements.push_back({p, n});
  }

  NodeId avoided_node(ProcessId p) const {
    for (const auto& [proc, node] : cfg_.avoid) {
      if (proc == p) return node;
    }
    return kNoNode;
  }

  std::optional<NodeId> pick(const Service& s, NodeId avoid) const {
    const auto& index = st_.by_free_cpu();
    std::optional<NodeId> best;
    SpreadScore best_score{};
    int feasible = 0;
    for (auto it = index.lower_bound({s.request.cpu_millis, 0}); it != index.end(); ++it) {
      const Node& n = st_.node(it->second);
      if (n.id == avoid) continue;
      if (!fits(s.request, n.free())) continue;
      if (failed_constraint(s, n) != nullptr) continue;
      SpreadScore sc = spread_score(s, n);
      if (!best || sc < best_score) {
        best = n.id;
        best_score = sc;
      }
      if (best_score == SpreadScore{}) break;  // perfectly spread and tightest so far
      if (++feasible >= cfg_.score_window && best_score[0] == 0) break;
    }
    return best;
  }

  // The node where the fewest lower-priority victims make room, and them.
  std::optional<std::pair<NodeId, std::vector<ProcessId>>> preempt_for(const Service& s) const {
    const PriorityClass prio = s.spec.priority;
    std::optional<std::pair<NodeId, std::vector<ProcessId>>> best;
    std::tuple<size_t, PriorityClass, NodeId> best_key{};
    for (const Node& n : st_.nodes()) {
      if (n.removed || !n.health.schedulable()) continue;
      if (!fits(s.request, n.capacity)) continue;
      if (failed_constraint(s, n) != nullptr) continue;
      auto victims = victims_on(n, s.request, prio);
      if (!victims) continue;
      PriorityClass worst = PriorityClass::batch;
      for (ProcessId v : *victims) worst = std::max(worst, st_.service(st_.process(v).service).spec.priority);
      std::tuple<size_t, PriorityClass, NodeId> key{victims->size(), worst, n.id};
      if (!best || key < best_key) {
        best_key = key;
        best = std::make_pair(n.id, std::move(*victims));
      }
      if (std::get<0>(best_key) == 1 && std::get<1>(best_key) == PriorityClass::batch) break;  // cannot do better
    }
    return best;
  }

  // Fewest processes below `prio` on `n` whose min frees room for `want`:
  // greedy by how much of the shortfall each covers, then pruned of any
  // victim not needed. Exact when one resource is short.
  std::optional<std::vector<ProcessId>> victims_on(const Node& n, const Resources& want, PriorityClass prio) const {
    Resources deficit = want;
    deficit -= n.free();
    auto positive = [](const Resources& r) {
      if (r.cpu_millis > 0 || r.memory_bytes > 0) return true;
      for (auto v : r.extended) if (v > 0) return true;
      return false;
    };
    if (!positive(deficit)) return std::vector<ProcessId>{};
    struct Cand {
      ProcessId id;
      double cover;
      PriorityClass prio;
      int64_t created_ms;
      const Resources* req;
    };
    std::vector<Cand> cands;
    for (ProcessId v : n.processes) {
      const ProcessRecord& r = st_.process(v);
      const Service& vs = st_.service(r.service);
      // Never one this plan placed: the plan would list it placed and
      // preempted, and its start would already be on its way.
      if (vs.spec.priority >= prio || r.state == ProcessState::stopping || placed_.count(v.value)) continue;
      double cover = 0;
      auto add = [&](int64_t have, int64_t need) {
        if (need > 0) cover += static_cast<double>(std::min(have, need)) / static_cast<double>(need);
      };
      add(vs.request.cpu_millis, deficit.cpu_millis);
      add(vs.request.memory_bytes, deficit.memory_bytes);
      for (size_t i = 0; i < kMaxExtendedResources; ++i) add(vs.request.extended[i], deficit.extended[i]);
      if (cover > 0) cands.push_back({v, cover, vs.spec.priority, r.created_ms, &vs.request});
    }
    std::sort(cands.begin(), cands.end(), [](const Cand& a, const Cand& b) {
      if (a.cover != b.cover) return a.cover > b.cover;
      if (a.prio != b.prio) return a.prio < b.prio;
      if (a.created_ms != b.created_ms) return a.created_ms > b.created_ms;  // newest first
      return b.id < a.id;
    });
    std::vector<const Cand*> taken;
    Resources freed{};
    Resources left = deficit;
    for (const Cand& c : cands) {
      if (!positive(left)) break;
      taken.push_back(&c);
      freed += *c.req;
      left = deficit;
      left -= freed;
    }
    if (positive(left)) return std::nullopt;
    // Drop any victim the others already cover (latest taken first).
    for (size_t i = taken.size(); i-- > 0;) {
      Resources without = freed;
      without -= *taken[i]->req;
      Resources rest = deficit;
      rest -= without;
      if (!positive(rest)) {
        freed = without;
        taken.erase(taken.begin() + static_cast<std::ptrdiff_t>(i));
      }
    }
    std::vector<ProcessId> out;
    for (const Cand* c : taken) out.push_back(c->id);
    return out;
  }

  std::string explain(const Service& s) const {
    std::map<std::string, size_t> reasons;
    size_t total = 0;
    for (const Node& n : st_.nodes()) {
      if (n.removed) continue;
      ++total;
      std::string why = why_not_fit(st_, s, n);
      if (!why.empty()) ++reasons[why];
    }
    if (total == 0) return "no nodes in the cluster";
    std::vector<std::pair<size_t, std::string>> sorted;
    for (auto& [why, count] : reasons) sorted.emplace_back(count, why);
    std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    size_t fit = total;
    for (auto& [count, why] : sorted) fit -= count;
    std::string out = std::to_string(fit) + "/" + std::to_string(total) + " nodes fit";
    for (size_t i = 0; i < sorted.size(); ++i) out += (i ? ", " : ": ") + std::to_string(sorted[i].first) + " " + sorted[i].second;
    return out;
  }

  ClusterState& st_;
  std::unordered_set<uint64_t> placed_;  // placed by this plan: never its victims
  const SchedulerConfig& cfg_;
  PlacementPlan plan_;
  std::unordered_map<ServiceId, std::string> no_fit_;  // services that fit nowhere in this batch
};

}  // namespace

std::string why_not_fit(const ClusterState& state, const Service& s, const Node& n) {
  if (n.removed) return "removed";
  if (!n.health.schedulable()) return "node " + std::string(to_string(n.health.state()));
  if (const Constraint* c = failed_constraint(s, n)) return "do not match " + to_string(*c);
  return resource_shortfall(state, s.request, n.free());
}

PlacementPlan schedule(ClusterState& state, std::span<const ProcessId> pending, const SchedulerConfig& cfg) {
  return Planner(state, cfg).run(pending);
}

}  // namespace rackos

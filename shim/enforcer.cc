// One enforcement tick (see enforcer.h).
#include "shim/enforcer.h"

#include <algorithm>

namespace rackos::shim {
namespace {

// Demand estimate: what it used plus the time it spent throttled (it would
// have run then). A process at its target on a contended node may want more
// than it shows: offer it a quarter more so growth is discovered.
// When the node cgroup itself was throttled (its cap is the node's declared
// capacity), the processes' own counters show nothing: every process that ran
// may want more, so the same quarter is offered to all of them.
int64_t estimate_demand(const ManagedProcess& p, int64_t used, int64_t throttled, bool contended, bool node_throttled) {
  int64_t demand = used + throttled;
  bool at_target = used * 100 >= p.allocation.cpu_target_millis * 95 && p.allocation.cpu_target_millis > 0;
  if ((contended && at_target) || (node_throttled && used > 0)) demand = std::max(demand, used + used / 4 + 10);
  return demand;
}

}  // namespace

EnforcerTotals Enforcer::tick(Supervisor& sup, int64_t now_ms) {
  EnforcerTotals totals;
  Cgroups* cg = sup.cgroups();
  if (sup.generation() != live_generation_) {  // rebuilt only when processes come or go
    live_.clear();
    for (auto& [id, p] : sup.processes()) {
      if (p.state != ProcState::exited) live_.push_back(&p);
    }
    live_generation_ = sup.generation();
  }
  const std::vector<ManagedProcess*>& live = live_;
  if (live.empty()) return totals;

  // 1. Usage: the node's own cgroup (is the node cap biting?), then a bounded
  //    slice of processes, round-robin.
  if (cg != nullptr && sup.node_cgroup() && now_ms - node_stats_ms_ >= kCfsPeriodUs / 1000) {
    if (auto st = cg->read_stats(*sup.node_cgroup())) {
      node_throttled_ = node_stats_ms_ >= 0 && st->cpu_throttled_ns > node_stats_.cpu_throttled_ns;
      node_stats_ = *st;
      node_stats_ms_ = now_ms;
    }
  }
  if (cg != nullptr) {
    std::vector<ManagedProcess*> due;
    for (ManagedProcess* p : live) {
      if (p->cgroup && p->next_stats_ms <= now_ms) due.push_back(p);
    }
    if (due.size() > cfg_.stats_per_tick) {
      std::partial_sort(due.begin(), due.begin() + static_cast<std::ptrdiff_t>(cfg_.stats_per_tick), due.end(),
                        [](const ManagedProcess* x, const ManagedProcess* y) { return x->next_stats_ms < y->next_stats_ms; });
      due.resize(cfg_.stats_per_tick);
    }
    // Rates over at least two CFS periods: quota accounting moves once a
    // period per CPU, so a one-period window is mostly noise.
    const int64_t period_ms = 2 * kCfsPeriodUs / 1000;
    for (ManagedProcess* pp : due) {
      ManagedProcess& p = *pp;
      auto st = cg->read_stats(*p.cgroup);
      if (!st) {
        ++totals.errors;
        p.next_stats_ms = now_ms + cfg_.cold_interval_ms;
        continue;
      }
      int64_t throttled = 0;
      const bool first_sample = p.last_stats_ms < 0;  // no rate yet: look again next period
      if (p.last_stats_ms >= 0 && now_ms > p.last_stats_ms) {
        int64_t dt = now_ms - p.last_stats_ms;
        int64_t used = (st->cpu_usage_ns - p.last_stats.cpu_usage_ns) / 1000 / dt;  // ns per ms → millicores
        throttled = std::max<int64_t>((st->cpu_throttled_ns - p.last_stats.cpu_throttled_ns) / 1000 / dt, 0);
        p.cpu_used_millis = std::max<int64_t>(used, 0);
        // Fast up, slow down: a window that happens to see no throttling
        // (counters move once a CFS period) must not make demand collapse.
        const int64_t decayed = p.cpu_demand_millis * 3 / 4;
        p.cpu_demand_millis =
            std::max(decayed, estimate_demand(p, p.cpu_used_millis, throttled, last_contended_, node_throttled_));
      }
      // The kernel hands CFS runtime to each CPU in slices, so a small quota is
      // overrun by up to a slice per CPU per period. When the node is
      // contended (quotas are the split), measure the overrun and trim it off
      // the quota written next; otherwise forget it.
      if (last_contended_ && p.last_stats_ms >= 0 && p.allocation.cpu_quota_millis > 0) {
        int64_t over = p.cpu_used_millis - p.allocation.cpu_quota_millis;
        p.quota_trim_millis = std::clamp<int64_t>(p.quota_trim_millis + over / 4, 0, p.allocation.cpu_quota_millis / 2);
      } else if (!last_contended_) {
        p.quota_trim_millis = 0;
      }
      if (p.cpu_used_millis != p.allocation.cpu_target_millis || std::abs(st->memory_bytes - p.memory_bytes) > (1 << 20) ||
          p.cpu_demand_millis > p.allocation.cpu_target_millis) {
        changed_ = true;
      }
      p.memory_bytes = st->memory_bytes;
      p.last_stats = *st;
      p.last_stats_ms = now_ms;
      const int64_t quota = p.allocation.cpu_quota_millis;
      const bool hot = first_sample || last_contended_ || node_throttled_ || throttled > 0 || p.allocation.squeezed ||
                       (quota > 0 && p.cpu_used_millis * 10 >= quota * 7) ||
                       p.memory_bytes * 10 >= p.spec.envelope.memory_bytes.max * 8;
      p.next_stats_ms = now_ms + (hot ? period_ms : cfg_.cold_interval_ms);
    }
  }

  // 2. The allocator over every live process — when something moved: a new
  //    sample, a process came or went, the node is busy, or a second passed
  //    (credits and squeeze timers advance with time).
  const bool busy = last_contended_ || node_throttled_;
  if (!changed_ && !busy && sup.generation() == last_generation_ && now_ms - last_alloc_ms_ < 1000) return totals;
  changed_ = false;
  last_generation_ = sup.generation();
  last_alloc_ms_ = now_ms;
  std::vector<AllocInput> in;
  in.reserve(live.size());
  for (size_t i = 0; i < live.size(); ++i) {
    const ManagedProcess& p = *live[i];
    AllocInput a;
    a.id = ProcessId::make(static_cast<uint32_t>(i), 1);
    a.priority = p.spec.priority;
    a.envelope = p.spec.envelope;
    a.cpu_demand_millis = p.cpu_demand_millis;
    a.cpu_used_millis = p.cpu_used_millis;
    a.memory_used_bytes = p.memory_bytes;
    a.created_ms = p.spec.created_ms;
    a.state = p.alloc;
    in.push_back(a);
  }
  const auto& cfg = sup.config();
  NodeAllocation out = allocate_node(cfg.cpu_millis, cfg.memory_bytes, in, now_ms, cfg_.allocator);
  last_contended_ = out.cpu_contended;
  totals.cpu_contended = out.cpu_contended;

  // 3. Write what changed.
  for (size_t i = 0; i < live.size(); ++i) {
    ManagedProcess& p = *live[i];
    const Allocation& a = out.processes[i];
    p.alloc = a.state;
    p.allocation = a;
    totals.cpu_used_millis += p.cpu_used_millis;
    totals.memory_bytes += p.memory_bytes;
    if (cg == nullptr || !p.cgroup || p.state != ProcState::running) continue;
    CgroupLimits l;
    l.cpu_shares = a.cpu_shares;
    l.cpu_quota_millis = out.cpu_contended ? std::max<int64_t>(10, a.cpu_quota_millis - p.quota_trim_millis) : a.cpu_quota_millis;
    l.cpu_burst_millis = a.cpu_burst_millis;
    l.memory_low_bytes = a.memory_low_bytes;
    l.memory_high_bytes = a.memory_high_bytes;
    l.memory_max_bytes = a.memory_max_bytes;
    if (p.applied && *p.applied == l) continue;
    if (auto r = cg->apply(*p.cgroup, l, p.applied); r) {
      p.applied = l;
      ++totals.writes;
    } else {
      ++totals.errors;
      p.applied.reset();  // write everything next time
    }
  }

  // 4. Evictions, reported once each while they last.
  std::vector<std::string> evicted;
  for (ProcessId e : out.evict) {
    const ManagedProcess& p = *live[e.slot()];
    evicted.push_back(p.spec.id);
    if (std::find(last_evicted_.begin(), last_evicted_.end(), p.spec.id) == last_evicted_.end()) {
      sup.emit(NodeEventKind::evict, p.spec.id,
               "node short of memory: squeezed above its min for " +
                   std::to_string(now_ms - p.alloc.squeezed_since_ms) + " ms; move it elsewhere");
    }
  }
  last_evicted_ = std::move(evicted);
  return totals;
}

}  // namespace rackos::shim

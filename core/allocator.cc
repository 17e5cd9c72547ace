// The node allocator (see allocator.h for the semantics).
#include "core/allocator.h"

#include <algorithm>
#include <numeric>

#include "core/int128.h"
#include "core/water_fill.h"

namespace rackos {
namespace {

uint32_t clamp_shares(int128 v) { return static_cast<uint32_t>(std::clamp<int128>(v, 2, 262144)); }

constexpr int64_t kMinWeightMillis = 10;

}  // namespace

uint32_t uncontended_cpu_shares(int64_t cpu_min_millis, PriorityClass priority) {
  const int64_t w = std::max(cpu_min_millis, kMinWeightMillis) * priority_weight(priority);
  return clamp_shares(static_cast<int128>(w) * 256 / 1000);
}

NodeAllocation allocate_node(int64_t cpu_capacity_millis, int64_t memory_capacity_bytes,
                             std::span<const AllocInput> in, int64_t now_ms, const AllocatorConfig& cfg) {
  NodeAllocation out;
  const size_t n = in.size();
  out.processes.resize(n);

  // Credits first: they decide each ceiling.
  std::vector<int64_t> cpu_ceiling(n), mem_ceiling(n);
  for (size_t i = 0; i < n; ++i) {
    const AllocInput& p = in[i];
    Allocation& a = out.processes[i];
    a.id = p.id;
    a.state = p.state;
    int64_t elapsed = p.state.last_run_ms < 0 ? 0 : now_ms - p.state.last_run_ms;
    cpu_ceiling[i] = update_credits(a.state.cpu, p.envelope.cpu_millis, p.cpu_used_millis, elapsed, cfg.burst_window_ms);
    mem_ceiling[i] = update_credits(a.state.memory, p.envelope.memory_bytes, p.memory_used_bytes, elapsed, cfg.burst_window_ms);
    a.state.last_run_ms = now_ms;
  }

  // CPU: min(demand, min) first, the rest water-filled by min × class.
  std::vector<FillClaim> claims(n);
  int128 wanted = 0;
  for (size_t i = 0; i < n; ++i) {
    const AllocInput& p = in[i];
    int64_t demand = std::max<int64_t>(p.cpu_demand_millis, 0);
    int64_t upper = std::min(demand, cpu_ceiling[i]);
    int64_t lower = std::min(upper, p.envelope.cpu_millis.min);
    int64_t weight = std::max(p.envelope.cpu_millis.min, kMinWeightMillis) * priority_weight(p.priority);
    claims[i] = FillClaim{lower, upper, weight};
    wanted += upper;
  }
  std::vector<int64_t> target = water_fill(cpu_capacity_millis, claims);
  int64_t min_total = 0;
  for (const auto& p : in) min_total += p.envelope.cpu_millis.min;
  const bool overcommitted = min_total > cpu_capacity_millis;
  out.cpu_contended = wanted > cpu_capacity_millis;
  for (size_t i = 0; i < n; ++i) {
    const AllocInput& p = in[i];
    Allocation& a = out.processes[i];
    a.cpu_target_millis = target[i];
    a.cpu_quota_millis = cpu_ceiling[i];
    a.cpu_burst_millis = cpu_ceiling[i] > p.envelope.cpu_millis.max ? cpu_ceiling[i] - p.envelope.cpu_millis.max : 0;
    if (out.cpu_contended) {
      int64_t w = std::max({target[i], p.envelope.cpu_millis.min, kMinWeightMillis});
      a.cpu_shares = clamp_shares(static_cast<int128>(w) * 1024 / 1000);
      // Weights only arbitrate within one CPU's run queue; on several cores a
      // node cap is consumed first come. Quotas at the targets make the split
      // exact on any number of cores (never below min, never above ceiling).
      // A process below its min may wake at any moment: room up to min stays
      // open. (Not when the mins themselves overcommit the node; then the
      // targets are the mins scaled down and are the caps.)
      int64_t quota = overcommitted ? target[i] : std::max(target[i], p.envelope.cpu_millis.min);
      a.cpu_quota_millis = std::min(cpu_ceiling[i], std::max<int64_t>(quota, 1));
      a.cpu_burst_millis = 0;
    } else {
      a.cpu_shares = uncontended_cpu_shares(p.envelope.cpu_millis.min, p.priority);
    }
  }

  // Memory: low = min, max = burst, high = the credit ceiling.
  int128 used_total = 0;
  for (size_t i = 0; i < n; ++i) {
    const AllocInput& p = in[i];
    Allocation& a = out.processes[i];
    a.memory_low_bytes = p.envelope.memory_bytes.min;
    a.memory_max_bytes = p.envelope.memory_bytes.burst;
    a.memory_high_bytes = mem_ceiling[i];
    used_total += std::max<int64_t>(p.memory_used_bytes, 0);
  }
  const int64_t limit = memory_capacity_bytes - cfg.memory_reserve_bytes;
  int64_t deficit = used_total > limit ? static_cast<int64_t>(used_total - limit) : 0;
  out.memory_deficit_bytes = deficit;

  // Node short of memory: squeeze above min, lowest priority first, then the
  // most above min, then the newest.
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t x, size_t y) {
    const AllocInput& a = in[x];
    const AllocInput& b = in[y];
    if (a.priority != b.priority) return a.priority < b.priority;
    int64_t oa = a.memory_used_bytes - a.envelope.memory_bytes.min;
    int64_t ob = b.memory_used_bytes - b.envelope.memory_bytes.min;
    if (oa != ob) return oa > ob;
    if (a.created_ms != b.created_ms) return a.created_ms > b.created_ms;
    return b.id < a.id;
  });
  int64_t left = deficit;
  for (size_t i : order) {
    const AllocInput& p = in[i];
    Allocation& a = out.processes[i];
    int64_t above_min = p.memory_used_bytes - p.envelope.memory_bytes.min;
    if (left > 0 && above_min > 0) {
      int64_t take = std::min(above_min, left);
      a.memory_high_bytes = std::min(a.memory_high_bytes, std::max(p.envelope.memory_bytes.min, p.memory_used_bytes - take));
      a.squeezed = true;
      left -= take;
    }
    if (a.squeezed) {
      if (a.state.squeezed_since_ms < 0) a.state.squeezed_since_ms = now_ms;
    } else {
      a.state.squeezed_since_ms = -1;
    }
  }
  // Squeezed past the grace period: the node cannot keep them. Evict just
  // enough of them, in the same order, to cover the deficit.
  int64_t freed = 0;
  for (size_t i : order) {
    if (freed >= deficit) break;
    const Allocation& a = out.processes[i];
    if (a.squeezed && now_ms - a.state.squeezed_since_ms >= cfg.evict_after_ms) {
      out.evict.push_back(a.id);
      freed += in[i].memory_used_bytes;
    }
  }
  return out;
}

}  // namespace rackos

// The node allocator: a pure function of the node's capacity, its processes'
// envelopes, their observed demand and use, their burst credits and the time.
// The shim runs it every loop (50 ms) and writes what changed to cgroups; the
// simulator runs it on every simulated node. Semantics (DESIGN.md):
//
// CPU (work-conserving):
//   target   each process first gets min(demand, min); the rest of the node is
//            water-filled by weight = max(min, 10m) × priority class weight,
//            up to min(demand, ceiling). Σ target = min(capacity, Σ wanted).
//   ceiling  max, or burst while the process has CPU credits.
//   uncontended node (Σ wanted ≤ capacity):
//     quota  = ceiling: the kernel cap (cpu.max / cfs_quota);
//     shares ∝ min × class, so the next load jump is split by min and
//            priority at kernel speed, not at the loop's;
//     burst  = burst − max while credits last (cfs_burst / cpu.max.burst).
//   contended node (Σ wanted > capacity):
//     shares ∝ max(target, min) and quota = max(target, min) (≤ ceiling),
//            burst 0: weights alone only arbitrate within one CPU's run
//            queue, and a node cap on several cores is consumed first come,
//            so the quotas make the kernel deliver the targets exactly; every
//            process gets its min even against higher classes. A process whose
//            demand grows shows throttling and gets more on the next loop.
// Memory (not work-conserving):
//   low = min (never reclaimed below); max = burst (hard limit);
//   high = burst while memory credits last, else max. When the node's use
//   exceeds capacity − reserve, high is pulled down toward use − share of the
//   deficit, lowest priority first, never below min. A process squeezed for
//   longer than `evict_after_ms` is listed in `evict`: the node cannot keep it
//   and the controller should move it. Only processes above min are squeezed.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/burst_credits.h"
#include "core/ids.h"
#include "core/service_spec.h"

namespace rackos {

struct AllocatorConfig {
  int64_t burst_window_ms = 30'000;
  int64_t memory_reserve_bytes = 0;   // kept free on the node (kernel, shim)
  int64_t evict_after_ms = 2'000;     // squeezed this long → cannot keep
};

// Carried from one allocator run to the next, per process.
struct AllocState {
  CreditBucket cpu;
  CreditBucket memory;
  int64_t last_run_ms = -1;           // -1: never ran
  int64_t squeezed_since_ms = -1;     // -1: not squeezed
};

struct AllocInput {
  ProcessId id;
  PriorityClass priority = PriorityClass::normal;
  Envelope envelope;
  int64_t cpu_demand_millis = 0;      // what it would use (use + throttled time)
  int64_t cpu_used_millis = 0;        // what it used
  int64_t memory_used_bytes = 0;
  int64_t created_ms = 0;
  AllocState state;
};

struct Allocation {
  ProcessId id;
  int64_t cpu_target_millis = 0;
  int64_t cpu_quota_millis = 0;
  int64_t cpu_burst_millis = 0;
  uint32_t cpu_shares = 2;            // cgroup v1 units (2..262144); v2 weight derived by the shim
  int64_t memory_low_bytes = 0;
  int64_t memory_high_bytes = 0;
  int64_t memory_max_bytes = 0;
  bool squeezed = false;              // memory.high pulled below use by node pressure
  AllocState state;                   // to pass in next time
};

struct NodeAllocation {
  std::vector<Allocation> processes;  // same order as the input
  std::vector<ProcessId> evict;       // lowest priority first
  bool cpu_contended = false;
  int64_t memory_deficit_bytes = 0;   // node use above capacity − reserve, before reclaim
};

NodeAllocation allocate_node(int64_t cpu_capacity_millis, int64_t memory_capacity_bytes,
                             std::span<const AllocInput> processes, int64_t now_ms, const AllocatorConfig& cfg);

// Shares of a process on an uncontended node: ∝ max(min, 10m) × class weight
// (also what a process starts with, before the allocator's first run).
uint32_t uncontended_cpu_shares(int64_t cpu_min_millis, PriorityClass priority);

// cgroup v1 shares → cgroup v2 weight (1..10000), the conversion runc uses.
inline uint32_t shares_to_weight(uint32_t shares) {
  if (shares < 2) shares = 2;
  if (shares > 262144) shares = 262144;
  return 1 + static_cast<uint32_t>((static_cast<uint64_t>(shares - 2) * 9999) / 262142);
}

}  // namespace rackos

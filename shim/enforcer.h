// The enforcement loop's work for one tick: read each process's usage and
// throttling from its cgroup, estimate demand, run the core node allocator,
// and write the cgroup files whose values changed. Processes the node cannot
// keep (memory squeezed past the grace period) are reported as "evict" events
// for the controller to move; the shim does not kill them itself.
#pragma once

#include <cstdint>

#include "core/allocator.h"
#include "shim/supervisor.h"

namespace rackos::shim {

struct EnforcerConfig {
  AllocatorConfig allocator;
  // Reading a process's cgroup costs a few syscalls, so how often depends on
  // how close it is to a limit: a "hot" process (using ≥ 70 % of its quota,
  // throttled, squeezed, or on a contended node) is read every two CFS periods
  // (200 ms); a cold one every `cold_interval_ms` (2 s). At most `stats_per_tick`
  // processes are read per tick, most overdue first, so a node with thousands
  // of processes costs a bounded amount per tick. The allocator runs over all
  // of them every tick with the latest figures; the node's own cgroup is read
  // every period, so contention is seen at once.
  size_t stats_per_tick = 32;
  int64_t cold_interval_ms = 2000;
};

struct EnforcerTotals {
  int64_t cpu_used_millis = 0;
  int64_t memory_bytes = 0;
  size_t writes = 0;
  size_t errors = 0;
  bool cpu_contended = false;
};

class Enforcer {
 public:
  explicit Enforcer(EnforcerConfig cfg) : cfg_(cfg) {}
  EnforcerTotals tick(Supervisor& sup, int64_t now_ms);

 private:
  EnforcerConfig cfg_;
  std::vector<std::string> last_evicted_;
  bool last_contended_ = false;
  CgroupStats node_stats_;
  int64_t node_stats_ms_ = -1;
  bool node_throttled_ = false;
  bool changed_ = true;
  std::vector<ManagedProcess*> live_;  // pointers into the supervisor's map, rebuilt on generation change
  uint64_t live_generation_ = ~uint64_t{0};
  uint64_t last_generation_ = ~uint64_t{0};
  int64_t last_alloc_ms_ = -1;
};

}  // namespace rackos::shim

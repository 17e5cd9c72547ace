// The shim's pool of monitors (rackos-monitor) exec'd ahead of need, so that
// starting a workload does not pay for exec'ing its monitor. With cgroups each
// is a *warm slot*: its child is already forked and already sits in a
// pre-made cgroup (`.slot-*` under the node's), which the process then keeps,
// so a start neither creates a cgroup nor migrates a task (a v1 migration can
// take milliseconds). An exited process's empty cgroup is recycled into the
// next slot with its limits as they are. Without cgroups a spare is a plain
// monitor waiting for its state dir. Not thread-safe: the shim's loop owns it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/result.h"
#include "shim/cgroups.h"

namespace rackos::shim {

// A monitor exec'd ahead of need, or none (pid 0).
struct Monitor {
  int pid = 0;
  int to_fd = -1;    // its stdin: the state dir is written here
  int from_fd = -1;  // its stdout: it answers "ok PID" (a slot first says "ready")
  std::optional<CgroupPath> cgroup;    // a warm slot's cgroup, child already inside
  std::optional<CgroupLimits> limits;  // a recycled cgroup's limits, as written (none: kernel defaults)
  bool ready = false;                  // a slot whose child has joined its cgroup
};

class MonitorPool {
 public:
  MonitorPool(std::string monitor_path, Cgroups* cgroups, std::function<void(std::string)> warn);
  ~MonitorPool();
  MonitorPool(const MonitorPool&) = delete;
  MonitorPool& operator=(const MonitorPool&) = delete;

  // Where slots are made (none: plain spares).
  void set_node_cgroup(std::optional<CgroupPath> cg) { node_cg_ = std::move(cg); }
  void disable_cgroups();
  // Spawns at most one spare when below target, so the loop never stalls on it.
  void ensure();
  // How many to keep: 3 normally; more while a burst of starts is queued.
  void set_target(size_t n) { target_ = std::clamp<size_t>(n, kSpares, kMaxSpares); }
  // A ready spare, taken out of the pool; none: pid 0. Never waits.
  Monitor take();
  // Lets a spare go (EOF on its stdin: it and its child leave), its slot removed.
  void drop(Monitor& m);
  // Keeps an exited process's empty cgroup for the next slot; false when it
  // cannot be reused (not empty, holding memory, pool full): remove it then.
  bool recycle(const CgroupPath& cg, const std::optional<CgroupLimits>& applied);
  // Removes the slots a dead shim left, except those a process now lives in.
  void remove_stale_slots(const std::set<std::string>& in_use);
  // A power cut: SIGKILL every spare.
  void kill_all();
  // A unique slot-style cgroup name (for a cgroup made on the start path).
  std::string next_slot_name();
  // Spawns `args` (a monitor) in its own session with pipes on stdout and,
  // for --spare/--slot, stdin.
  static Result<Monitor> spawn(const std::vector<std::string>& args);

 private:
  bool slot_ready(Monitor& slot);
  void warn(const std::string& msg);

  static constexpr size_t kSpares = 3;
  static constexpr size_t kMaxSpares = 16;
  static constexpr size_t kMaxRecycled = 64;  // per node; an empty cgroup costs the kernel little
  std::string monitor_path_;
  Cgroups* cgroups_;
  std::function<void(std::string)> warn_;
  std::optional<CgroupPath> node_cg_;
  size_t target_ = kSpares;
  std::vector<Monitor> spares_;
  std::vector<std::pair<CgroupPath, CgroupLimits>> recycled_;
  bool slots_ok_ = true;  // false once a slot monitor failed to join its cgroup
  uint64_t slot_seq_ = 0;
};

}  // namespace rackos::shim

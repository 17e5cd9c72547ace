// Cgroups: the one small interface the shim uses to put processes in their
// own cgroup, set envelope limits and read usage. Two real implementations:
// cgroup v2 (cgroup_v2.cc: cpu.weight, cpu.max, cpu.max.burst, memory.low/
// high/max, cpu.stat, memory.current, memory.events, PSI) and cgroup v1
// (cgroup_v1.cc: cpu.shares, cfs_quota/period/burst, memory soft limit and
// limit, cpuacct.usage, memory.usage_in_bytes, memory.oom_control, and the
// freezer hierarchy when mounted).
// `detect_cgroups` reads /proc/self/mountinfo and picks the one that is
// mounted and writable; none means "enforcement off".
// Not thread-safe: the shim's loop owns it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace rackos::shim {

// What the allocator decided for one process, in kernel terms.
struct CgroupLimits {
  uint32_t cpu_shares = 1024;       // v1 units; v2 converts to cpu.weight
  int64_t cpu_quota_millis = -1;    // -1: no cap
  int64_t cpu_burst_millis = 0;     // sub-period burst above the quota
  int64_t memory_low_bytes = 0;
  int64_t memory_high_bytes = -1;   // -1: no target
  int64_t memory_max_bytes = -1;    // -1: no limit
  friend bool operator==(const CgroupLimits&, const CgroupLimits&) = default;
};

struct CgroupStats {
  int64_t cpu_usage_ns = 0;         // cumulative
  int64_t cpu_throttled_ns = 0;     // cumulative
  int64_t memory_bytes = 0;         // now
  std::optional<double> cpu_pressure_some_avg10;  // PSI, v2 only
};

// One cgroup: a directory per hierarchy (v1 has several, v2 one).
struct CgroupPath {
  std::vector<std::string> dirs;
};

inline constexpr int64_t kCfsPeriodUs = 100'000;

class Cgroups {
 public:
  virtual ~Cgroups() = default;
  virtual std::string name() const = 0;  // "cgroup v1" / "cgroup v2"

  // The node's subtree `<root>/rackos/<node>`, capped at the node's declared
  // capacity. Created if missing; kept if present (a restarted shim reuses it).
  virtual Result<CgroupPath> create_node(const std::string& node, int64_t cpu_millis, int64_t memory_bytes) = 0;
  // A process's cgroup below the node's.
  virtual Result<CgroupPath> create_child(const CgroupPath& parent, const std::string& name) = 0;
  // The files a pid is written to so that it joins the cgroup (one per hierarchy).
  virtual std::vector<std::string> procs_files(const CgroupPath& cg) const = 0;
  // Writes the limits that differ from `previous` (nullopt: write all).
  virtual Result<bool> apply(const CgroupPath& cg, const CgroupLimits& limits,
                             const std::optional<CgroupLimits>& previous) = 0;
  // Usage now (OOM kills are not here: the per-process monitor reads them
  // from oom_file when its workload dies, so the loop does not pay for them).
  virtual Result<CgroupStats> read_stats(const CgroupPath& cg) const = 0;
  // Files holding the OOM kill count, read by the per-process monitor.
  virtual std::string oom_file(const CgroupPath& cg) const = 0;
  // The file that freezes the cgroup's processes (v1 freezer.state, v2
  // cgroup.freeze; see freeze.h); empty when there is none.
  virtual std::string freeze_file(const CgroupPath& cg) const = 0;
  // Removes the directories (the cgroup must be empty of processes).
  virtual Result<bool> remove(const CgroupPath& cg) = 0;
};

// A mount of a cgroup hierarchy, from /proc/self/mountinfo.
struct CgroupMount {
  std::string mount_point;
  bool v2 = false;
  std::vector<std::string> controllers;  // v1: from the super options (cpu, cpuacct, memory...)
  bool read_only = false;
};

// Parses mountinfo text (pure; tested with samples).
std::vector<CgroupMount> parse_cgroup_mounts(const std::string& mountinfo);

struct DetectedCgroups {
  std::unique_ptr<Cgroups> cgroups;  // null: enforcement off
  std::string description;           // what was found and why it was (not) used
};

// Reads /proc/self/mountinfo; prefers v2 when it has the cpu and memory
// controllers, else v1 with cpu, cpuacct and memory, checking writability.
DetectedCgroups detect_cgroups(const std::string& mountinfo_path = "/proc/self/mountinfo");

// `freezer_root` empty: no freezer hierarchy (a lapsed lease then stops workloads with SIGSTOP).
std::unique_ptr<Cgroups> make_cgroup_v1(std::string cpu_root, std::string cpuacct_root, std::string memory_root,
                                        std::string freezer_root = {});
std::unique_ptr<Cgroups> make_cgroup_v2(std::string root);

}  // namespace rackos::shim

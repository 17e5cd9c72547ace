// The files a shim and a process's monitor share in the process's state
// directory (<state-dir>/procs/<id>/), as JSON:
//   launch.json  what to run and how (written by the shim before spawning)
//   spec.json    the envelope and policies the shim enforces (shim only)
//   pid.json     the workload's pid and start time (written by the monitor)
//   exit.json    how it ended (written by the monitor when it exits)
// Each is written to a temporary name and renamed, so a reader never sees half
// a file. They are what lets a new shim re-adopt running processes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/result.h"
#include "core/service_spec.h"

namespace rackos::shim {

struct LaunchSpec {
  std::vector<std::string> argv;
  std::vector<std::pair<std::string, std::string>> env;
  std::string workdir;
  std::optional<uint32_t> uid, gid;
  std::vector<std::string> cgroup_procs;  // files the workload writes its pid to
  std::string oom_file;                   // keyed file with "oom_kill N"; empty without cgroups
  int64_t log_max_bytes = 10 << 20;       // rotate stdout.log/stderr.log past this
  int log_keep = 3;                       // rotated files kept: .1 .. .N
  // At-most-one workloads (on_partition: stop) under a controller: the node's
  // lease file (node_lease.h). Once the lease deadline passes the monitor
  // freezes the workload and every process in `cgroup_members` (freeze.h),
  // thaws them when the lease is renewed, and kills them if it is not renewed
  // within `fence_grace_ms` of the deadline.
  std::string lease_file;
  std::string cgroup_members;             // its cgroup's procs file; empty without cgroups
  std::string freeze_file;                // freezer.state / cgroup.freeze; empty: SIGSTOP instead
  int64_t fence_grace_ms = 3000;
};

// What the shim enforces for a process (survives shim restarts).
struct ProcessSpec {
  std::string id;           // unique on the node, e.g. "web-3" or a controller id
  std::string service;
  Envelope envelope;
  PriorityClass priority = PriorityClass::normal;
  OnPartition on_partition = OnPartition::keep;
  int64_t created_ms = 0;
  std::string cgroup;       // its cgroup's directory name under the node's (empty: the id)
};

struct PidRecord {
  int pid = 0;
  int monitor_pid = 0;
  uint64_t start_ticks = 0;  // /proc/PID/stat field 22: guards against pid reuse
  int64_t started_ms = 0;    // wall clock
};

struct ExitRecord {
  int exit_code = 0;
  int signal = 0;
  bool oom_killed = false;
  std::string start_error;   // set when exec failed; the process never ran
  int64_t ended_ms = 0;
  bool fenced = false;       // its monitor killed it: the node's lease ran out
};

std::string to_json(const LaunchSpec& s);
std::string to_json(const ProcessSpec& s);
std::string to_json(const PidRecord& s);
std::string to_json(const ExitRecord& s);
Result<LaunchSpec> launch_from_json(const std::string& text);
Result<ProcessSpec> process_spec_from_json(const std::string& text);
Result<PidRecord> pid_from_json(const std::string& text);
Result<ExitRecord> exit_from_json(const std::string& text);

// Write-to-temp-and-rename: a reader sees the old file or the new one. Not
// fsync'd: the state dir lives in /run and only has to outlive a shim crash,
// not a reboot (the workloads do not outlive a reboot either).
Result<bool> write_atomic(const std::string& path, const std::string& text);

// Start time of a pid in clock ticks since boot (/proc/PID/stat field 22); 0 if
// gone or a zombie (dead, not yet reaped).
uint64_t process_start_ticks(int pid);

int64_t wall_ms();

}  // namespace rackos::shim

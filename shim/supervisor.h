// The shim's process supervisor: starts workloads through a per-process
// monitor (rackos-monitor), stops them (SIGTERM to the process group, SIGKILL
// after the grace period), notices exits through pidfds, reads exit.json, and
// re-adopts every process from the state directory when a shim starts (after
// a crash, a takeover or an upgrade). It owns each process's cgroup.
// Not thread-safe: the shim's loop owns it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/allocator.h"
#include "core/result.h"
#include "shim/cgroups.h"
#include "shim/freeze.h"
#include "shim/launch_spec.h"
#include "shim/monitor_pool.h"

namespace rackos::shim {

struct SupervisorConfig {
  std::string node;
  std::string state_dir;         // <state_dir>/procs/<id>/ per process
  std::string monitor_path;      // the rackos-monitor binary
  int64_t cpu_millis = 0;        // declared node capacity
  int64_t memory_bytes = 0;
  int64_t log_max_bytes = 10 << 20;
  int log_keep = 3;
  size_t exited_kept = 1000;     // exited records kept until forgotten (oldest dropped first)
  int64_t retained_log_bytes = 256 << 20;  // and at most this many bytes of their logs
  // The node lease file (node_lease.h) that monitors of at-most-one workloads
  // enforce; empty: no controller, no lease, no fencing by monitors.
  std::string lease_file;
  // A frozen at-most-one workload is killed when its lease stays lapsed this long (freeze.h).
  int64_t fence_grace_ms = 3000;
  // Who a process runs as when its spec names no user, uid or gid: an
  // unprivileged account (scripts/setup creates it). Empty: as the shim (root).
  std::string workload_user = "rackos-workload";
};

enum class ProcState : uint8_t { running, stopping, exited };
std::string_view to_string(ProcState s);

struct ManagedProcess {
  ProcessSpec spec;
  std::string dir;
  PidRecord pid;
  int pidfd = -1;                      // the workload's pidfd; -1 once it exited
  std::optional<CgroupPath> cgroup;
  ProcState state = ProcState::running;
  std::optional<ExitRecord> exit;
  bool stop_requested = false;
  int64_t kill_at_ms = 0;              // monotonic: SIGKILL then, if still running
  int64_t exit_seen_ms = -1;           // monotonic: pidfd fired, waiting for exit.json (-1: not yet)
  bool adopted = false;                // found running by this shim, not started by it
  bool forget_on_exit = false;         // its service is gone: drop the record and logs once exited
  int64_t log_bytes = 0;               // exited: what its logs take on disk
  // An asynchronous start: the monitor's "ok PID" answer is awaited here.
  int reply_fd = -1;
  std::string reply;
  int64_t reply_deadline_ms = 0;
  // Enforcement.
  AllocState alloc;
  std::optional<CgroupLimits> applied;
  std::optional<CgroupLimits> pending_limits;  // written by flush_limits right after the start is answered
  CgroupStats last_stats;
  int64_t last_stats_ms = -1;
  int64_t next_stats_ms = 0;           // monotonic: when to read its cgroup again
  int64_t cpu_used_millis = 0;
  int64_t cpu_demand_millis = 0;
  int64_t memory_bytes = 0;
  int64_t quota_trim_millis = 0;       // measured overrun of small quotas, taken off what is written
  Allocation allocation;
};

// Something a client should hear about: an exit, an eviction, fencing.
struct ShimEvent {
  uint64_t seq = 0;
  int64_t time_ms = 0;                 // wall clock
  NodeEventKind kind = NodeEventKind::warning;
  std::string id;                      // process id, when about one
  std::string message;
};

struct StartRequest {
  ProcessSpec spec;
  std::vector<std::string> argv;
  std::vector<std::pair<std::string, std::string>> env;
  std::string workdir;
  std::optional<uint32_t> uid, gid;
  std::string user;  // a name here; empty with no uid/gid: SupervisorConfig::workload_user
};

class Supervisor {
 public:
  Supervisor(SupervisorConfig cfg, Cgroups* cgroups);
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Creates the node's cgroup subtree (when enforcing) and the state dir.
  Result<bool> init();
  // Runs processes without cgroups from now on (when the node cgroup failed).
  void disable_enforcement() {
    cgroups_ = nullptr;
    node_cg_.reset();
    pool_.disable_cgroups();
  }
  // Re-adopts every process found in the state dir (then removes the slots a
  // dead shim left that no adopted process lives in); returns how many run.
  size_t adopt_all(int64_t now_ms);

  // Starts a process. `wait`: return once its monitor has reported the pid.
  // Otherwise return at once (the pid is 0) and finish when the monitor's
  // answer arrives on a fd the loop watches (take_new_reply_fds → on_reply),
  // emitting "started" (or "start_failed"): a burst of starts then overlaps
  // the monitors' exec work instead of waiting for each in turn.
  Result<const ManagedProcess*> start(const StartRequest& req, int64_t now_ms, bool wait = true);
  void on_reply(const std::string& id, int64_t now_ms);
  std::vector<std::pair<int, std::string>> take_new_reply_fds() { return std::exchange(new_reply_fds_, {}); }
  std::vector<int> take_closed_reply_fds() { return std::exchange(closed_reply_fds_, {}); }
  Result<bool> stop(const std::string& id, int64_t grace_ms, int64_t now_ms);
  Result<bool> forget(const std::string& id);  // drop an exited record and its files
  // Drops the record and logs once it has exited (at once if it has).
  void forget_when_exited(const std::string& id);
  int64_t retained_log_bytes() const { return exited_log_bytes_; }
  // Changes a running process's envelope in place (no restart).
  Result<bool> update(const std::string& id, const Envelope& env, PriorityClass prio);

  // A workload's pidfd became readable: it exited; its monitor writes exit.json.
  void pidfd_ready(const std::string& id, int64_t now_ms);
  // Collects exits and sends the SIGKILLs that are due. Touches only the
  // processes that need attention (exiting or stopping), not all of them.
  void check(int64_t now_ms);
  // Writes the CPU limits of processes started since the last call.
  void flush_limits();
  // The node lease ran out (on) or came back: freezes or thaws every running
  // at-most-one workload (the monitors do the same on their own: freeze.h).
  // Returns how many changed.
  size_t set_at_most_one_frozen(bool on);
  bool is_frozen(const ManagedProcess& p) const;
  // Fault injection (a power cut): SIGKILL every workload, its children and
  // its monitor, and every spare, at once. Records are left as they are.
  void power_off();
  // Reaps exited monitors that are our children (on SIGCHLD).
  void reap_children();
  // Bumped whenever the set of live processes or an envelope changes.
  uint64_t generation() const { return generation_; }

  std::map<std::string, ManagedProcess>& processes() { return procs_; }
  const std::map<std::string, ManagedProcess>& processes() const { return procs_; }
  const std::optional<CgroupPath>& node_cgroup() const { return node_cg_; }
  Cgroups* cgroups() { return cgroups_; }
  const SupervisorConfig& config() const { return cfg_; }

  void emit(NodeEventKind kind, std::string id, std::string message);
  const std::deque<ShimEvent>& events() const { return events_; }

  // pidfds registered/unregistered by the loop (epoll).
  std::vector<std::pair<int, std::string>> take_new_pidfds();
  std::vector<int> take_closed_pidfds();

 private:
  void finish(ManagedProcess& p, int64_t now_ms);
  void kill_group(const ManagedProcess& p, int sig);
  FreezeTarget freeze_target(const ManagedProcess& p) const;
  void kill_cgroup_leftovers(const ManagedProcess& p);
  void trim_exited();
  // A launch found with neither pid.json nor exit.json: settles whether a
  // monitor is starting it (then waits for its pid.json) or none ever will
  // (then makes sure none does). True when pid.json or exit.json now exists.
  bool settle_interrupted_start(const ManagedProcess& p);
 public:
  // Keeps spare monitors ready (called by the loop off the start path).
  void ensure_spare() { pool_.ensure(); }
  // How many to keep: more while a burst of starts is queued, so each start
  // finds one already exec'd instead of waiting for one.
  void set_spare_target(size_t n) { pool_.set_target(n); }
 private:
  std::set<std::string> attention_;  // ids exiting or stopping
  std::vector<std::string> forget_next_;  // exited with forget_on_exit: dropped on the next check (after the exit is told)
  std::vector<int> held_locks_;           // launch locks kept when "cancelled" could not be written
  int64_t exited_log_bytes_ = 0;
  std::vector<std::string> pending_limits_;
  uint64_t generation_ = 0;

  SupervisorConfig cfg_;
  Cgroups* cgroups_;
  std::optional<CgroupPath> node_cg_;
  MonitorPool pool_;
  std::map<std::string, ManagedProcess> procs_;
  std::deque<ShimEvent> events_;
  uint64_t next_seq_ = 1;
  std::vector<std::pair<int, std::string>> new_pidfds_;
  std::vector<int> closed_pidfds_;
  std::vector<std::pair<int, std::string>> new_reply_fds_;
  std::vector<int> closed_reply_fds_;
  // Fills in the pid from the monitor's "ok PID" (or says why it failed).
  Result<bool> complete_start(ManagedProcess& p, const std::string& line, int64_t now_ms);
};

int64_t monotonic_ms();

}  // namespace rackos::shim

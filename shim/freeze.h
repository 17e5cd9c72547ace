// Freezing a workload whose node lease ran out, instead of killing it: the
// controller may still be alive behind a failover or a short partition, and
// a frozen at-most-one process is as safe as a dead one (it runs nothing)
// but comes back at once when the lease is renewed. Used by the monitor (which
// enforces the lease when the shim is stalled) and by the shim itself.
//
// With a freezer (v1 freezer.state FROZEN/THAWED, v2 cgroup.freeze 1/0) the
// whole cgroup stops at once; without one, or if the write fails, every member
// gets SIGSTOP/SIGCONT. A marker file `frozen` in the process's state dir says
// so to the shim (a stop of a frozen process must kill it, not ask it to end).
#pragma once

#include <string>
#include <sys/types.h>

namespace rackos::shim {

struct FreezeTarget {
  std::string freeze_file;   // freezer.state / cgroup.freeze; empty: signals only
  std::string members_file;  // the cgroup's procs file; empty: the main pid only
  pid_t pid = 0;             // the workload
  std::string marker;        // <state dir>/frozen; empty: none kept
};

// Freezes (on) or thaws; returns how ("freezer" or "SIGSTOP"/"SIGCONT").
std::string set_frozen(const FreezeTarget& t, bool on);

// SIGKILL to every member, then thaw so they die now (a frozen task cannot
// run its exit until thawed on older kernels). Removes the marker.
void kill_frozen(const FreezeTarget& t);

// Thaws whatever freezer cgroup `pid` is in (from /proc/PID/cgroup) and sends
// SIGCONT: for cleanup after a SIGKILL (a frozen task dies only once thawed).
void thaw_cgroup_of(pid_t pid);

// Whether the marker says the process is frozen.
bool marked_frozen(const std::string& marker);

// The value a freeze file takes: v1 "FROZEN"/"THAWED", v2 "1"/"0" (pure).
std::string freeze_value(const std::string& freeze_file, bool on);

}  // namespace rackos::shim

// Replacing a node's shims with a new binary and no workload restart:
//   1. start a standby on the new binary and wait until it waits on the lock;
//   2. stop the old standby (it holds no workload);
//   3. ask the active shim to hand over: it exits, the new standby takes the
//      lock at once and re-adopts every workload from the state dir;
//   4. start a second standby on the new binary.
// Workloads are held by their monitors throughout; the report compares their
// pids before and after.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"

namespace rackos::shim {

struct UpgradeReport {
  int old_active_pid = 0;
  int new_active_pid = 0;
  int new_standby_pid = 0;
  size_t workloads = 0;           // running before
  size_t workloads_restarted = 0; // running before, not with the same pid after
  int64_t handover_ms = 0;        // handover request → new active answering
};

Result<UpgradeReport> upgrade_shims(const std::string& state_dir, const std::string& new_binary, int64_t timeout_ms = 10'000);

// Starts `argv` detached (own session, stdin /dev/null, output appended to
// log_path); returns its pid.
Result<int> spawn_detached(const std::vector<std::string>& argv, const std::string& log_path);

// Pids of shims waiting as standby for this state dir.
std::vector<int> standby_pids(const std::string& state_dir);

}  // namespace rackos::shim

// Restart decisions for processes that exit: the service's policy (always,
// on-failure, never) with exponential backoff, so crash loops cost little.
// Pure: exit facts and times in, a decision out.
#pragma once

#include <cstdint>
#include <string>

#include "core/service_spec.h"

namespace rackos {

struct ExitInfo {
  int exit_code = 0;          // when it exited normally
  int signal = 0;             // > 0 when killed by a signal
  bool oom_killed = false;    // the memory limit killed it
  bool requested = false;     // stopped because someone asked (stop, scale, drain)
  bool failed() const { return signal > 0 || exit_code != 0 || oom_killed; }
};

struct RestartDecision {
  bool restart = false;
  int64_t at_ms = 0;               // not before this time
  uint32_t restart_count = 0;      // the count to keep for next time
  std::string reason;              // for events: "exit code 1, restart 3 in 800ms"
};

RestartDecision decide_restart(const RestartPolicy& policy, const ExitInfo& exit, uint32_t restart_count,
                               int64_t started_ms, int64_t exited_ms);

// The backoff before restart number `count` (0-based): initial × 2^count, capped.
int64_t backoff_ms(const RestartPolicy& policy, uint32_t count);

std::string describe_exit(const ExitInfo& exit);

}  // namespace rackos

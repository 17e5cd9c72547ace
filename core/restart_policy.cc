// Restart policy and backoff (see restart_policy.h).
#include "core/restart_policy.h"

#include "core/quantity.h"

namespace rackos {

int64_t backoff_ms(const RestartPolicy& policy, uint32_t count) {
  int64_t d = policy.backoff_initial_ms;
  for (uint32_t i = 0; i < count && d < policy.backoff_max_ms; ++i) d *= 2;
  return std::min(d, policy.backoff_max_ms);
}

std::string describe_exit(const ExitInfo& exit) {
  if (exit.oom_killed) return "killed by the memory limit (OOM)";
  if (exit.signal > 0) return "killed by signal " + std::to_string(exit.signal);
  return "exit code " + std::to_string(exit.exit_code);
}

RestartDecision decide_restart(const RestartPolicy& policy, const ExitInfo& exit, uint32_t restart_count,
                               int64_t started_ms, int64_t exited_ms) {
  RestartDecision d;
  const std::string what = describe_exit(exit);
  if (exit.requested) {
    d.reason = "stopped on request (" + what + ")";
    return d;
  }
  bool wants = policy.kind == RestartKind::always || (policy.kind == RestartKind::on_failure && exit.failed());
  if (!wants) {
    d.reason = what + ", restart policy " + std::string(to_string(policy.kind));
    return d;
  }
  // A long healthy run forgives earlier crashes.
  uint32_t count = (exited_ms - started_ms >= policy.reset_after_ms) ? 0 : restart_count;
  int64_t delay = backoff_ms(policy, count);
  d.restart = true;
  d.at_ms = exited_ms + delay;
  d.restart_count = count < UINT16_MAX ? count + 1 : count;
  d.reason = what + ", restart " + std::to_string(d.restart_count) + " in " + format_duration_ms(delay);
  return d;
}

}  // namespace rackos

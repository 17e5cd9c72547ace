// Burst credits: a token bucket per process and resource (DESIGN.md). Credits
// are earned while use is below `max` and spent while above it; the bucket
// holds at most (burst − max) × window. While credits last the ceiling is
// `burst`, after that `max` (until the bucket refills to kRearmPercent). Units: amount·ms (millicore·ms, byte·ms).
#pragma once

#include <algorithm>
#include <cstdint>

#include "core/int128.h"
#include "core/service_spec.h"

namespace rackos {

struct CreditBucket {
  int64_t credits = 0;       // amount·ms
  bool initialized = false;  // a new bucket starts full
  bool bursting = false;     // ceiling is burst
};

// Hysteresis: an empty bucket lets the process burst again only once it holds
// this fraction of its capacity, so a process hovering at max does not flap
// between max and burst on every crumb of credit.
inline constexpr int64_t kRearmPercent = 10;

inline int64_t bucket_capacity(const Range& r, int64_t window_ms) {
  int128 cap = static_cast<int128>(r.burst - r.max) * window_ms;
  return cap > INT64_MAX ? INT64_MAX : static_cast<int64_t>(cap);
}

// Earns or spends for `elapsed_ms` at observed use `used`; returns the ceiling
// that applies from now on (burst while credits remain, else max).
inline int64_t update_credits(CreditBucket& b, const Range& r, int64_t used, int64_t elapsed_ms, int64_t window_ms) {
  const int64_t cap = bucket_capacity(r, window_ms);
  if (!b.initialized) {
    b.credits = cap;
    b.initialized = true;
    b.bursting = cap > 0;
  }
  elapsed_ms = std::clamp<int64_t>(elapsed_ms, 0, window_ms);
  int128 delta = static_cast<int128>(r.max - used) * elapsed_ms;  // > 0 earns, < 0 spends
  int128 next = static_cast<int128>(b.credits) + delta;
  b.credits = static_cast<int64_t>(std::clamp<int128>(next, 0, cap));
  if (cap == 0 || b.credits == 0) b.bursting = false;
  else if (!b.bursting && static_cast<int128>(b.credits) * 100 >= static_cast<int128>(cap) * kRearmPercent) b.bursting = true;
  return b.bursting ? r.burst : r.max;
}

}  // namespace rackos

// The controller pair's leadership lease, as rules over times passed in (DESIGN:
// one active controller; a standby takes over when it stops renewing).
//   - The active renews the leader record every renew_every_ms. It may act
//     only until the SEND time of its last successful renewal + lease −
//     margin, by its own clock: a stalled or cut-off active stops by itself.
//   - A standby watches the record and times its CHANGES by its own clock;
//     it may take over once it has seen no change for a whole lease. A change
//     it sees happened at or after the renewal was sent, so its takeover
//     comes after the active's own stop point (margin ≥ clock-rate error).
// etcd's own leases are too coarse for this (≥ ~2 s TTL, swept every 500 ms).
#pragma once

#include <cstdint>

namespace rackos {

struct LeaderLeaseConfig {
  int64_t lease_ms = 600;
  int64_t renew_every_ms = 100;
  int64_t margin_ms = 150;
};

inline bool leader_may_act(int64_t last_renew_sent_ms, int64_t now_ms, const LeaderLeaseConfig& c) {
  return now_ms < last_renew_sent_ms + c.lease_ms - c.margin_ms;
}

// What a standby knows of the record: its revision and since when (own clock).
struct LeaderWatch {
  int64_t seen_revision = -1;  // -1: not read yet; 0: no record
  int64_t since_ms = 0;
};

inline void observe_leader(LeaderWatch& w, int64_t revision, int64_t now_ms) {
  if (revision != w.seen_revision) {
    w.seen_revision = revision;
    w.since_ms = now_ms;
  }
}

inline bool may_take_over(const LeaderWatch& w, int64_t now_ms, const LeaderLeaseConfig& c) {
  if (w.seen_revision < 0) return false;
  return w.seen_revision == 0 || now_ms - w.since_ms >= c.lease_ms;
}

}  // namespace rackos

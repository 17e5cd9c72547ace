// The node's lease deadline, shared between the shim and the per-process
// monitors through one small memory-mapped file (<state-dir>/lease). The shim
// moves the deadline forward with every acknowledgement from its controller;
// each monitor of an at-most-one workload (on_partition: stop) reads it and
// kills its workload itself once the deadline passes. So fencing does not
// depend on the shim being scheduled: a SIGSTOPped, hung or overloaded shim
// renews nothing, and its monitors fence on time.
//
// The deadline is CLOCK_MONOTONIC milliseconds (one clock for every process on
// the machine); 0 means "not armed" (no controller has acknowledged this node
// yet), and an unarmed lease never fences.
#pragma once

#include <cstdint>
#include <string>

#include "core/result.h"

namespace rackos::shim {

// CLOCK_MONOTONIC in ms: the clock the lease deadline is written in.
int64_t lease_clock_ms();

class NodeLease {
 public:
  NodeLease() = default;
  ~NodeLease();
  NodeLease(const NodeLease&) = delete;
  NodeLease& operator=(const NodeLease&) = delete;

  // The shim's side: creates the file if missing (unarmed), keeps what an
  // earlier shim wrote (a new shim must not extend a lease it was not granted).
  static Result<bool> open_writer(const std::string& path, NodeLease& out);
  // A monitor's side: read-only.
  static Result<bool> open_reader(const std::string& path, NodeLease& out);

  // A deadline further ahead than `latest_ms` cannot have been granted on
  // this boot (the monotonic clock restarted): unarm it.
  void unarm_if_after(int64_t latest_ms);
  // Moves the deadline to `deadline_ms` if that is later than the one held.
  void renew(int64_t deadline_ms);
  int64_t deadline() const;
  bool valid() const { return slot_ != nullptr; }

 private:
  int64_t* slot_ = nullptr;  // in the shared mapping; accessed atomically
};

}  // namespace rackos::shim

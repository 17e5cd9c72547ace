// The process table: every process the controller knows, in one compact array
// of fixed-size records (≈ 100 bytes each) indexed by slot, with a free list so
// slots are reused and a generation so ids never are. Holds ≥ 1,000,000
// processes in well under 1 KiB each. Not thread-safe: one writer owns it.
#pragma once

#include <cstdint>
#include <vector>

#include "core/ids.h"

namespace rackos {

struct ProcessRecord {
  ProcessId id;                     // invalid (generation 0) when the slot is free
  ServiceId service = kNoService;
  NodeId node = kNoNode;            // kNoNode while not bound
  uint32_t instance = 0;            // ordinal within the service, for names like web-3
  uint32_t node_pos = 0;            // index in Node::processes (for O(1) unbind)
  uint32_t service_pos = 0;         // index in Service::processes
  ProcessState state = ProcessState::pending;
  uint8_t unused_ = 0;
  uint16_t restart_count = 0;       // consecutive restarts (restart policy backoff)
  int32_t exit_code = 0;            // last exit: code ≥ 0, or -signal
  int64_t created_ms = 0;
  int64_t state_since_ms = 0;
  int64_t started_ms = 0;           // last time it was seen running
  int64_t next_start_ms = 0;        // backoff: not before this time
  // Last allocation from the node's allocator.
  int64_t cpu_target_millis = 0;
  int64_t cpu_quota_millis = 0;
  int64_t memory_high_bytes = 0;
  // Last observed use.
  int64_t cpu_used_millis = 0;
  int64_t memory_used_bytes = 0;
};

class ProcessTable {
 public:
  // A new record in state `pending`.
  ProcessId add(ServiceId service, uint32_t instance, int64_t now_ms);
  // Frees the slot; the id is never valid again.
  void remove(ProcessId id);

  ProcessRecord* find(ProcessId id);
  const ProcessRecord* find(ProcessId id) const;
  ProcessRecord& at(ProcessId id);  // id must be live
  const ProcessRecord& at(ProcessId id) const;

  size_t size() const { return live_; }
  size_t capacity_slots() const { return records_.size(); }
  void reserve(size_t n) { records_.reserve(n); }

  // Visits live records in slot order (deterministic).
  template <class F>
  void for_each(F&& f) const {
    for (const auto& r : records_) {
      if (r.id.valid()) f(r);
    }
  }
  template <class F>
  void for_each_mut(F&& f) {
    for (auto& r : records_) {
      if (r.id.valid()) f(r);
    }
  }

  // Bytes held by the table itself (records and free list).
  size_t bytes_used() const {
    return records_.capacity() * sizeof(ProcessRecord) + free_.capacity() * sizeof(uint32_t) +
           generations_.capacity() * sizeof(uint32_t);
  }

 private:
  std::vector<ProcessRecord> records_;
  std::vector<uint32_t> generations_;  // last generation issued per slot
  std::vector<uint32_t> free_;         // free slots, reused LIFO
  size_t live_ = 0;
};

}  // namespace rackos

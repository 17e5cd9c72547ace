// ProcessTable: slot allocation with generations (see process_table.h).
#include "core/process_table.h"

#include <cassert>

namespace rackos {

static_assert(sizeof(ProcessRecord) <= 128, "process records must stay compact");

ProcessId ProcessTable::add(ServiceId service, uint32_t instance, int64_t now_ms) {
  uint32_t slot;
  if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
  } else {
    slot = static_cast<uint32_t>(records_.size());
    records_.emplace_back();
    generations_.push_back(0);
  }
  uint32_t gen = generations_[slot] + 1;
  if (gen == 0) gen = 1;  // wrapped after 4 billion reuses of one slot
  generations_[slot] = gen;
  ProcessRecord& r = records_[slot];
  r = ProcessRecord{};
  r.id = ProcessId::make(slot, gen);
  r.service = service;
  r.instance = instance;
  r.created_ms = now_ms;
  r.state_since_ms = now_ms;
  ++live_;
  return r.id;
}

void ProcessTable::remove(ProcessId id) {
  ProcessRecord* r = find(id);
  assert(r != nullptr);
  if (r == nullptr) return;
  r->id = ProcessId{};
  free_.push_back(id.slot());
  --live_;
}

ProcessRecord* ProcessTable::find(ProcessId id) {
  if (!id.valid() || id.slot() >= records_.size()) return nullptr;
  ProcessRecord& r = records_[id.slot()];
  return r.id == id ? &r : nullptr;
}

const ProcessRecord* ProcessTable::find(ProcessId id) const {
  return const_cast<ProcessTable*>(this)->find(id);
}

ProcessRecord& ProcessTable::at(ProcessId id) {
  ProcessRecord* r = find(id);
  assert(r != nullptr);
  return *r;
}

const ProcessRecord& ProcessTable::at(ProcessId id) const {
  const ProcessRecord* r = find(id);
  assert(r != nullptr);
  return *r;
}

}  // namespace rackos

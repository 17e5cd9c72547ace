// The in-memory Store: the second real implementation of the Store interface,
// for the simulator and tests. Same rules as SQLite: one batch is one
// transaction (all of it or none), each commit moves the revision by one, a
// batch that expects a revision the store has moved past is refused. Its
// contents live in a MemoryStoreData shared by every handle opened on it, so a
// controller destroyed and rebuilt "restarts" onto what was committed — as a
// kill -9 and restart would find on disk — and two handles act as two
// controllers on one store. `fail_commits` makes every commit fail (a full
// disk) until cleared.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "controller/store.h"

namespace rackos::controller {

struct MemoryStoreData {
  uint64_t revision = 0;
  std::map<std::pair<std::string, std::string>, std::string> records;  // (kind, key) -> value
  bool fail_commits = false;
  uint64_t commits = 0;  // successful ones
};

std::unique_ptr<Store> open_memory_store(std::shared_ptr<MemoryStoreData> data, std::string name = "memory");

}  // namespace rackos::controller

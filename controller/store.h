// Store: where the controller keeps the cluster durably. A small transactional
// key-value model — records of a kind (node, service, process, ...) under a
// key, holding a JSON value — that maps one-to-one onto both backends DESIGN.md
// names: SQLite (embedded, WAL; one table, one SQL transaction per commit) and
// etcd (keys /rackos/<kind>/<key>, one txn per commit). Every state change the
// controller makes is one commit: all of its puts and deletes, or none. Each
// commit bumps a revision; a commit can require the revision it read (the
// compare of etcd's txn), so a stale writer is refused instead of overwriting.
// Not thread-safe: the controller's single writer loop owns it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace rackos::controller {

struct StoreRecord {
  std::string kind;   // "node", "service", "process", ...
  std::string key;    // unique within its kind
  std::string value;  // JSON
  friend bool operator==(const StoreRecord&, const StoreRecord&) = default;
};

struct StoreBatch {
  std::vector<StoreRecord> puts;
  std::vector<std::pair<std::string, std::string>> deletes;  // (kind, key)
  std::optional<uint64_t> expect_revision;                   // refuse unless the store is still here
};

struct StoreSnapshot {
  uint64_t revision = 0;
  std::vector<StoreRecord> records;  // ordered by kind, then key
};

class Store {
 public:
  virtual ~Store() = default;
  virtual std::string name() const = 0;  // "sqlite /var/lib/rackos/state.db"
  // Everything, at one revision (the controller reloads it on start).
  virtual Result<StoreSnapshot> load() = 0;
  // One transaction; returns the new revision.
  virtual Result<uint64_t> commit(const StoreBatch& batch) = 0;
  virtual uint64_t revision() const = 0;
};

// SQLite in WAL mode at `path` (created if missing). `durable`: fsync every
// commit (synchronous=FULL); otherwise a commit survives a killed controller
// but not a power cut (synchronous=NORMAL).
Result<std::unique_ptr<Store>> open_sqlite_store(const std::string& path, bool durable = true);

}  // namespace rackos::controller

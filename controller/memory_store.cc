// The in-memory Store (see memory_store.h).
#include "controller/memory_store.h"

namespace rackos::controller {
namespace {

class MemoryStore final : public Store {
 public:
  MemoryStore(std::shared_ptr<MemoryStoreData> data, std::string name) : data_(std::move(data)), name_(std::move(name)) {}

  std::string name() const override { return name_; }
  uint64_t revision() const override { return data_->revision; }

  Result<StoreSnapshot> load() override {
    StoreSnapshot snap;
    snap.revision = data_->revision;
    snap.records.reserve(data_->records.size());
    for (const auto& [k, v] : data_->records) snap.records.push_back({k.first, k.second, v});
    return snap;
  }

  Result<uint64_t> commit(const StoreBatch& batch) override {
    if (data_->fail_commits) return Error{"store " + name_ + ": database or disk is full", ErrorCode::unavailable};
    if (batch.expect_revision && *batch.expect_revision != data_->revision) {
      return Error{"the store moved on (revision " + std::to_string(data_->revision) + ", expected " +
                       std::to_string(*batch.expect_revision) + "): another controller is writing",
                   ErrorCode::conflict};
    }
    for (const auto& r : batch.puts) {
      if (r.kind.empty() || r.key.empty()) return Error{"a record needs a kind and a key"};
    }
    for (const auto& r : batch.puts) data_->records[{r.kind, r.key}] = r.value;
    for (const auto& d : batch.deletes) data_->records.erase(d);
    ++data_->commits;
    return ++data_->revision;
  }

 private:
  std::shared_ptr<MemoryStoreData> data_;
  std::string name_;
};

}  // namespace

std::unique_ptr<Store> open_memory_store(std::shared_ptr<MemoryStoreData> data, std::string name) {
  return std::make_unique<MemoryStore>(std::move(data), std::move(name));
}

}  // namespace rackos::controller

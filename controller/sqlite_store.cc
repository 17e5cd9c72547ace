// The embedded Store: one SQLite database in WAL mode (see store.h).
//   records(kind, key, value)  PRIMARY KEY (kind, key)
//   meta(name, value)          the revision
#include <sqlite3.h>

#include "controller/store.h"

namespace rackos::controller {
namespace {

class SqliteStore final : public Store {
 public:
  ~SqliteStore() override {
    if (db_ != nullptr) sqlite3_close(db_);
  }

  static Result<std::unique_ptr<Store>> open(const std::string& path, bool durable) {
    auto s = std::unique_ptr<SqliteStore>(new SqliteStore());
    s->path_ = path;
    if (sqlite3_open_v2(path.c_str(), &s->db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr) !=
        SQLITE_OK) {
      return Error{"cannot open the store " + path + ": " + (s->db_ ? sqlite3_errmsg(s->db_) : "out of memory")};
    }
    sqlite3_busy_timeout(s->db_, 5000);
    const std::string setup = std::string("PRAGMA journal_mode=WAL; PRAGMA synchronous=") + (durable ? "FULL" : "NORMAL") +
                              "; CREATE TABLE IF NOT EXISTS records (kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,"
                              " PRIMARY KEY (kind, key)) WITHOUT ROWID;"
                              " CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
                              " INSERT OR IGNORE INTO meta VALUES ('revision', 0);";
    if (auto r = s->exec(setup); !r) return Error{"the store " + path + ": " + r.error().message};
    auto rev = s->read_revision();
    if (!rev) return rev.error();
    s->revision_ = *rev;
    return std::unique_ptr<Store>(std::move(s));
  }

  std::string name() const override { return "sqlite " + path_; }
  uint64_t revision() const override { return revision_; }

  Result<StoreSnapshot> load() override {
    StoreSnapshot snap;
    if (auto r = exec("BEGIN"); !r) return r.error();
    auto rev = read_revision();
    if (!rev) {
      (void)exec("ROLLBACK");  // the error that led here is the one to report
      return rev.error();
    }
    snap.revision = *rev;
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, "SELECT kind, key, value FROM records ORDER BY kind, key", -1, &st, nullptr) != SQLITE_OK) {
      (void)exec("ROLLBACK");  // the error that led here is the one to report
      return Error{err("load")};
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      snap.records.push_back({text(st, 0), text(st, 1), text(st, 2)});
    }
    sqlite3_finalize(st);
    (void)exec("COMMIT");  // a read-only transaction: nothing to lose
    if (rc != SQLITE_DONE) return Error{err("load")};
    revision_ = snap.revision;
    return snap;
  }

  Result<uint64_t> commit(const StoreBatch& batch) override {
    if (auto r = exec("BEGIN IMMEDIATE"); !r) return r.error();
    auto fail = [&](const std::string& what) -> Result<uint64_t> {
      (void)exec("ROLLBACK");  // the error that led here is the one to report
      return Error{what};
    };
    auto rev = read_revision();
    if (!rev) return fail(rev.error().message);
    if (batch.expect_revision && *batch.expect_revision != *rev) {
      (void)exec("ROLLBACK");
      return Error{"the store moved on (revision " + std::to_string(*rev) + ", expected " +
                       std::to_string(*batch.expect_revision) + "): another controller is writing",
                   ErrorCode::conflict};
    }
    sqlite3_stmt* put = nullptr;
    sqlite3_stmt* del = nullptr;
    if (sqlite3_prepare_v2(db_, "INSERT OR REPLACE INTO records (kind, key, value) VALUES (?1, ?2, ?3)", -1, &put, nullptr) != SQLITE_OK ||
        sqlite3_prepare_v2(db_, "DELETE FROM records WHERE kind = ?1 AND key = ?2", -1, &del, nullptr) != SQLITE_OK) {
      sqlite3_finalize(put);
      sqlite3_finalize(del);
      return fail(err("commit"));
    }
    bool ok = true;
    for (const auto& r : batch.puts) {
      if (r.kind.empty() || r.key.empty()) {
        ok = false;
        break;
      }
      sqlite3_bind_text(put, 1, r.kind.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(put, 2, r.key.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(put, 3, r.value.c_str(), -1, SQLITE_TRANSIENT);
      ok = sqlite3_step(put) == SQLITE_DONE;
      sqlite3_reset(put);
      if (!ok) break;
    }
    for (size_t i = 0; ok && i < batch.deletes.size(); ++i) {
      sqlite3_bind_text(del, 1, batch.deletes[i].first.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(del, 2, batch.deletes[i].second.c_str(), -1, SQLITE_TRANSIENT);
      ok = sqlite3_step(del) == SQLITE_DONE;
      sqlite3_reset(del);
    }
    std::string why = ok ? "" : err("commit");
    sqlite3_finalize(put);
    sqlite3_finalize(del);
    if (!ok) return fail(why.empty() || why.find("not an error") != std::string::npos ? "a record needs a kind and a key" : why);
    const uint64_t next = *rev + 1;
    if (auto r = exec("UPDATE meta SET value = " + std::to_string(next) + " WHERE name = 'revision'"); !r) {
      return fail(r.error().message);
    }
    if (auto r = exec("COMMIT"); !r) return fail(r.error().message);
    revision_ = next;
    return next;
  }

 private:
  SqliteStore() = default;

  std::string err(const std::string& what) const { return "store " + path_ + ": " + what + ": " + sqlite3_errmsg(db_); }

  static std::string text(sqlite3_stmt* st, int col) {
    const unsigned char* t = sqlite3_column_text(st, col);
    return t ? reinterpret_cast<const char*>(t) : "";
  }

  Result<bool> exec(const std::string& sql) {
    char* msg = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &msg) != SQLITE_OK) {
      std::string m = msg ? msg : sqlite3_errmsg(db_);
      sqlite3_free(msg);
      return Error{m};
    }
    return true;
  }

  Result<uint64_t> read_revision() {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, "SELECT value FROM meta WHERE name = 'revision'", -1, &st, nullptr) != SQLITE_OK) {
      return Error{err("revision")};
    }
    uint64_t rev = 0;
    if (sqlite3_step(st) == SQLITE_ROW) rev = static_cast<uint64_t>(sqlite3_column_int64(st, 0));
    sqlite3_finalize(st);
    return rev;
  }

  sqlite3* db_ = nullptr;
  std::string path_;
  uint64_t revision_ = 0;
};

}  // namespace

Result<std::unique_ptr<Store>> open_sqlite_store(const std::string& path, bool durable) {
  return SqliteStore::open(path, durable);
}

}  // namespace rackos::controller

// Tests for the embedded SQLite store: one transaction per commit, revisions,
// stale writers refused, nothing half-written, and a writer killed mid-stream
// leaves a store that loads consistently.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

#include "controller/store.h"

namespace rackos::controller {
namespace {

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/rackos-store-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    path_ = dir_ + "/state.db";
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }
  std::unique_ptr<Store> open() {
    auto s = open_sqlite_store(path_);
    EXPECT_TRUE(s) << s.error().message;
    return std::move(s).value();
  }
  std::string dir_, path_;
};

TEST_F(SqliteStoreTest, CommitLoadRevision) {
  auto s = open();
  EXPECT_EQ(s->revision(), 0u);
  auto r1 = s->commit({{{"node", "n1", "{\"cpu\":4000}"}, {"service", "web", "{}"}}, {}, std::nullopt});
  ASSERT_TRUE(r1) << r1.error().message;
  EXPECT_EQ(*r1, 1u);
  auto r2 = s->commit({{{"node", "n1", "{\"cpu\":8000}"}}, {{"service", "web"}}, 1});
  ASSERT_TRUE(r2);
  auto snap = s->load();
  ASSERT_TRUE(snap);
  EXPECT_EQ(snap->revision, 2u);
  ASSERT_EQ(snap->records.size(), 1u);
  EXPECT_EQ(snap->records[0], (StoreRecord{"node", "n1", "{\"cpu\":8000}"}));
}

TEST_F(SqliteStoreTest, ReopenedStoreHasEverything) {
  {
    auto s = open();
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(s->commit({{{"process", std::to_string(i), "{}"}}, {}, std::nullopt}));
  }
  auto s = open();
  EXPECT_EQ(s->revision(), 50u);
  EXPECT_EQ(s->load()->records.size(), 50u);
}

TEST_F(SqliteStoreTest, StaleWriterIsRefusedAndChangesNothing) {
  auto a = open();
  auto b = open();
  ASSERT_TRUE(a->commit({{{"node", "n1", "{}"}}, {}, 0}));
  auto stale = b->commit({{{"node", "n2", "{}"}}, {}, 0});
  ASSERT_FALSE(stale);
  EXPECT_NE(stale.error().message.find("another controller is writing"), std::string::npos) << stale.error().message;
  EXPECT_EQ(a->load()->records.size(), 1u);
}

TEST_F(SqliteStoreTest, ABadRecordFailsTheWholeBatch) {
  auto s = open();
  auto r = s->commit({{{"node", "n1", "{}"}, {"node", "", "{}"}}, {}, std::nullopt});
  ASSERT_FALSE(r);
  EXPECT_EQ(s->load()->records.size(), 0u);
  EXPECT_EQ(s->revision(), 0u);
}

TEST_F(SqliteStoreTest, UnopenablePathIsAClearError) {
  auto r = open_sqlite_store("/nonexistent/dir/state.db");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("/nonexistent/dir/state.db"), std::string::npos);
}

TEST_F(SqliteStoreTest, WriterKilledAtAnyPointLeavesAConsistentStore) {
  // Each commit adds one record and moves the revision by one: after a kill,
  // the count of records must equal the revision (no half commits).
  for (int round = 0; round < 3; ++round) {
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      auto s = open_sqlite_store(path_, false);
      if (!s) ::_exit(2);
      for (int i = 0;; ++i) {
        std::string key = std::to_string(round) + "-" + std::to_string(i);
        if (!(*s)->commit({{{"process", key, "{\"i\":" + std::to_string(i) + "}"}}, {}, std::nullopt})) ::_exit(3);
      }
    }
    ::usleep(static_cast<useconds_t>(50'000 + round * 30'000));
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
    auto s = open();
    auto snap = s->load();
    ASSERT_TRUE(snap) << snap.error().message;
    EXPECT_GT(snap->revision, 0u);
    EXPECT_EQ(snap->records.size(), snap->revision) << "round " << round;
  }
}

}  // namespace
}  // namespace rackos::controller

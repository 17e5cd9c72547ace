// Tests for what only the SQLite store has: a path that cannot be opened, and
// a writer killed mid-stream leaving a store that loads consistently. The
// rules every Store keeps are in store_conformance_test.cc.
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

TEST_F(SqliteStoreTest, UnopenablePathIsAClearError) {
  auto r = open_sqlite_store("/nonexistent/dir/state.db");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("/nonexistent/dir/state.db"), std::string::npos);
}

TEST_F(SqliteStoreTest, WriterKilledAtAnyPointLeavesAConsistentStore) {
  // Each commit adds one record and moves the revision by one: after a kill,
  // the count of records must equal the revision (no half commits).
  for (int round = 0; round < 3; ++round) {
    // The child says when it has committed a few (however slow the machine),
    // then is killed a varying moment later, mid-stream.
    int ready[2];
    ASSERT_EQ(::pipe(ready), 0);
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ::close(ready[0]);
      auto s = open_sqlite_store(path_, false);
      if (!s) ::_exit(2);
      for (int i = 0;; ++i) {
        std::string key = std::to_string(round) + "-" + std::to_string(i);
        if (!(*s)->commit({{{"process", key, "{\"i\":" + std::to_string(i) + "}"}}, {}, std::nullopt})) ::_exit(3);
        if (i == 10 && ::write(ready[1], "x", 1) != 1) ::_exit(4);
      }
    }
    ::close(ready[1]);
    char x = 0;
    ASSERT_EQ(::read(ready[0], &x, 1), 1) << "the writer died before committing";
    ::close(ready[0]);
    ::usleep(static_cast<useconds_t>(round * 15'000));
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

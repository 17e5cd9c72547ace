// The rules every Store keeps, run against each implementation (SQLite and
// in-memory): one transaction per commit, revisions, a store reopened holds
// everything, stale writers are refused, a bad record fails the whole batch.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <functional>

#include "controller/memory_store.h"
#include "controller/store.h"

namespace rackos::controller {
namespace {

// Opens a handle on one store (the same one each call, until the test ends).
using Opener = std::function<std::unique_ptr<Store>()>;

struct Backend {
  std::string name;
  std::function<Opener(const std::string& dir)> make;
};

class StoreConformance : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/rackos-store-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    open_ = GetParam().make(dir_);
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }
  std::string dir_;
  Opener open_;
};

TEST_P(StoreConformance, CommitLoadRevision) {
  auto s = open_();
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

TEST_P(StoreConformance, RecordsComeBackOrderedByKindThenKey) {
  auto s = open_();
  ASSERT_TRUE(s->commit({{{"service", "b", "1"}, {"node", "z", "2"}, {"service", "a", "3"}}, {}, std::nullopt}));
  auto snap = s->load();
  ASSERT_EQ(snap->records.size(), 3u);
  EXPECT_EQ(snap->records[0].key, "z");
  EXPECT_EQ(snap->records[1].key, "a");
  EXPECT_EQ(snap->records[2].key, "b");
}

TEST_P(StoreConformance, ReopenedStoreHasEverything) {
  {
    auto s = open_();
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(s->commit({{{"process", std::to_string(i), "{}"}}, {}, std::nullopt}));
  }
  auto s = open_();
  EXPECT_EQ(s->revision(), 50u);
  EXPECT_EQ(s->load()->records.size(), 50u);
}

TEST_P(StoreConformance, StaleWriterIsRefusedAndChangesNothing) {
  auto a = open_();
  auto b = open_();
  ASSERT_TRUE(a->commit({{{"node", "n1", "{}"}}, {}, 0}));
  auto stale = b->commit({{{"node", "n2", "{}"}}, {}, 0});
  ASSERT_FALSE(stale);
  EXPECT_NE(stale.error().message.find("another controller is writing"), std::string::npos) << stale.error().message;
  EXPECT_EQ(a->load()->records.size(), 1u);
  EXPECT_EQ(a->revision(), 1u);
}

TEST_P(StoreConformance, ABadRecordFailsTheWholeBatch) {
  auto s = open_();
  auto r = s->commit({{{"node", "n1", "{}"}, {"node", "", "{}"}}, {}, std::nullopt});
  ASSERT_FALSE(r);
  EXPECT_EQ(s->load()->records.size(), 0u);
  EXPECT_EQ(s->revision(), 0u);
}

INSTANTIATE_TEST_SUITE_P(
    Backends, StoreConformance,
    ::testing::Values(Backend{"sqlite",
                              [](const std::string& dir) -> Opener {
                                return [dir] { return std::move(open_sqlite_store(dir + "/state.db", false)).value(); };
                              }},
                      Backend{"memory",
                              [](const std::string&) -> Opener {
                                auto data = std::make_shared<MemoryStoreData>();
                                return [data] { return open_memory_store(data); };
                              }}),
    [](const ::testing::TestParamInfo<Backend>& i) { return i.param.name; });

TEST(MemoryStore, AFullDiskFailsCommitsAndChangesNothing) {
  auto data = std::make_shared<MemoryStoreData>();
  auto s = open_memory_store(data);
  ASSERT_TRUE(s->commit({{{"node", "n1", "{}"}}, {}, std::nullopt}));
  data->fail_commits = true;
  auto r = s->commit({{{"node", "n2", "{}"}}, {{"node", "n1"}}, std::nullopt});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("disk is full"), std::string::npos);
  EXPECT_EQ(s->load()->records.size(), 1u);
  EXPECT_EQ(s->revision(), 1u);
  data->fail_commits = false;
  EXPECT_TRUE(s->commit({{{"node", "n2", "{}"}}, {}, std::nullopt}));
}

}  // namespace
}  // namespace rackos::controller

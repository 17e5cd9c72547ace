// The rules every Store keeps, run against each implementation (SQLite, a
// real etcd on loopback, in-memory): one transaction per commit, revisions, a
// store reopened holds everything, stale writers are refused, a bad record
// fails the whole batch.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <functional>

#include "controller/etcd_process.h"
#include "controller/etcd_store.h"
#include "controller/leader_election.h"
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
  EXPECT_EQ(stale.error().code, ErrorCode::conflict);
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

// One etcd for the whole test program (started on first use, killed by pid
// at exit); each test gets its own key prefix in it, so tests do not see each
// other's records.
EtcdCluster* g_etcd = nullptr;

EtcdCluster& shared_etcd() {
  if (g_etcd == nullptr) {
    char tmpl[] = "/tmp/rackos-etcd-XXXXXX";
    std::string dir = ::mkdtemp(tmpl);
    auto c = start_etcd(dir, 1);
    if (!c) {
      std::fprintf(stderr, "etcd: %s\n", c.error().message.c_str());
      std::abort();
    }
    g_etcd = new EtcdCluster(std::move(c).value());
    std::atexit([] {
      stop_etcd(*g_etcd);
      std::system(("rm -rf " + g_etcd->dir).c_str());
    });
  }
  return *g_etcd;
}

// A cluster of its own for one test, stopped (by pid) and removed however
// the test ends.
struct OwnEtcd {
  std::string dir;
  EtcdCluster cluster;
  explicit OwnEtcd(int members) {
    char tmpl[] = "/tmp/rackos-etcd-own-XXXXXX";
    dir = ::mkdtemp(tmpl);
    auto started = start_etcd(dir, members);
    if (started) cluster = std::move(started).value();
    else error = started.error().message;
  }
  ~OwnEtcd() {
    stop_etcd(cluster);
    std::system(("rm -rf " + dir).c_str());
  }
  std::string error;
};

Opener etcd_opener(const std::string& dir) {
  static int n = 0;
  auto opts = parse_etcd_url(shared_etcd().url() + "/test-" + std::to_string(::getpid()) + "-" + std::to_string(++n) + "/");
  (void)dir;
  return [o = *opts] { return std::move(open_etcd_store(o)).value(); };
}

INSTANTIATE_TEST_SUITE_P(
    Backends, StoreConformance,
    ::testing::Values(Backend{"sqlite",
                              [](const std::string& dir) -> Opener {
                                return [dir] { return std::move(open_sqlite_store(dir + "/state.db", false)).value(); };
                              }},
                      Backend{"etcd", etcd_opener},
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

TEST(EtcdStore, UrlsAreParsedAndBadOnesNamed) {
  auto o = parse_etcd_url("etcd://127.0.0.1:2379,127.0.0.1:22379/cell-a/");
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->endpoints, (std::vector<std::string>{"127.0.0.1:2379", "127.0.0.1:22379"}));
  EXPECT_EQ(o->prefix, "/cell-a/");
  EXPECT_EQ(parse_etcd_url("etcd://localhost:2379")->prefix, "/rackos/");
  EXPECT_NE(parse_etcd_url("http://127.0.0.1:2379").error().message.find("etcd://HOST:PORT"), std::string::npos);
  EXPECT_NE(parse_etcd_url("etcd://127.0.0.1").error().message.find("\"127.0.0.1\" is not HOST:PORT"), std::string::npos);
  EXPECT_NE(parse_etcd_url("etcd://127.0.0.1:2379/nope").error().message.find("must end with '/'"), std::string::npos);
  EXPECT_FALSE(parse_etcd_url("etcd://"));
}

TEST(EtcdStore, OtherWritesToEtcdDoNotMoveTheRevision) {
  auto a = std::move(open_etcd_store(*parse_etcd_url(shared_etcd().url() + "/rev-a/"))).value();
  auto b = std::move(open_etcd_store(*parse_etcd_url(shared_etcd().url() + "/rev-b/"))).value();
  ASSERT_TRUE(a->commit({{{"node", "n1", "{}"}}, {}, 0}));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(b->commit({{{"node", "x", std::to_string(i)}}, {}, std::nullopt}));
  auto r = a->commit({{{"node", "n2", "{}"}}, {}, 1});  // a's revision is its own, whatever else etcd holds
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, 2u);
}

TEST(EtcdStore, AKeyPutAndDeletedInOneCommitEndsDeletedAsInTheOtherStores) {
  auto s = std::move(open_etcd_store(*parse_etcd_url(shared_etcd().url() + "/putdel/"))).value();
  ASSERT_TRUE(s->commit({{{"process", "web/1", "{}"}, {"process", "web/1", "{\"again\":1}"}}, {{"process", "web/1"}}, std::nullopt}));
  EXPECT_EQ(s->load()->records.size(), 0u);
}

TEST(EtcdStore, ADeadEtcdIsOneClearErrorAndAReturningOneServesAgain) {
  OwnEtcd own(1);
  ASSERT_TRUE(own.error.empty()) << own.error;
  EtcdCluster* c = &own.cluster;
  EtcdOptions opts = *parse_etcd_url(c->url());
  opts.timeout_ms = 500;
  auto s = std::move(open_etcd_store(opts)).value();
  ASSERT_TRUE(s->commit({{{"node", "n1", "{}"}}, {}, 0}));
  kill_member(*c, 0);
  auto r = s->commit({{{"node", "n2", "{}"}}, {}, 1});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::unavailable);
  EXPECT_NE(r.error().message.find("is etcd running and reachable?"), std::string::npos) << r.error().message;
  ASSERT_TRUE(restart_member(*c, 0));
  std::string why;
  bool back = false;
  for (int i = 0; i < 100 && !back; ++i) {
    auto l = s->load();
    back = static_cast<bool>(l);
    if (!back) {
      why = l.error().message;
      ::usleep(100'000);
    }
  }
  ASSERT_TRUE(back) << why;
  EXPECT_EQ(s->revision(), 1u);  // n2 never went in
  EXPECT_EQ(s->load()->records.size(), 1u);
}

TEST(EtcdStore, ThreeMembersSurviveOneKilled) {
  OwnEtcd own(3);
  ASSERT_TRUE(own.error.empty()) << own.error;
  EtcdCluster* c = &own.cluster;
  auto s = std::move(open_etcd_store(*parse_etcd_url(c->url()))).value();
  ASSERT_TRUE(s->commit({{{"node", "n1", "{}"}}, {}, 0}));
  kill_member(*c, 0);  // the first endpoint: the client moves to another member
  // Reads until the client has moved to a live member (a commit is not
  // retried blindly: one that timed out may have gone in).
  bool serving = false;
  for (int i = 0; i < 100 && !serving; ++i) {
    serving = static_cast<bool>(s->load());
    if (!serving) ::usleep(100'000);
  }
  ASSERT_TRUE(serving);
  auto r = s->commit({{{"node", "n2", "{}"}}, {}, 1});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, 2u);
  EXPECT_EQ(s->load()->records.size(), 2u);
}

// The leader record: of two controllers only one takes the lead; the other
// can take it only from the revision it saw, after the leader stopped
// renewing; the old leader's renewal then fails (it must stop).
TEST(LeaderElection, OneLeadsTheOtherTakesOverOnlyFromWhatItSawAndTheOldOneLearnsIt) {
  auto opts = *parse_etcd_url(shared_etcd().url() + "/lead-" + std::to_string(::getpid()) + "/");
  LeaderElection a(opts, "a", "127.0.0.1:1"), b(opts, "b", "127.0.0.1:2");
  auto none = b.read();
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_EQ(none->revision, 0);
  ASSERT_TRUE(*a.campaign(0));
  EXPECT_FALSE(*b.campaign(0));  // not absent any more
  auto seen = b.read();
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->id, "a");
  EXPECT_EQ(seen->term, 1u);
  ASSERT_TRUE(*a.renew());
  EXPECT_FALSE(*b.campaign(seen->revision));  // a renewed since b looked
  auto now = b.read();
  ASSERT_TRUE(*b.campaign(now->revision));    // a stopped renewing: b takes it
  EXPECT_EQ(b.term(), 2u);
  EXPECT_FALSE(*a.renew());                   // a learns it lost the lead
  EXPECT_EQ(b.read()->id, "b");
  // A clean stop hands the record to any standby, keeping the term: a
  // standby named by it (or "*") takes it at once.
  b.resign();
  auto handed = a.read();
  ASSERT_TRUE(handed);
  EXPECT_TRUE(handed_to(*handed, "a", "127.0.0.1:1"));
  EXPECT_FALSE(*b.renew()) << "resigned: no more renewals";
  ASSERT_TRUE(*a.campaign(handed->revision));
  EXPECT_EQ(a.term(), 3u);
  EXPECT_FALSE(handed_to(*a.read(), "b", "127.0.0.1:2"));
  // A handover to a named standby names only it.
  ASSERT_TRUE(*a.hand_over("127.0.0.1:2"));
  auto named = b.read();
  EXPECT_TRUE(handed_to(*named, "b", "127.0.0.1:2"));
  EXPECT_FALSE(handed_to(*named, "c", "127.0.0.1:3"));
  EXPECT_EQ(named->term, 3u);
}

}  // namespace
}  // namespace rackos::controller

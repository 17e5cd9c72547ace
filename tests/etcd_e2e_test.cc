// The controller on etcd, end to end: a real etcd on loopback, a real
// controller with --store etcd://, real shims and processes. Killed and
// restarted, it finds everything in etcd and adopts the same pids; with etcd
// gone it refuses changes with one clear error and loses nothing, and serves
// again once etcd is back.
#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include "controller/etcd_process.h"
#include "tests/cluster_harness.h"

namespace rackos::testing {
namespace {

const std::string kBin = RACKOS_BINARY;

std::string sleeper(const std::string& name, int instances) {
  return "name: " + name + "\ncommand: [sleep, '600']\ncpu: 100m:500m\nmemory: 16Mi:64Mi\ninstances: " +
         std::to_string(instances) + "\n";
}

std::map<std::string, int> pids_by_name(LocalCluster& c, const std::string& service) {
  std::map<std::string, int> out;
  for (const auto all_ = c.processes(service); const auto& p : all_.processes()) out[p.id()] = p.pid();
  return out;
}

// One etcd member for a test, stopped by pid and removed however it ends.
struct Etcd {
  std::string dir;
  controller::EtcdCluster cluster;
  std::string error;
  Etcd() {
    char tmpl[] = "/tmp/rackos-etcd-e2e-XXXXXX";
    dir = ::mkdtemp(tmpl);
    auto started = controller::start_etcd(dir, 1);
    if (started) cluster = std::move(started).value();
    else error = started.error().message;
  }
  ~Etcd() {
    controller::stop_etcd(cluster);
    std::filesystem::remove_all(dir);
  }
};

TEST(EtcdE2E, AControllerOnEtcdKilledAndRestartedAdoptsTheSamePids) {
  Etcd etcd;
  ASSERT_TRUE(etcd.error.empty()) << etcd.error;
  LocalCluster c(kBin, {.nodes = 2, .controller_extra = {"--store", etcd.cluster.url()}});
  ASSERT_TRUE(c.start()) << c.file(c.dir() + "/controller.log");
  ASSERT_EQ(c.apply(sleeper("keep", 4)).errors_size(), 0);
  ASSERT_TRUE(wait_until(10000, [&] { return c.running("keep") == 4; }));
  const auto before = pids_by_name(c, "keep");
  EXPECT_FALSE(std::filesystem::exists(c.data_dir() + "/state.db"));  // nothing in SQLite
  const std::string addr = c.addr();
  c.kill9_controller();
  ASSERT_TRUE(c.start_controller(addr)) << c.file(c.dir() + "/controller.log");
  ASSERT_TRUE(wait_until(10000, [&] {
    int adopted = 0;
    for (const auto all_ = c.processes("keep"); const auto& p : all_.processes()) adopted += p.pid() > 0 && p.state() == v1::RUNNING;
    return c.ready_nodes() == 2 && adopted == 4;
  }, 20)) << c.cli("events").second;
  EXPECT_EQ(pids_by_name(c, "keep"), before) << c.cli("events").second;
}

TEST(EtcdE2E, WithEtcdDownChangesAreRefusedNothingRunningStopsAndItServesAgain) {
  Etcd etcd;
  ASSERT_TRUE(etcd.error.empty()) << etcd.error;
  LocalCluster c(kBin, {.nodes = 1, .controller_extra = {"--store", etcd.cluster.url()}});
  ASSERT_TRUE(c.start()) << c.file(c.dir() + "/controller.log");
  ASSERT_EQ(c.apply(sleeper("keep", 2)).errors_size(), 0);
  ASSERT_TRUE(wait_until(10000, [&] { return c.running("keep") == 2; }));
  const auto before = pids_by_name(c, "keep");
  controller::kill_member(etcd.cluster, 0);
  const std::string later = c.dir() + "/later.yaml";
  std::ofstream(later) << sleeper("later", 1);
  auto [code, out] = c.cli("apply -f " + later);
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("etcd"), std::string::npos) << out;  // one line naming the store
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  for (const auto& [name, pid] : before) EXPECT_EQ(::kill(pid, 0), 0) << name << " stopped while etcd was down";
  ASSERT_TRUE(controller::restart_member(etcd.cluster, 0));
  ASSERT_TRUE(wait_until(15000, [&] { return c.cli("apply -f " + later).first == 0; }, 200))
      << c.file(c.dir() + "/controller.log");
  ASSERT_TRUE(wait_until(10000, [&] { return c.running("later") == 1 && c.running("keep") == 2; }));
  EXPECT_EQ(pids_by_name(c, "keep"), before);
}

}  // namespace
}  // namespace rackos::testing

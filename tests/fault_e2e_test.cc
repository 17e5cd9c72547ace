// End-to-end regressions for "nothing runs twice, nothing is lost": a real
// controller, real shims and real processes, faults injected from outside
// (kill -9, SIGSTOP), and every check made from the host's process table,
// not only from the controller's view.
#include <gtest/gtest.h>

#include <dirent.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "tests/cluster_harness.h"

namespace rackos::testing {
namespace {

// RACKOS_TEST_BINARY runs these against another build (e.g. to see a
// regression test fail on an older main).
const std::string kBin = std::getenv("RACKOS_TEST_BINARY") ? std::getenv("RACKOS_TEST_BINARY") : RACKOS_BINARY;

// Live (non-zombie) processes on this host whose argv is exactly `argv`.
int host_count(const std::vector<std::string>& argv) {
  std::string want;
  for (const auto& a : argv) want += a + '\0';
  int n = 0;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return -1;
  while (dirent* e = ::readdir(d)) {
    const int pid = std::atoi(e->d_name);
    if (pid <= 0) continue;
    std::ifstream in("/proc/" + std::string(e->d_name) + "/cmdline", std::ios::binary);
    std::string cmd((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (cmd == want && pid_alive(pid)) ++n;
  }
  ::closedir(d);
  return n;
}

// A sleep argument no other test (or earlier run) uses.
std::string unique_seconds() { return std::to_string(700000 + (::getpid() % 100000) * 7 + std::rand() % 7); }

size_t entries(const std::string& dir) {
  std::error_code ec;
  size_t n = 0;
  for (auto it = std::filesystem::directory_iterator(dir, ec); !ec && it != std::filesystem::directory_iterator(); ++it) ++n;
  return n;
}

// Item 1: kill -9 of the active shim while a burst of starts is in flight.
// The standby adopts; every launch the dead shim handed to a monitor must end
// adopted or never run: the host runs exactly as many copies as the cluster
// has processes, and stopping the service leaves none.
TEST(FaultE2E, ShimKilledDuringABurstOfStartsLeavesNoUnknownCopy) {
  LocalCluster c(kBin, {.nodes = 1, .node_cpu = "8", .node_memory = "8Gi", .standby = true});
  ASSERT_TRUE(c.start()) << c.file(c.dir() + "/controller.log");
  const std::string secs = unique_seconds();
  const std::vector<std::string> argv{"sleep", secs};
  constexpr int kN = 200;
  ASSERT_EQ(c.apply("name: burst\ncommand: [sleep, '" + secs + "']\ncpu: 10m:100m\nmemory: 8Mi:32Mi\ninstances: " +
                    std::to_string(kN) + "\n")
                .errors_size(),
            0);
  // Kill the active shim once starts are under way (some done, most in flight).
  ASSERT_TRUE(wait_until(20000, [&] { return entries(c.node_dir(1) + "/procs") >= 30; }, 1));
  const int active = c.shim_pids(1).front();
  ::kill(active, SIGKILL);
  ASSERT_TRUE(wait_until(60000, [&] { return c.running("burst") == kN; }, 50))
      << c.running("burst") << " running\n" << c.cli("events").second;
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));  // would a late monitor start one more?
  EXPECT_EQ(host_count(argv), kN) << "the host runs copies the cluster does not know\n" << c.cli("events").second;
  EXPECT_EQ(c.running("burst"), kN);
  auto [code, out] = c.cli("stop burst");
  ASSERT_EQ(code, 0) << out;
  EXPECT_TRUE(wait_until(20000, [&] { return host_count(argv) == 0; }, 50))
      << host_count(argv) << " still run after stop";
}

// Item 2: both shims of a node SIGSTOPped (a hung agent, not a cut network).
// The controller declares the node dead and starts the singleton elsewhere;
// the stopped node's monitor must have killed its copy first. The host's
// process table is sampled every 20 ms: never two copies.
TEST(FaultE2E, StoppedShimStillFencesItsSingleton) {
  LocalCluster c(kBin, {.nodes = 2, .standby = true});
  ASSERT_TRUE(c.start()) << c.file(c.dir() + "/controller.log");
  const std::string secs = unique_seconds();
  const std::vector<std::string> argv{"sleep", secs};
  ASSERT_EQ(c.apply("name: single\ncommand: [sleep, '" + secs + "']\ncpu: 10m:100m\nmemory: 8Mi:32Mi\n").errors_size(), 0);
  ASSERT_TRUE(wait_until(10000, [&] { return c.running("single") == 1; }));
  std::string node;
  for (const auto all_ = c.processes("single"); const auto& p : all_.processes()) node = p.node();
  const int victim = node == c.node_name(1) ? 1 : 2;
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // a few acks: the lease is armed
  for (int pid : c.shim_pids(victim)) ::kill(pid, SIGSTOP);
  int most = 0, samples = 0;
  bool elsewhere = false;
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (std::chrono::steady_clock::now() < end) {
    const int n = host_count(argv);
    most = std::max(most, n);
    ++samples;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (const auto all_ = c.processes("single"); const auto& p : all_.processes()) {
    elsewhere = p.node() != node && p.state() == v1::RUNNING;
  }
  for (int pid : c.shim_pids(victim)) ::kill(pid, SIGCONT);
  EXPECT_LE(most, 1) << "two copies of an at-most-one process ran (" << samples << " samples)\n" << c.cli("events").second;
  EXPECT_TRUE(elsewhere) << "the singleton was not restarted on the live node\n" << c.cli("events").second;
  ASSERT_TRUE(wait_until(10000, [&] { return c.ready_nodes() == 2; }, 20)) << c.file(c.node_log(victim));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(host_count(argv), 1);
  EXPECT_EQ(c.running("single"), 1);
}

}  // namespace
}  // namespace rackos::testing

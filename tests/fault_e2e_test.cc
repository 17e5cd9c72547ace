// End-to-end regressions for "nothing runs twice, nothing is lost": a real
// controller, real shims and real processes, faults injected from outside
// (kill -9, SIGSTOP), and every check made from the host's process table,
// not only from the controller's view.
#include <gtest/gtest.h>

#include <dirent.h>
#include <fcntl.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <grpcpp/grpcpp.h>
#include <map>

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

// This process's children's children of `parent` whose cmdline holds every one of `words`.
std::vector<int> children_of(int parent, const std::vector<std::string>& words) {
  std::vector<int> out;
  std::error_code ec;
  for (const auto& t : std::filesystem::directory_iterator("/proc/" + std::to_string(parent) + "/task", ec)) {
    std::ifstream in(t.path() / "children");
    int pid;
    while (in >> pid) {
      std::ifstream cl("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
      std::string cmd((std::istreambuf_iterator<char>(cl)), std::istreambuf_iterator<char>());
      for (char& ch : cmd) ch = ch == '\0' ? ' ' : ch;
      bool all = pid_alive(pid);
      for (const auto& w : words) all = all && cmd.find(w) != std::string::npos;
      if (all) out.push_back(pid);
    }
  }
  return out;
}

// Item 5: `rackos up` supervises. kill -9 of its controller and of a node's
// active shim: both are restarted (the shim as the new standby), and every
// workload keeps its pid throughout.
TEST(FaultE2E, UpRestartsItsControllerAndShimsAndWorkloadsKeepTheirPids) {
  const std::string dir = "/tmp/rackos-up-e2e-" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string secs = unique_seconds();
  const std::vector<std::string> argv{"sleep", secs};
  std::ofstream(dir + "/spec.yaml") << "name: sup\ncommand: [sleep, '" << secs << "']\ncpu: 10m:100m\nmemory: 8Mi:32Mi\ninstances: 3\n";
  const std::string prefix = "up" + std::to_string(::getpid()) + "n";
  pid_t up = ::fork();
  if (up == 0) {
    int fd = ::open((dir + "/up.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::execl(kBin.c_str(), kBin.c_str(), "up", "--nodes", "2", "--dir", dir.c_str(), "--listen", "127.0.0.1:0", "--http",
            "127.0.0.1:0", "--node-prefix", prefix.c_str(), "-f", (dir + "/spec.yaml").c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ASSERT_GT(up, 0);
  struct Stop {
    pid_t pid;
    ~Stop() {
      if (pid <= 0) return;
      ::kill(pid, SIGTERM);
      for (int i = 0; i < 1500 && ::waitpid(pid, nullptr, WNOHANG) == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  } stop{up};
  auto log = [&] {
    std::ifstream in(dir + "/up.log");
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  ASSERT_TRUE(wait_until(60000, [&] { return log().find("The cluster is up") != std::string::npos; }, 50)) << log();
  std::string addr;
  std::getline(std::ifstream(dir + "/controller/controller.addr"), addr);
  auto stub = v1::ClusterService::NewStub(grpc::CreateChannel(addr, grpc::InsecureChannelCredentials()));
  auto pids = [&] {
    std::map<std::string, int> out;
    v1::ListRequest req;
    req.set_service("sup");
    v1::ListProcessesResponse r;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    if (!stub->ListProcesses(&ctx, req, &r).ok()) return out;
    for (const auto& p : r.processes()) {
      if (p.state() == v1::RUNNING) out[p.id()] = p.pid();
    }
    return out;
  };
  const auto before = pids();
  ASSERT_EQ(before.size(), 3u) << log();
  EXPECT_EQ(host_count(argv), 3);

  // kill -9 of the controller.
  auto ctl = children_of(up, {" controller ", "--data-dir " + dir + "/controller "});
  ASSERT_EQ(ctl.size(), 1u) << log();
  ::kill(ctl[0], SIGKILL);
  ASSERT_TRUE(wait_until(20000, [&] {
    auto now = children_of(up, {" controller ", "--data-dir " + dir + "/controller "});
    return now.size() == 1 && now[0] != ctl[0] && pids() == before;
  }, 50)) << log();

  // kill -9 of node 1's active shim: the standby takes over, a new standby starts.
  const std::string node = prefix + "1";
  auto shims = children_of(up, {" shim ", "--node " + node + " "});
  ASSERT_EQ(shims.size(), 2u) << log();
  std::string state_dir;
  {
    std::ifstream cl("/proc/" + std::to_string(shims[0]) + "/cmdline", std::ios::binary);
    std::string arg;
    bool next = false;
    while (std::getline(cl, arg, '\0')) {
      if (next) state_dir = arg;
      next = arg == "--state-dir";
    }
  }
  ASSERT_FALSE(state_dir.empty());
  std::string active;
  std::getline(std::ifstream(state_dir + "/active.pid"), active);
  ASSERT_FALSE(active.empty());
  ::kill(std::stoi(active), SIGKILL);
  ASSERT_TRUE(wait_until(20000, [&] {
    auto now = children_of(up, {" shim ", "--node " + node + " "});
    std::string act;
    std::getline(std::ifstream(state_dir + "/active.pid"), act);
    return now.size() == 2 && act != active && !act.empty() &&
           std::find(now.begin(), now.end(), std::stoi(act)) != now.end();
  }, 50)) << log();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(pids(), before) << "a workload was restarted\n" << log();
  EXPECT_EQ(host_count(argv), 3);
  EXPECT_NE(log().find("restarted"), std::string::npos) << log();

  // Ctrl-C: everything stops cleanly.
  ::kill(up, SIGTERM);
  int st = 0;
  ASSERT_TRUE(wait_until(30000, [&] { return ::waitpid(up, &st, WNOHANG) == up; }, 50)) << log();
  stop.pid = 0;
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << log();
  EXPECT_EQ(host_count(argv), 0);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace rackos::testing

// End-to-end: a real controller, real shims and real processes on this
// machine. Deploy and scale, `ps --json`, a crashing process restarted with
// backoff, a node power-cut (every process running elsewhere), kill -9 of the
// controller (nothing lost, nothing doubled), bad input refused with its
// error, a shim partitioned and back (fenced, stale copies stopped), a wrong
// join token, drain, logs.
#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>

#include <set>

#include "tests/cluster_harness.h"

namespace rackos::testing {
namespace {

const std::string kBin = RACKOS_BINARY;


// The harness reaps orphans in the background; it must never take the exit
// status of a command a test is waiting for (it once did: waitpid(-1) raced
// pclose, and a right answer came back with exit code -1).
TEST(ClusterE2E, CommandExitCodesAreNeverLostToTheReaper) {
  LocalCluster c(kBin, {.nodes = 1});
  for (int i = 0; i < 300; ++i) {
    auto [code, out] = c.sh("exit 3");
    ASSERT_EQ(code, 3) << "run " << i << ": " << out;
  }
}

TEST(ClusterE2E, DeployScaleAndPsJson) {
  LocalCluster c(kBin, {.nodes = 3});
  ASSERT_TRUE(c.start()) << c.file(c.dir() + "/controller.log");
  ASSERT_EQ(c.apply(sleeper("web", 2)).errors_size(), 0);
  ASSERT_TRUE(wait_until(10000, [&] { return c.running("web") == 2; }));
  auto [code, out] = c.cli("scale web 3:3");
  ASSERT_EQ(code, 0) << out;
  ASSERT_TRUE(wait_until(10000, [&] { return c.running("web") == 3; }));
  std::tie(code, out) = c.cli("ps --json");
  ASSERT_EQ(code, 0) << out;
  auto j = nlohmann::json::parse(out);
  ASSERT_EQ(j.size(), 3u);
  std::set<std::string> nodes;
  for (const auto& p : j) {
    EXPECT_EQ(p["state"], "running");
    EXPECT_GT(p["pid"].get<int>(), 0);
    EXPECT_TRUE(pid_alive(p["pid"].get<int>()));
    EXPECT_EQ(p["envelope"]["cpu_millis"]["min"], 100);
    EXPECT_TRUE(p.contains("allocation"));
    nodes.insert(p["node"].get<std::string>());
  }
  EXPECT_EQ(nodes.size(), 3u);  // spread: one per node
  // The allocation arrives with the next full heartbeat.
  ASSERT_TRUE(wait_until(5000, [&] {
    for (const auto all_ = c.processes("web"); const auto& p : all_.processes()) {
      if (p.allocation().cpu_shares() == 0) return false;
    }
    return true;
  }, 50));
  // HTTP on loopback: Prometheus metrics and the JSON state.
  std::string http_addr = c.file(c.dir() + "/controller/http.addr");
  http_addr.erase(http_addr.find_last_not_of("\n") + 1);
  httplib::Client http("http://" + http_addr);
  auto metrics = http.Get("/metrics");
  ASSERT_TRUE(metrics) << http_addr;
  EXPECT_NE(metrics->body.find("rackos_nodes{state=\"ready\"} 3"), std::string::npos) << metrics->body;
  EXPECT_NE(metrics->body.find("rackos_processes{state=\"running\"} 3"), std::string::npos);
  EXPECT_NE(metrics->body.find("rackos_failover_duration_ms_bucket{le=\"1000\"}"), std::string::npos);
  // /state: only over HTTPS, to a client certificate (the local admin's here).
  EXPECT_EQ(http.Get("/state")->status, 403);
  std::string https_addr = c.file(c.dir() + "/controller/https.addr");
  https_addr.erase(https_addr.find_last_not_of("\n") + 1);
  const std::string pki = c.dir() + "/controller/pki";
  httplib::SSLClient https(https_addr.substr(0, https_addr.find(':')), std::stoi(https_addr.substr(https_addr.find(':') + 1)),
                           pki + "/admin.pem", pki + "/admin.pem");
  https.set_ca_cert_path((pki + "/ca.crt").c_str());
  https.enable_server_certificate_verification(true);
  auto state = https.Get("/state");
  ASSERT_TRUE(state) << httplib::to_string(state.error());
  ASSERT_EQ(state->status, 200) << state->body;
  auto sj = nlohmann::json::parse(state->body);
  EXPECT_EQ(sj["processes"].size(), 3u);
  EXPECT_EQ(sj["processes"][0]["state"], "running");
  EXPECT_EQ(sj["nodes"].size(), 3u);
  std::tie(code, out) = c.cli("scale web 1:1");
  ASSERT_EQ(code, 0) << out;
  ASSERT_TRUE(wait_until(10000, [&] { return c.processes("web").processes_size() == 1; }));
}

TEST(ClusterE2E, CrashingProcessRestartsWithBackoff) {
  LocalCluster c(kBin, {.nodes = 1});
  ASSERT_TRUE(c.start());
  ASSERT_EQ(c.apply("name: crash\ncommand: [sh, -c, 'exit 3']\ncpu: 50m:100m\nmemory: 8Mi:16Mi\n").errors_size(), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  auto ps = c.processes("crash");
  ASSERT_EQ(ps.processes_size(), 1);
  const auto& p = ps.processes(0);
  // Backoff 100, 200, 400, 800 ms...: a handful of restarts in 2.5 s, not hundreds.
  EXPECT_GE(p.restarts(), 3u) << p.reason();
  EXPECT_LE(p.restarts(), 7u) << p.reason();
  EXPECT_NE(p.reason().find("exit code 3"), std::string::npos) << p.reason();
  auto [code, out] = c.cli("events");
  EXPECT_NE(out.find("restart"), std::string::npos) << out;
}

TEST(ClusterE2E, NodeKillRunsEveryLostProcessElsewhere) {
  LocalCluster c(kBin, {.nodes = 3, .standby = true});
  ASSERT_TRUE(c.start());
  ASSERT_EQ(c.apply(sleeper("api", 6) + "---\n" + sleeper("db", 1)).errors_size(), 0);
  ASSERT_TRUE(wait_until(10000, [&] { return c.running() == 7; }));
  // The node with the most processes.
  std::map<std::string, std::vector<int>> on;
  for (const auto all_ = c.processes(); const auto& p : all_.processes()) on[p.node()].push_back(p.pid());
  int victim = 1;
  for (int i = 1; i <= 3; ++i) {
    if (on[c.node_name(i)].size() > on[c.node_name(victim)].size()) victim = i;
  }
  const auto lost_pids = on[c.node_name(victim)];
  ASSERT_FALSE(lost_pids.empty());
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(c.kill_node(victim).ok());
  ASSERT_TRUE(wait_until(10000, [&] {
    if (c.running() != 7) return false;
    for (const auto all_ = c.processes(); const auto& p : all_.processes()) {
      if (p.node() == c.node_name(victim)) return false;
    }
    return true;
  }));
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  std::printf("node kill → all %zu lost processes running elsewhere in %lld ms\n", lost_pids.size(),
              static_cast<long long>(took));
  for (int pid : lost_pids) EXPECT_FALSE(pid_alive(pid)) << "the power cut left pid " << pid;
  for (int pid : c.shim_pids(victim)) {
    EXPECT_TRUE(wait_until(2000, [&] { return c.exited(pid); })) << "shim " << pid << " lives";
  }
  v1::ListNodesResponse nodes;
  c.call([&](grpc::ClientContext* ctx) { return c.api().ListNodes(ctx, v1::ListRequest{}, &nodes); });
  for (const auto& n : nodes.nodes()) {
    EXPECT_EQ(n.state(), n.name() == c.node_name(victim) ? v1::DEAD : v1::READY) << n.name();
  }
}

TEST(ClusterE2E, ControllerKill9RestartLosesNothingAndDoublesNothing) {
  LocalCluster c(kBin, {.nodes = 2});
  ASSERT_TRUE(c.start());
  ASSERT_EQ(c.apply(sleeper("keep", 4)).errors_size(), 0);
  ASSERT_TRUE(wait_until(10000, [&] { return c.running("keep") == 4; }));
  const auto before = c.pids("keep");
  const std::string addr = c.addr();
  c.kill9_controller();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_TRUE(c.start_controller(addr)) << c.file(c.dir() + "/controller.log");
  // Both shims register again (their processes' pids come back with them).
  ASSERT_TRUE(wait_until(10000, [&] { return c.ready_nodes() == 2 && c.adopted("keep") == 4; }, 20)) << c.cli("events").second;
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // would anything start twice?
  EXPECT_EQ(c.pids("keep"), before) << c.cli("events").second;  // same processes, adopted
  EXPECT_EQ(c.processes("keep").processes_size(), 4);
  size_t live = 0;
  for (int i = 1; i <= 2; ++i) {
    for (const auto& e : std::filesystem::directory_iterator(c.node_dir(i) + "/procs")) {
      auto pid_json = c.file(e.path().string() + "/pid.json");
      if (pid_json.empty() || std::filesystem::exists(e.path() / "exit.json")) continue;
      ++live;
    }
  }
  EXPECT_EQ(live, 4u);  // nothing doubled on the nodes either
  for (const auto& [name, pid] : before) EXPECT_TRUE(pid_alive(pid)) << name;
}

TEST(ClusterE2E, BadInputGetsOneClearErrorAndChangesNothing) {
  LocalCluster c(kBin, {.nodes = 1});
  ASSERT_TRUE(c.start());
  const std::string bad = c.dir() + "/bad.yaml";
  std::ofstream(bad) << "name: bad\ncommand: [sleep, '1']\ncpu: 4:2\nmemory: 16Mi:8Mi\n";
  auto [code, out] = c.cli("apply -f " + bad);
  EXPECT_EQ(code, 1);
  EXPECT_NE(out.find("cpu.min 4 exceeds cpu.max 2"), std::string::npos) << out;
  EXPECT_NE(out.find("nothing was applied"), std::string::npos) << out;
  std::tie(code, out) = c.cli("run web --cpu lots -- sleep 1");
  EXPECT_EQ(code, 1);
  EXPECT_NE(out.find("lots"), std::string::npos) << out;
  std::tie(code, out) = c.cli("scale ghost 2:3");
  EXPECT_EQ(code, 1);
  EXPECT_NE(out.find("no service \"ghost\""), std::string::npos) << out;
  std::tie(code, out) = c.cli("drain nowhere");
  EXPECT_EQ(code, 1);
  EXPECT_NE(out.find("no node \"nowhere\""), std::string::npos) << out;
  std::tie(code, out) = c.cli("stop ghost");
  EXPECT_EQ(code, 1);
  EXPECT_EQ(c.processes().processes_size(), 0);
  // An unreachable controller is one line too.
  std::tie(code, out) = c.sh(kBin + " ps --controller 127.0.0.1:1");
  EXPECT_EQ(code, 1);
  EXPECT_NE(out.find("cannot reach the controller at 127.0.0.1:1"), std::string::npos) << out;
}

TEST(ClusterE2E, PartitionedShimComesBackFencedAndStopsItsStaleCopies) {
  LocalCluster c(kBin, {.nodes = 2});
  ASSERT_TRUE(c.start());
  ASSERT_EQ(c.apply(sleeper("svc", 2)).errors_size(), 0);
  ASSERT_TRUE(wait_until(10000, [&] { return c.running("svc") == 2; }));
  const int shim = c.shim_pids(1).front();
  std::vector<int> stale;
  for (const auto all_ = c.processes("svc"); const auto& p : all_.processes()) {
    if (p.node() == c.node_name(1)) stale.push_back(p.pid());
  }
  ASSERT_EQ(stale.size(), 1u);
  ::kill(shim, SIGSTOP);  // the node falls silent: a partition
  ASSERT_TRUE(wait_until(5000, [&] {
    auto ps = c.processes("svc");
    int on2 = 0;
    for (const auto& p : ps.processes()) on2 += p.node() == c.node_name(2) && p.state() == v1::RUNNING;
    return on2 == 2;
  }));
  EXPECT_TRUE(pid_alive(stale[0]));  // on_partition keep: the stale copy ran on meanwhile
  ::kill(shim, SIGCONT);             // back: refused as dead, re-registers fenced, stops the stale copy
  ASSERT_TRUE(wait_until(10000, [&] { return c.ready_nodes() == 2; }, 20)) << c.file(c.node_log(1));
  EXPECT_TRUE(wait_until(5000, [&] { return !pid_alive(stale[0]); })) << "stale copy still runs";
  EXPECT_EQ(c.running("svc"), 2);
  auto [code, out] = c.cli("events");
  EXPECT_NE(out.find("node-fenced"), std::string::npos) << out;
}

TEST(ClusterE2E, DrainMovesEverythingAndLogsAreReadable) {
  LocalCluster c(kBin, {.nodes = 2});
  ASSERT_TRUE(c.start());
  ASSERT_EQ(c.apply("name: talk\ncommand: [sh, -c, 'echo hello from $RACKOS_PROCESS; sleep 600']\n"
                    "cpu: 100m:200m\nmemory: 16Mi:32Mi\ninstances: 2\n")
                .errors_size(),
            0);
  ASSERT_TRUE(wait_until(10000, [&] { return c.running("talk") == 2; }));
  std::string out;
  ASSERT_TRUE(wait_until(5000, [&] {
    out = c.cli("logs talk").second;
    return out.find("talk-0 | hello from talk-0\n") != std::string::npos &&
           out.find("talk-1 | hello from talk-1\n") != std::string::npos;
  }, 100)) << out;
  auto [code, dout] = c.cli("drain " + c.node_name(1));
  ASSERT_EQ(code, 0) << dout;
  ASSERT_TRUE(wait_until(10000, [&] {
    auto ps = c.processes("talk");
    for (const auto& p : ps.processes()) {
      if (p.node() != c.node_name(2) || p.state() != v1::RUNNING) return false;
    }
    return ps.processes_size() == 2;
  }));
  auto [tcode, top] = c.cli("top -n 1 --interval 100ms");
  EXPECT_EQ(tcode, 0) << top;
  EXPECT_NE(top.find("2/2 processes running"), std::string::npos) << top;
  EXPECT_NE(top.find("talk-1"), std::string::npos) << top;
  std::tie(code, dout) = c.cli("drain --undo " + c.node_name(1));
  EXPECT_EQ(code, 0) << dout;
  EXPECT_TRUE(wait_until(3000, [&] { return c.ready_nodes() == 2; }));
}

}  // namespace
}  // namespace rackos::testing

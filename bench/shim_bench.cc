// Shim benchmarks on this machine, with a real shim, real monitors, real
// cgroups (when writable):
//   shim_bench start-latency [N]   N starts paced 10 ms apart, then N back to
//                                  back (default 300 each): start request sent
//                                  → answer that the workload has exec'd.
//                                  Last line: start_latency_p99_ms: X
//   shim_bench overhead [N] [S]    N sleeping processes (default 1000) on one
//                                  node; CPU used by the shim (and, shown
//                                  apart, by the N monitors) over S seconds.
//                                  Last line: shim_cpu_percent_of_core: X
// Everything started is stopped and removed by pid and path at the end.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "shim/cgroup_files.h"
#include "shim/node_client.h"
#include "shim/upgrade.h"

using namespace rackos::shim;
using Clock = std::chrono::steady_clock;

namespace {

int64_t cpu_ticks(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(in, line);
  size_t close = line.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(line.substr(close + 2));
  std::string f;
  int64_t sum = 0;
  for (int i = 3; i <= 15; ++i) {
    rest >> f;
    if (i == 14 || i == 15) sum += std::stoll(f);
  }
  return sum;
}

struct Node {
  std::string name = "bench" + std::to_string(::getpid());
  std::string dir = (::access("/dev/shm", W_OK) == 0 ? "/dev/shm/rackos-bench/" : "/tmp/rackos-bench/") + name;
  int shim_pid = 0;

  void start(const std::string& memory) {
    if (auto r = make_dir(dir); !r) throw std::runtime_error(r.error().message);
    auto pid = spawn_detached({RACKOS_BINARY, "shim", "--node", name, "--cpu", std::to_string(sysconf(_SC_NPROCESSORS_ONLN)),
                               "--memory", memory, "--state-dir", dir},
                              dir + "/shim.log");
    if (!pid) {
      std::fprintf(stderr, "%s\n", pid.error().message.c_str());
      std::exit(1);
    }
    shim_pid = *pid;
    for (int i = 0; i < 500; ++i) {
      NodeClient c(dir + "/shim.sock", 200);
      if (c.call({{"op", "status"}})) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::fprintf(stderr, "the shim did not come up; see %s/shim.log\n", dir.c_str());
    std::exit(1);
  }

  void cleanup() {
    NodeClient c(dir + "/shim.sock", 30000);
    std::vector<int> pids, monitors;
    if (auto r = c.call({{"op", "list"}})) {
      for (const auto& p : (*r)["processes"]) {
        pids.push_back(p["pid"].get<int>());
        monitors.push_back(p["monitor_pid"].get<int>());
      }
    }
    for (int p : pids) ::kill(p, SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    ::kill(shim_pid, SIGKILL);
    ::waitpid(shim_pid, nullptr, 0);
    for (int m : monitors) ::kill(m, SIGKILL);
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    for (const char* root : {"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpuacct", "/sys/fs/cgroup/memory", "/sys/fs/cgroup"}) {
      std::string nd = std::string(root) + "/rackos/" + name;
      std::string cmd = "find '" + nd + "' -mindepth 1 -maxdepth 1 -type d -exec rmdir {} + 2>/dev/null; rmdir '" + nd +
                        "' 2>/dev/null";
      if (std::system(cmd.c_str()) != 0) {
      }
    }
    if (std::system(("rm -rf '" + dir + "'").c_str()) != 0) {
    }
  }
};

double pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * static_cast<double>(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "start-latency";
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  rlimit nofile{};
  ::getrlimit(RLIMIT_NOFILE, &nofile);
  nofile.rlim_cur = nofile.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &nofile);
  Node node;
  if (mode == "start-latency") {
    int n = argc > 2 ? std::atoi(argv[2]) : 300;
    node.start("64Gi");
    NodeClient c(node.dir + "/shim.sock", 10000);
    // Paced: one start every 10 ms (100 starts/s on the node), the latency of
    // one start. Burst: back to back, which adds queueing behind the previous
    // starts on this 2-core machine; printed for comparison.
    auto run = [&](const std::string& prefix, int gap_ms, std::vector<double>& ms) {
      for (int i = 0; i < n; ++i) {
        auto t0 = Clock::now();
        auto r = c.call_ok({{"op", "start"}, {"id", prefix + std::to_string(i)}, {"argv", {"/bin/sleep", "600"}},
                            {"cpu", "10m:100m"}, {"memory", "4Mi:32Mi"}});
        ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        if (!r) {
          std::fprintf(stderr, "start failed: %s\n", r.error().message.c_str());
          return false;
        }
        if (gap_ms > 0) std::this_thread::sleep_until(t0 + std::chrono::milliseconds(gap_ms));
      }
      return true;
    };
    std::vector<double> ms, burst;
    if (!run("p", 10, ms) || !run("b", 0, burst)) {
      node.cleanup();
      return 1;
    }
    auto st = c.call({{"op", "status"}});
    std::printf("%d starts through the node API, request sent → workload exec'd (%s)\n", n,
                st ? (*st)["enforcement"].get<std::string>().c_str() : "?");
    std::printf("paced, one every 10 ms: p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n", pct(ms, 50), pct(ms, 90),
                pct(ms, 99), pct(ms, 100));
    std::printf("burst, back to back:    p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n", pct(burst, 50),
                pct(burst, 90), pct(burst, 99), pct(burst, 100));
    node.cleanup();
    std::printf("start_latency_p99_ms: %.2f\n", pct(ms, 99));
    return 0;
  }
  if (mode == "overhead") {
    int n = argc > 2 ? std::atoi(argv[2]) : 1000;
    int secs = argc > 3 ? std::atoi(argv[3]) : 10;
    node.start("64Gi");
    NodeClient c(node.dir + "/shim.sock", 10000);
    std::vector<int> monitors;
    for (int i = 0; i < n; ++i) {
      auto r = c.call_ok({{"op", "start"}, {"id", "p" + std::to_string(i)}, {"argv", {"/bin/sleep", "600"}},
                          {"cpu", "10m:100m"}, {"memory", "4Mi:32Mi"}});
      if (!r) {
        std::fprintf(stderr, "start %d failed: %s\n", i, r.error().message.c_str());
        node.cleanup();
        return 1;
      }
    }
    if (auto r = c.call({{"op", "list"}})) {
      for (const auto& p : (*r)["processes"]) monitors.push_back(p["monitor_pid"].get<int>());
    }
    std::this_thread::sleep_for(std::chrono::seconds(2));  // settle after the start burst
    const double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
    int64_t s0 = cpu_ticks(node.shim_pid), m0 = 0;
    for (int m : monitors) m0 += cpu_ticks(m);
    auto t0 = Clock::now();
    std::this_thread::sleep_for(std::chrono::seconds(secs));
    double wall = std::chrono::duration<double>(Clock::now() - t0).count();
    int64_t s1 = cpu_ticks(node.shim_pid), m1 = 0;
    for (int m : monitors) m1 += cpu_ticks(m);
    double shim_pct = 100.0 * static_cast<double>(s1 - s0) / hz / wall;
    double mon_pct = 100.0 * static_cast<double>(m1 - m0) / hz / wall;
    auto st = c.call({{"op", "status"}});
    std::printf("%d processes on one node, %s, %d s measured\n", n,
                st ? (*st)["enforcement"].get<std::string>().c_str() : "?", secs);
    std::printf("shim: %.2f %% of a core; %zu monitors together: %.2f %%\n", shim_pct, monitors.size(), mon_pct);
    node.cleanup();
    std::printf("shim_cpu_percent_of_core: %.2f\n", shim_pct + mon_pct);
    return 0;
  }
  std::fprintf(stderr, "usage: shim_bench start-latency [N] | overhead [N] [SECONDS]\n");
  return 2;
}

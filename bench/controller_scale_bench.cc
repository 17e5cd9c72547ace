// The real controller under many nodes (issue 15): for each size, one
// `rackos controller` (SQLite, --insecure-no-tls) and a fleet of generated
// nodes (bench/node_fleet.h) from this process, each with --processes
// processes placed by the controller itself. After placement and a warm-up it
// measures a window of steady heartbeats — the controller's CPU (cores, from
// /proc/PID/stat) and RSS, µs of controller CPU per heartbeat, heartbeat → ack
// p50/p99 as the nodes saw it, the longest any node went without an ack, false
// deaths (refusals, stop orders or closed streams on live nodes) — then cuts
// one node silently and prints when its processes were ordered to start on
// other nodes (from its last heartbeat), and times `rackos ps` and `rackos
// nodes` (the CLI, whole table). A size is sustained when every heartbeat was
// acknowledged, no node went a lease without an ack, and nothing died falsely.
// Last line: `controller_us_per_heartbeat: N` at the largest sustained size.
// --connections K carries the nodes' streams over K TCP connections instead of
// one each (as link shards in front of the active would; none is built yet).
// Usage: bench_controller_scale [--nodes 1000,2000,5000,10000] [--processes 50] [--seconds 10] [--connections K]
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/node_fleet.h"
#include "rackos/v1/cluster.grpc.pb.h"

namespace {

using namespace std::chrono_literals;
namespace v1 = rackos::v1;

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// CPU seconds (user + system) a process used so far.
double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stod(field);
    if (i == 15) stime = std::stod(field);
  }
  return (utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

double rss_mib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0;
}

bool wait_for(double seconds, const std::function<bool()>& f) {
  const auto t0 = std::chrono::steady_clock::now();
  while (seconds_since(t0) < seconds) {
    if (f()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return f();
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5))];
}

struct Controller {
  pid_t pid = -1;
  std::string dir;
  std::string addr;
  ~Controller() {
    if (pid > 0) {
      ::kill(pid, SIGTERM);
      int st = 0;
      for (int i = 0; i < 100 && ::waitpid(pid, &st, WNOHANG) == 0; ++i) std::this_thread::sleep_for(50ms);
      if (::waitpid(pid, &st, WNOHANG) == 0) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &st, 0);
      }
    }
    if (!dir.empty() && !std::getenv("RACKOS_BENCH_KEEP")) std::filesystem::remove_all(dir);
    if (!dir.empty() && std::getenv("RACKOS_BENCH_KEEP")) std::fprintf(stderr, "kept %s\n", dir.c_str());
  }
};

bool start_controller(Controller& c) {
  char tmpl[] = "/tmp/rackos-scale-XXXXXX";
  if (!::mkdtemp(tmpl)) return false;
  c.dir = tmpl;
  c.pid = ::fork();
  if (c.pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // a crashed bench leaves no controller behind
    const std::string log = c.dir + "/controller.log";
    FILE* f = std::freopen(log.c_str(), "w", stderr);
    (void)f;
    ::execl(RACKOS_BINARY, RACKOS_BINARY, "controller", "--insecure-no-tls", "--listen", "127.0.0.1:0", "--data-dir",
            c.dir.c_str(), "--no-fsync", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return wait_for(30, [&] {
    std::ifstream in(c.dir + "/controller.addr");
    return static_cast<bool>(in >> c.addr);
  });
}

// Services of 1,000 replicas each, `total` in all, numbered from `s`.
std::string fleet_yaml(int64_t total, int& s) {
  std::string y;
  for (int64_t placed = 0; placed < total; ++s) {
    const int64_t n = std::min<int64_t>(1000, total - placed);
    if (!y.empty()) y += "---\n";
    y += "name: load-" + std::to_string(s) + "\ncommand: [sleep, '3600']\ncpu: 10m:100m\nmemory: 1Mi:16Mi\ninstances: " +
         std::to_string(n) + "\n";
    placed += n;
  }
  return y;
}

// Wall time of one CLI command (its output thrown away), ms; -1 if it failed.
double time_cli(const std::string& addr, const char* what) {
  const auto t0 = std::chrono::steady_clock::now();
  pid_t pid = ::fork();
  if (pid == 0) {
    FILE* f = std::freopen("/dev/null", "w", stdout);
    (void)f;
    ::execl(RACKOS_BINARY, RACKOS_BINARY, what, "--insecure-no-tls", "--controller", addr.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int st = 0;
  ::waitpid(pid, &st, 0);
  const double ms = seconds_since(t0) * 1000;
  return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? ms : -1;
}

struct SizeResult {
  int nodes = 0;
  bool sustained = false;
  double us_per_heartbeat = 0;
};

SizeResult run_size(int nodes, int processes, double window_s, int connections) {
  SizeResult res{nodes, false, 0};
  Controller ctl;
  if (!start_controller(ctl)) {
    std::fprintf(stderr, "controller-scale: the controller did not start (log in %s)\n", ctl.dir.c_str());
    return res;
  }
  const auto t0 = std::chrono::steady_clock::now();
  rackos::bench::NodeFleet fleet({.target = ctl.addr,
                                  .nodes = nodes,
                                  .node_cpu_millis = 8000,
                                  .node_memory_bytes = int64_t{64} << 30,
                                  .connections = connections});
  fleet.start();
  if (!wait_for(120, [&] { return fleet.counts().registered == nodes; })) {
    std::fprintf(stderr, "controller-scale: %d nodes: only %lld registered\n", nodes,
                 static_cast<long long>(fleet.counts().registered));
    return res;
  }
  const double register_s = seconds_since(t0);
  const int64_t total = int64_t{nodes} * processes;
  // Placed in steps of 5,000 processes (each step's services applied in one
  // call, then waited for): the generated nodes answer every start on the
  // same 2 cores as the controller, so one apply of everything would measure
  // this machine's overload rather than the controller.
  const auto t_apply = std::chrono::steady_clock::now();
  auto ch = grpc::CreateChannel(ctl.addr, grpc::InsecureChannelCredentials());
  auto stub = v1::ClusterService::NewStub(ch);
  int service = 0;
  for (int64_t placed = 0; placed < total;) {
    const int64_t step = std::min<int64_t>(total - placed, 5000);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 120s);
    v1::ApplyRequest req;
    req.set_yaml(fleet_yaml(step, service));
    v1::ApplyResponse resp;
    auto st = stub->Apply(&ctx, req, &resp);
    if (!st.ok() || resp.errors_size() > 0) {
      std::fprintf(stderr, "controller-scale: apply: %s\n", st.ok() ? resp.errors(0).c_str() : st.error_message().c_str());
      return res;
    }
    placed += step;
    if (!wait_for(300, [&] { return fleet.counts().running >= placed; })) {
      std::fprintf(stderr, "controller-scale: %d nodes: only %lld of %lld processes started\n", nodes,
                   static_cast<long long>(fleet.counts().running), static_cast<long long>(placed));
      return res;
    }
  }
  const double place_s = seconds_since(t_apply);
  std::this_thread::sleep_for(3s);  // warm-up: every node has sent usage at least twice
  const auto before = fleet.counts();
  fleet.reset_latency();
  const double cpu0 = cpu_seconds(ctl.pid);
  const auto w0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(window_s));
  const double cpu1 = cpu_seconds(ctl.pid);
  const double elapsed = seconds_since(w0);
  const auto after = fleet.counts();
  const double rss = rss_mib(ctl.pid);
  const int64_t beats = after.heartbeats - before.heartbeats;
  const int64_t acks = after.acks - before.acks;
  const double cores = (cpu1 - cpu0) / elapsed;
  res.us_per_heartbeat = acks > 0 ? (cpu1 - cpu0) * 1e6 / static_cast<double>(acks) : 0;
  const double p50 = fleet.ack_latency_us(0.50) / 1000, p99 = fleet.ack_latency_us(0.99) / 1000;
  const int64_t gap = fleet.max_ack_gap_ms();
  // During placement (every node answering 50 starts at once, on the same 2
  // cores as the controller) and during the steady window, apart.
  const int64_t placing_deaths = before.refused + before.streams_ended;
  const int64_t false_deaths = after.refused + after.stops + after.streams_ended - before.refused - before.stops -
                               before.streams_ended;
  std::printf("%6d nodes %7lld processes | registered %.1f s, placed %.1f s | controller %.2f cores, RSS %.0f MiB, "
              "%.1f µs/heartbeat (%lld heartbeats/s) | ack p50 %.1f ms p99 %.1f ms, longest without ack %lld ms | "
              "false deaths %lld (while placing: %lld)\n",
              nodes, static_cast<long long>(total), register_s, place_s, cores, rss, res.us_per_heartbeat,
              static_cast<long long>(static_cast<double>(acks) / elapsed), p50, p99, static_cast<long long>(gap),
              static_cast<long long>(false_deaths), static_cast<long long>(placing_deaths));
  std::fflush(stdout);
  // Sustained: every node alive and heard at its 10 a second, every heartbeat
  // acknowledged, no node a lease without an ack, nothing died.
  const double expected = static_cast<double>(nodes) * 1000.0 / 100.0 * elapsed;
  res.sustained = static_cast<double>(acks) >= 0.97 * expected && acks >= beats * 99 / 100 && gap < 500 &&
                  false_deaths == 0 && placing_deaths == 0;

  // One node cut silently (a power cut): when were its processes ordered to
  // start elsewhere, from its last heartbeat?
  int victim = 0;  // the node holding the most (the worst case)
  for (int i = 1; i < nodes; ++i) {
    if (fleet.processes_on(i) > fleet.processes_on(victim)) victim = i;
  }
  const auto lost = fleet.cut(victim);
  wait_for(15, [&] { return fleet.restarted() == lost.size(); });
  auto times = fleet.restart_ms();
  const size_t placed = fleet.restarted();
  times.erase(std::remove(times.begin(), times.end(), -1.0), times.end());
  std::this_thread::sleep_for(1s);
  const auto end = fleet.counts();
  const int64_t false_after =
      end.refused + end.stops + end.streams_ended - after.refused - after.stops - after.streams_ended;
  const double ps_ms = time_cli(ctl.addr, "ps"), nodes_ms = time_cli(ctl.addr, "nodes");
  std::printf("%6d nodes: cut gen-%d (%zu processes): %zu placed again, p50 %.0f ms, p99 %.0f ms, max %.0f ms from its "
              "last heartbeat; false deaths after %lld | rackos ps %.0f ms, rackos nodes %.0f ms\n",
              nodes, victim, lost.size(), placed, percentile(times, 0.5), percentile(times, 0.99),
              times.empty() ? 0.0 : *std::max_element(times.begin(), times.end()), static_cast<long long>(false_after),
              ps_ms, nodes_ms);
  std::fflush(stdout);
  res.sustained = res.sustained && placed == lost.size() && false_after == 0;
  if (!res.sustained) std::printf("%6d nodes: NOT sustained\n", nodes);
  return res;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> sizes = {1000, 2000, 5000, 10000};
  int processes = 50;
  double window = 10;
  int connections = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--nodes") {
      sizes.clear();
      std::stringstream ss(value);
      for (std::string part; std::getline(ss, part, ',');) sizes.push_back(std::stoi(part));
    } else if (flag == "--processes") {
      processes = std::stoi(value);
    } else if (flag == "--seconds") {
      window = std::stod(value);
    } else if (flag == "--connections") {
      connections = std::stoi(value);
    } else {
      std::fprintf(stderr, "usage: bench_controller_scale [--nodes 1000,2000,5000,10000] [--processes 50] [--seconds 10] [--connections K]\n");
      return 2;
    }
  }
  // Every node is a connection on both ends.
  rlimit lim{};
  ::getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = lim.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &lim);
  ::signal(SIGPIPE, SIG_IGN);
  std::printf("controller-scale: one rackos controller (SQLite, no fsync, TLS off), generated nodes heartbeating every "
              "100 ms (usage on every 10th), %d processes a node, %.0f s windows, %s; %ld cores here (shared with the "
              "generator)\n",
              processes, window,
              connections > 0 ? ("streams over " + std::to_string(connections) + " connections").c_str()
                              : "one connection a node",
              ::sysconf(_SC_NPROCESSORS_ONLN));
  SizeResult best{};
  for (int n : sizes) {
    SizeResult r = run_size(n, processes, window, connections);
    if (r.sustained) best = r;
  }
  if (best.nodes == 0) {
    std::printf("controller_us_per_heartbeat: none sustained\n");
    return 1;
  }
  std::printf("largest sustained: %d nodes\n", best.nodes);
  std::printf("controller_us_per_heartbeat: %.1f\n", best.us_per_heartbeat);
  return 0;
}

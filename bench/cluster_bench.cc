// Figures of a real local cluster (controller + 4 nodes of active/standby
// shims, real processes, cgroups on), printed with the headline last:
//   failover          ≥ 200 running processes; `node kill` of the node holding
//                     the most; time until the last of its processes is running
//                     elsewhere (from the kill, so it includes the 500 ms lease);
//                     repeated; p50, then `failover_p99_ms: N`.
//   start-throughput  1,000 short-lived processes (/bin/true) started through the
//                     API until all have exited; `start_processes_per_s: N`
//                     (median of 5 runs).
// Each runs twice, TLS off (--insecure-no-tls) and then on (the default; the
// headline, last), and prints what TLS costs.
// Usage: bench_cluster failover [--processes N] [--repeats N] [--tls on|off|both]
//        bench_cluster start-throughput [--processes N] [--runs N] [--tls on|off|both]
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>

#include "tests/cluster_harness.h"

namespace {

using rackos::testing::LocalCluster;
using rackos::testing::wait_until;
namespace v1 = rackos::v1;

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// (busy, total) jiffies of all CPUs so far, from /proc/stat.
std::pair<double, double> cpu_jiffies() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  double v, busy = 0, total = 0;
  in >> cpu;
  for (int i = 0; i < 8 && in >> v; ++i) {
    total += v;
    if (i != 3 && i != 4) busy += v;  // idle, iowait
  }
  return {busy, total};
}

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  if (v.empty()) return 0;
  size_t idx = static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(idx, v.size() - 1)];
}

int failover(int processes, int repeats, bool insecure, double& p99) {
  LocalCluster c(RACKOS_BINARY, {.nodes = 4, .node_cpu = "8", .node_memory = "8Gi", .standby = true, .insecure = insecure});
  if (!c.start()) {
    std::fprintf(stderr, "bench failover: the cluster did not start\n");
    return 1;
  }
  auto resp = c.apply("name: fleet\ncommand: [sleep, '3600']\ncpu: 10m:100m\nmemory: 1Mi:16Mi\ninstances: " +
                      std::to_string(processes) + "\n");
  if (resp.errors_size() > 0) {
    std::fprintf(stderr, "bench failover: %s\n", resp.errors(0).c_str());
    return 1;
  }
  if (!wait_until(60000, [&] { return c.running("fleet") == processes; }, 50)) {
    std::fprintf(stderr, "bench failover: only %d of %d running\n", c.running("fleet"), processes);
    return 1;
  }
  std::printf("cluster: 4 nodes (active + standby shims each), %d running processes, TLS %s\n", processes,
              insecure ? "off" : "on (mutual, every shim and client)");
  std::vector<double> took;
  for (int r = 0; r < repeats; ++r) {
    std::map<std::string, std::vector<std::string>> on;
    for (const auto all = c.processes("fleet"); const auto& p : all.processes()) on[p.node()].push_back(p.id());
    int victim = 1;
    for (int i = 1; i <= 4; ++i) {
      if (on[c.node_name(i)].size() > on[c.node_name(victim)].size()) victim = i;
    }
    const std::set<std::string> lost(on[c.node_name(victim)].begin(), on[c.node_name(victim)].end());
    const auto t0 = std::chrono::steady_clock::now();
    if (!c.kill_node(victim).ok()) {
      std::fprintf(stderr, "bench failover: node kill failed\n");
      return 1;
    }
    bool ok = wait_until(20000, [&] {
      size_t back = 0;
      for (const auto all = c.processes("fleet"); const auto& p : all.processes()) {
        if (lost.count(p.id()) && p.state() == v1::RUNNING && p.node() != c.node_name(victim)) ++back;
      }
      return back == lost.size();
    }, 20);
    const double ms = ms_since(t0);
    if (!ok) {
      std::fprintf(stderr, "bench failover: repeat %d: processes not back in 20 s\n", r + 1);
      return 1;
    }
    took.push_back(ms);
    std::printf("repeat %2d: killed %s (%zu processes) → all running elsewhere in %.0f ms\n", r + 1,
                c.node_name(victim).c_str(), lost.size(), ms);
    std::fflush(stdout);
    // Power the node back on: a fresh shim pair on its state dir; fenced, then ready.
    c.start_node(victim);
    if (!wait_until(20000, [&] { return c.ready_nodes() == 4; }, 20)) {
      std::fprintf(stderr, "bench failover: node %s did not come back\n", c.node_name(victim).c_str());
      return 1;
    }
  }
  const char* tls = insecure ? "tls_off" : "tls_on";
  std::printf("failover_p50_ms_%s: %.0f\n", tls, percentile(took, 0.5));
  std::printf("failover_max_ms_%s: %.0f\n", tls, percentile(took, 1.0));
  p99 = percentile(took, 0.99);
  std::printf("failover_p99_ms_%s: %.0f\n", tls, p99);
  return 0;
}

int start_throughput(int processes, int runs, bool insecure, double& median) {
  // BENCH_NO_ENFORCE=1: shims without cgroups, to see what enforcement costs.
  const bool enforce = std::getenv("BENCH_NO_ENFORCE") == nullptr;
  LocalCluster c(RACKOS_BINARY,
                 {.nodes = 4, .node_cpu = "8", .node_memory = "8Gi", .standby = true, .enforce = enforce, .insecure = insecure});
  if (!c.start()) {
    std::fprintf(stderr, "bench start-throughput: the cluster did not start\n");
    return 1;
  }
  std::printf("cluster: 4 nodes (active + standby shims each); %d short-lived processes (/bin/true) per run; TLS %s\n",
              processes, insecure ? "off" : "on");
  std::vector<double> rates;
  for (int r = 0; r < runs; ++r) {
    const std::string name = "burst" + std::to_string(r);
    const auto cpu0 = cpu_jiffies();
    const auto t0 = std::chrono::steady_clock::now();
    auto resp = c.apply("name: " + name + "\ncommand: [/bin/true]\ncpu: 1m:100m\nmemory: 1Mi:16Mi\nrestart: never\ninstances: " +
                        std::to_string(processes) + "\n");
    if (resp.errors_size() > 0) {
      std::fprintf(stderr, "bench start-throughput: %s\n", resp.errors(0).c_str());
      return 1;
    }
    // Watch the service's counts (cheap), then check every exit once at the end.
    int exited = 0, failed = 0;
    v1::ListRequest only;
    only.set_service(name);
    bool ok = wait_until(120000, [&] {
      v1::ListServicesResponse svc;
      c.call([&](grpc::ClientContext* ctx) { return c.api().ListServices(ctx, only, &svc); });
      exited = svc.services_size() == 1 ? static_cast<int>(svc.services(0).exited()) : 0;
      if (std::getenv("BENCH_TRACE") && svc.services_size() == 1) {
        std::printf("  %6.0f ms: %u pending/starting, %u running, %d exited\n", ms_since(t0), svc.services(0).pending(),
                    svc.services(0).running(), exited);
      }
      return exited == processes;
    }, 20);
    const double ms = ms_since(t0);
    for (const auto all = c.processes(name); const auto& p : all.processes()) {
      failed += p.state() != v1::EXITED || p.exit().exit_code() != 0 || p.exit().signal() != 0;
    }
    if (!ok) {
      std::fprintf(stderr, "bench start-throughput: run %d: %d of %d exited in 120 s\n", r + 1, exited, processes);
      return 1;
    }
    const auto cpu1 = cpu_jiffies();
    const double busy = 100.0 * (cpu1.first - cpu0.first) / std::max(1.0, cpu1.second - cpu0.second);
    const double rate = processes * 1000.0 / ms;
    rates.push_back(rate);
    std::printf("run %d: %d started and exited (%d with a failure) in %.0f ms → %.0f processes/s (CPUs %.0f%% busy)\n",
                r + 1, processes, failed, ms, rate, busy);
    std::fflush(stdout);
    v1::StopRequest stop;
    stop.set_service(name);
    v1::StopResponse sr;
    c.call([&](grpc::ClientContext* ctx) { return c.api().Stop(ctx, stop, &sr); });
    wait_until(10000, [&] { return c.processes(name).processes_size() == 0; }, 50);
  }
  median = percentile(rates, 0.5);
  std::printf("start_processes_per_s_%s: %.0f\n", insecure ? "tls_off" : "tls_on", median);
  return 0;
}

// --tls on|off|both (default both: off first, then on, in one run).
std::string tls_flag(int argc, char** argv) {
  for (int i = 2; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--tls") == 0) return argv[i + 1];
  }
  return "both";
}

int flag(int argc, char** argv, const char* name, int dflt) {
  for (int i = 2; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) return std::atoi(argv[i + 1]);
  }
  return dflt;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  const std::string tls = tls_flag(argc, argv);
  if ((mode != "failover" && mode != "start-throughput") || (tls != "on" && tls != "off" && tls != "both")) {
    std::fprintf(stderr, "usage: bench_cluster failover|start-throughput [--processes N] [--repeats N|--runs N] [--tls on|off|both]\n");
    return 2;
  }
  // TLS off, then on (the default): the headline is with TLS, the last line;
  // the cost of TLS beside it (the bound: no worse by more than 10 %).
  double off = 0, on = 0;
  for (bool insecure : {true, false}) {
    if ((insecure && tls == "on") || (!insecure && tls == "off")) continue;
    double& out = insecure ? off : on;
    const int rc = mode == "failover"
                       ? failover(flag(argc, argv, "--processes", 200), flag(argc, argv, "--repeats", 12), insecure, out)
                       : start_throughput(flag(argc, argv, "--processes", 1000), flag(argc, argv, "--runs", 5), insecure, out);
    if (rc != 0) return rc;
  }
  const char* metric = mode == "failover" ? "failover_p99_ms" : "start_processes_per_s";
  if (tls == "both" && off > 0) {
    // Worse is slower failover (higher) or fewer starts a second (lower).
    const double worse = mode == "failover" ? (on - off) / off : (off - on) / off;
    std::printf("%s: TLS off %.0f, on %.0f: TLS costs %+.1f %%\n", metric, off, on, 100.0 * worse);
  }
  std::printf("%s: %.0f\n", metric, tls == "off" ? off : on);
  return 0;
}

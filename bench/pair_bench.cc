// Figures of a controller pair on etcd, on a real local cluster started the
// way users start one (`rackos up --store etcd --controllers 2`: 3 etcd
// members, 2 controllers, 2 nodes of active/standby shims, real processes):
//   handover            N planned handovers (`Handover` RPC, to any standby)
//                       while a client writes continuously (Scale of a probe
//                       service to max = 100 + seq, one write in flight,
//                       retried on the other address when refused). Per
//                       handover the write gap (longest time between two
//                       acknowledged writes around it); p50, lost writes (an
//                       acknowledged value not in the store at the end),
//                       doubled writes (a service's instances set to a value
//                       it was not asked for), workload pid changes, then
//                       `handover_p99_ms: N`.
//   failover-unplanned  N kill -9 of the active controller (`up` restarts it
//                       as a standby); time from the kill until a client
//                       write succeeds again; p50, then
//                       `controller_failover_p99_ms: N`.
//   rolling-upgrade     4 nodes, 200 processes (half at-most-one); `rackos
//                       upgrade --binary COPY`: both controllers, then every
//                       node's two shims; every daemon must run the copy after,
//                       and `rolling_upgrade_workload_restarts: N` counts the
//                       workload pids that changed (must be 0).
//   chaos               4 nodes, 100 processes (half at-most-one); a random
//                       fault every 2–5 s (node power cut, kill -9 of a node's
//                       active shim or of the active controller, planned
//                       handover, a node cut off by SIGSTOP of its shims for
//                       1–3 s, kill -9 of an etcd member); after each: every
//                       service at its count and every record there within
//                       2 s of the fault's end, no at-most-one process running
//                       twice at any moment (sampled on the host every 30 ms,
//                       frozen copies not counted), the store revision never
//                       going back. A line per fault; `chaos_violations: N`.
// handover and failover-unplanned run twice, TLS off (--insecure-no-tls) and
// then on (the default; the headline), and print what TLS costs.
// Usage: bench_pair handover [--handovers N] [--tls on|off|both]
//        bench_pair failover-unplanned [--kills N] [--tls on|off|both]
//        bench_pair rolling-upgrade [--processes N]
//        bench_pair chaos [--minutes M] [--seed S]
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "controller/etcd_store.h"
#include "core/spec_parse.h"
#include "auth/client_config.h"
#include "auth/grpc_tls.h"
#include "tests/cluster_harness.h"

namespace {

namespace v1 = rackos::v1;
using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double, std::milli>(b - a).count(); }

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  if (v.empty()) return 0;
  size_t idx = static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(idx, v.size() - 1)];
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// TLS off (--insecure-no-tls) for the run in progress; else the identity of
// the local admin `up` wrote (admin.conf), for every client of the bench.
bool g_insecure = false;
rackos::auth::TlsIdentity g_identity;

// `rackos up --store etcd --controllers 2` in the background, in its own dir.
struct Up {
  std::string dir;
  pid_t pid = -1;
  std::string addrs;  // every controller, comma-separated
  std::vector<std::string> list;

  bool start(const std::string& spec_yaml, int nodes = 2) {
    dir = "/tmp/rackos-bench-pair-" + std::to_string(::getpid());
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    std::ofstream(dir + "/probe.yaml") << spec_yaml;
    pid = ::fork();
    if (pid == 0) {
      ::setpgid(0, 0);
      int fd = ::open((dir + "/up.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      const std::string prefix = "bp" + std::to_string(::getppid()) + "-";
      const std::string n = std::to_string(nodes);
      std::vector<std::string> args{RACKOS_BINARY, "up", "--store", "etcd", "--controllers", "2", "--nodes", n, "--dir",
                                    dir + "/c", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--node-prefix", prefix,
                                    "-f", dir + "/probe.yaml"};
      if (g_insecure) args.push_back("--insecure-no-tls");
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(RACKOS_BINARY, argv.data());
      ::_exit(127);
    }
    const auto end = Clock::now() + std::chrono::seconds(120);
    while (Clock::now() < end) {
      const std::string log = read_text(dir + "/up.log");
      const size_t at = log.find("RACKOS_CONTROLLER=");
      if (at != std::string::npos && log.find("The cluster is up") != std::string::npos) {
        const size_t from = at + std::strlen("RACKOS_CONTROLLER=");
        addrs = log.substr(from, log.find(' ', from) - from);
        std::stringstream ss(addrs);
        for (std::string a; std::getline(ss, a, ',');) list.push_back(a);
        g_identity = {};
        if (!g_insecure) {
          const std::string conf = dir + "/c/controller/admin.conf";
          auto cfg = rackos::auth::read_client_config(conf);
          if (!cfg) {
            std::fprintf(stderr, "bench pair: %s\n", cfg.error().message.c_str());
            return false;
          }
          g_identity = cfg->identity;
          ::setenv("RACKOS_CONFIG", conf.c_str(), 1);  // the CLI runs of the bench
        }
        return list.size() == 2;
      }
      if (::waitpid(pid, nullptr, WNOHANG) == pid) {
        pid = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    std::fprintf(stderr, "bench pair: rackos up did not start:\n%s\n", read_text(dir + "/up.log").c_str());
    return false;
  }

  // The pid of the controller listening on `addr` (its command line names it).
  pid_t controller_pid(const std::string& addr) const {
    auto pids = rackos::testing::host_pids([&](const std::string& cmd) {
      return cmd.find(std::string("controller") + '\0') != std::string::npos &&
             cmd.find(std::string("--listen") + '\0' + addr + '\0') != std::string::npos &&
             cmd.find(dir + "/c/controller") != std::string::npos;
    });
    return pids.size() == 1 ? pids[0] : -1;
  }

  ~Up() {
    if (pid > 0) {
      ::kill(pid, SIGINT);  // up stops services, shims, controllers, etcd
      for (int i = 0; i < 300 && ::waitpid(pid, nullptr, WNOHANG) != pid; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    std::error_code ec;
    if (!std::getenv("BENCH_KEEP")) std::filesystem::remove_all(dir, ec);
  }
};

// A client of the pair that follows the active: one channel per address,
// reconnecting in milliseconds (a refused address is retried after 20 ms).
struct PairClient {
  std::vector<std::string> addrs;
  std::vector<std::shared_ptr<grpc::Channel>> chans;
  std::vector<std::unique_ptr<v1::ClusterService::Stub>> stubs;
  size_t at = 0;

  explicit PairClient(std::vector<std::string> a) : addrs(std::move(a)) {
    for (size_t i = 0; i < addrs.size(); ++i) {
      chans.emplace_back();
      stubs.emplace_back();
      renew(i);
    }
  }
  // A fresh channel with its own subchannel: one that failed to connect waits
  // out gRPC's backoff and re-resolution (about a second) before trying again,
  // which is far longer than a standby takes to start listening.
  void renew(size_t i) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    auto creds = rackos::auth::channel_credentials(addrs[i], g_identity, args);
    chans[i] = grpc::CreateCustomChannel(addrs[i], creds, args);
    stubs[i] = v1::ClusterService::NewStub(chans[i]);
  }
  static std::unique_ptr<grpc::ClientContext> ctx(int ms) {
    auto c = std::make_unique<grpc::ClientContext>();
    c->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(ms));
    return c;
  }
  // One call on the current address; on a refusal or an answer from one that
  // no longer acts, the other address next time.
  template <typename Fn>
  grpc::Status call(Fn fn) {
    auto st = fn(*stubs[at]);
    if (!st.ok() && (st.error_code() == grpc::StatusCode::UNAVAILABLE || st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
                     st.error_code() == grpc::StatusCode::CANCELLED)) {
      renew(at);
      at = (at + 1) % addrs.size();
    }
    return st;
  }
  grpc::Status scale(uint32_t max) {
    return call([&](v1::ClusterService::Stub& s) {
      v1::ScaleRequest req;
      req.set_service("probe");
      req.set_min(1);
      req.set_max(max);
      v1::ScaleResponse resp;
      auto c = ctx(1000);
      return s.Scale(c.get(), req, &resp);
    });
  }
  // The probe's instances max as the store holds it, and its process pids.
  bool read(uint32_t& max, std::vector<int>& pids) {
    for (int attempt = 0; attempt < 200; ++attempt) {
      v1::ListServicesResponse svcs;
      auto st = call([&](v1::ClusterService::Stub& s) {
        auto c = ctx(1000);
        return s.ListServices(c.get(), v1::ListRequest{}, &svcs);
      });
      if (st.ok()) {
        for (const auto& s : svcs.services()) {
          if (s.name() != "probe") continue;
          auto spec = rackos::parse_services_yaml(s.spec_yaml(), false);
          if (!spec || spec->empty()) return false;
          max = spec->front().instances.max;
        }
        v1::ListProcessesResponse ps;
        v1::ListRequest req;
        req.set_service("probe");
        auto pst = call([&](v1::ClusterService::Stub& s) {
          auto c = ctx(1000);
          return s.ListProcesses(c.get(), req, &ps);
        });
        if (pst.ok()) {
          pids.clear();
          for (const auto& p : ps.processes()) pids.push_back(static_cast<int>(p.pid()));
          std::sort(pids.begin(), pids.end());
          return true;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
};

const char* kProbe =
    "name: probe\ncommand: [sleep, '3600']\ncpu: 10m:100m\nmemory: 1Mi:16Mi\ninstances: 1:100\n---\n"
    "name: fleet\ncommand: [sleep, '3600']\ncpu: 10m:100m\nmemory: 1Mi:16Mi\ninstances: 20\non_partition: stop\n";

// Host pids of the fleet (sleep 3600 under this bench's nodes), sorted.
std::vector<int> fleet_pids() {
  auto p = rackos::testing::host_pids([](const std::string& cmd) { return cmd == std::string("sleep\0003600\0", 11); });
  std::sort(p.begin(), p.end());
  return p;
}

int handover(int count, double& p99) {
  Up up;
  if (!up.start(kProbe)) return 1;
  PairClient client(up.list);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const auto pids_before = fleet_pids();
  std::printf("cluster: rackos up --store etcd --controllers 2 (3 etcd members), 2 nodes, %zu workload processes\n",
              pids_before.size());
  // The writer: one write in flight, retried (same value) until acknowledged.
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<Clock::time_point> acks;
  std::atomic<uint32_t> last_acked{0};
  std::thread writer([&] {
    PairClient w(up.list);
    uint32_t seq = 0;
    while (!stop) {
      const uint32_t value = 101 + seq % 1'000'000;
      const auto c0 = Clock::now();
      auto st = w.scale(value);
      if (std::getenv("BENCH_TRACE") && !st.ok()) {
        const auto wall = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
        std::fprintf(stderr, "  %lld.%03lld write %u on %zu: %d %s after %.1f ms\n", static_cast<long long>(wall / 1000 % 60),
                     static_cast<long long>(wall % 1000), value, w.at, static_cast<int>(st.error_code()),
                     st.error_message().c_str(), ms_between(c0, Clock::now()));
      }
      if (!st.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(2));  // refused at once: do not spin
      if (st.ok()) {
        std::lock_guard lock(mu);
        acks.push_back(Clock::now());
        last_acked = value;
        ++seq;
      }
    }
  });
  // The workloads, watched from the host: frozen by a lapsed node lease?
  std::atomic<bool> watching{true};
  std::atomic<int> frozen_samples{0}, samples{0};
  std::thread watcher([&] {
    while (watching) {
      for (int p : pids_before) frozen_samples += rackos::testing::host_frozen(p);
      ++samples;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // light: the machine has 2 cores
    }
  });
  std::vector<double> gaps;
  for (int i = 0; i < count; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    const auto t0 = Clock::now();
    v1::HandoverResponse resp;
    auto st = client.call([&](v1::ClusterService::Stub& s) {
      auto c = PairClient::ctx(3000);
      return s.Handover(c.get(), v1::HandoverRequest{}, &resp);
    });
    if (!st.ok()) {  // the client was on the standby's address: the other one is active
      st = client.call([&](v1::ClusterService::Stub& s) {
        auto c = PairClient::ctx(3000);
        return s.Handover(c.get(), v1::HandoverRequest{}, &resp);
      });
    }
    if (!st.ok()) {
      std::fprintf(stderr, "bench handover: %d: %s\n--- controller 1:\n%s--- controller 2:\n%s", i + 1, st.error_message().c_str(),
                   read_text(up.dir + "/c/controller.log").c_str(), read_text(up.dir + "/c/controller-2.log").c_str());
      stop = true;
      writer.join();
      watching = false;
      watcher.join();
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    // The gap: the longest time between two acknowledged writes in [t0 - 100 ms, now]
    // (no write since the last one counts until now).
    double gap = 0;
    {
      std::lock_guard lock(mu);
      const auto window_end = Clock::now();
      Clock::time_point prev{};
      for (const auto& a : acks) {
        if (a < t0 - std::chrono::milliseconds(100)) {
          prev = a;
          continue;
        }
        if (prev != Clock::time_point{}) gap = std::max(gap, ms_between(prev, a));
        prev = a;
      }
      if (prev != Clock::time_point{}) gap = std::max(gap, ms_between(prev, window_end));
      acks.erase(acks.begin(), std::partition_point(acks.begin(), acks.end(), [&](const Clock::time_point& a) { return a < t0; }));
    }
    gaps.push_back(gap);
    std::printf("handover %2d: term %llu ended in %lld ms; write gap %.1f ms\n", i + 1,
                static_cast<unsigned long long>(resp.term()), static_cast<long long>(resp.stopped_ms()), gap);
    std::fflush(stdout);
  }
  stop = true;
  writer.join();
  watching = false;
  watcher.join();
  uint32_t max = 0;
  std::vector<int> probe_pids;
  if (!client.read(max, probe_pids)) {
    std::fprintf(stderr, "bench handover: cannot read the probe back\n");
    return 1;
  }
  const auto pids_after = fleet_pids();
  // The last acknowledged value must be what the store holds (a later
  // unacknowledged write may have gone in too: that is not a loss).
  const int lost = max >= last_acked.load() ? 0 : 1;
  const int doubled = max > last_acked.load() + 1 ? 1 : 0;  // only the one write in flight may have landed unacknowledged
  int changed = 0;
  for (int p : pids_before) changed += !std::binary_search(pids_after.begin(), pids_after.end(), p);
  std::printf("writes acknowledged: %u; store holds %u; lost %d, doubled %d\n", last_acked.load() - 100, max - 100, lost, doubled);
  std::printf("workload processes restarted or gone: %d of %zu; frozen in %d of %d host samples (every 20 ms)\n", changed,
              pids_before.size(), frozen_samples.load(), samples.load() * static_cast<int>(pids_before.size()));
  const char* tls = g_insecure ? "tls_off" : "tls_on";
  std::printf("handover_p50_ms_%s: %.1f\n", tls, percentile(gaps, 0.5));
  p99 = percentile(gaps, 0.99);
  std::printf("handover_p99_ms_%s: %.0f\n", tls, p99);
  return lost + doubled + changed > 0 ? 1 : 0;
}

int failover_unplanned(int kills, double& p99) {
  Up up;
  if (!up.start(kProbe)) return 1;
  PairClient client(up.list);
  const auto pids_before = fleet_pids();
  std::printf("cluster: rackos up --store etcd --controllers 2 (3 etcd members), 2 nodes, %zu workload processes\n",
              pids_before.size());
  std::vector<double> took;
  uint32_t value = 100;
  for (int i = 0; i < kills; ++i) {
    // Both controllers up (the one killed last is back as the standby) and one answering.
    const auto ready_by = Clock::now() + std::chrono::seconds(30);
    while (Clock::now() < ready_by && !(up.controller_pid(up.list[0]) > 0 && up.controller_pid(up.list[1]) > 0 &&
                                          client.scale(++value).ok())) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // the standby is watching again
    if (!client.scale(++value).ok() && !client.scale(value).ok()) {
      std::fprintf(stderr, "bench failover-unplanned: %d: no controller answers before the kill\n", i + 1);
      return 1;
    }
    const std::string active = up.list[client.at];
    const pid_t victim = up.controller_pid(active);
    if (victim <= 0) {
      std::fprintf(stderr, "bench failover-unplanned: no controller process listens on %s\n", active.c_str());
      return 1;
    }
    const auto t0 = Clock::now();
    ::kill(victim, SIGKILL);
    ++value;
    while (!client.scale(value).ok() && Clock::now() - t0 < std::chrono::seconds(20)) {
    }
    const double ms = ms_between(t0, Clock::now());
    took.push_back(ms);
    std::printf("kill %2d: active %s (pid %d) killed; a write succeeded after %.0f ms\n", i + 1, active.c_str(), victim, ms);
    std::fflush(stdout);
  }
  const auto pids_after = fleet_pids();
  int changed = 0;
  for (int p : pids_before) changed += !std::binary_search(pids_after.begin(), pids_after.end(), p);
  std::printf("workload processes restarted or gone: %d of %zu\n", changed, pids_before.size());
  const char* tls = g_insecure ? "tls_off" : "tls_on";
  std::printf("controller_failover_p50_ms_%s: %.0f\n", tls, percentile(took, 0.5));
  p99 = percentile(took, 0.99);
  std::printf("controller_failover_p99_ms_%s: %.0f\n", tls, p99);
  return changed > 0 ? 1 : 0;
}

int rolling_upgrade(int processes) {
  Up up;
  const std::string spec = "name: fleet\ncommand: [sleep, '3600']\ncpu: 10m:100m\nmemory: 1Mi:16Mi\ninstances: " +
                           std::to_string(processes / 2) + "\non_partition: stop\n---\nname: replicas\ncommand: [sleep, '3600']\n"
                           "cpu: 10m:100m\nmemory: 1Mi:16Mi\ninstances: " + std::to_string(processes - processes / 2) + "\n";
  if (!up.start(spec, 4)) return 1;
  const auto until = Clock::now() + std::chrono::seconds(60);
  while (fleet_pids().size() < static_cast<size_t>(processes) && Clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const auto before = fleet_pids();
  std::printf("cluster: rackos up --store etcd --controllers 2, 4 nodes (active + standby shims), %zu workload processes "
              "(half at-most-one)\n", before.size());
  const std::string fresh = up.dir + "/new";
  std::filesystem::create_directories(fresh);
  const std::string built = std::filesystem::path(RACKOS_BINARY).parent_path().string();
  std::filesystem::copy_file(RACKOS_BINARY, fresh + "/rackos");
  std::filesystem::copy_file(built + "/rackos-monitor", fresh + "/rackos-monitor");
  std::fflush(stdout);
  const auto t0 = Clock::now();
  const std::string cmd = std::string(RACKOS_BINARY) + " upgrade --binary " + fresh + "/rackos --controller " + up.addrs;
  const int rc = std::system(cmd.c_str());
  const double ms = ms_between(t0, Clock::now());
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const auto after = fleet_pids();
  int restarts = 0;
  for (int p : before) restarts += !std::binary_search(after.begin(), after.end(), p);
  int on_new = 0, daemons = 0;
  for (int p : rackos::testing::host_pids([&](const std::string& c) {
         return c.find(up.dir + "/c/") != std::string::npos &&
                (c.find(std::string("controller") + '\0') != std::string::npos || c.find(std::string("shim") + '\0') != std::string::npos);
       })) {
    std::error_code ec;
    ++daemons;
    on_new += std::filesystem::read_symlink("/proc/" + std::to_string(p) + "/exe", ec).string() == fresh + "/rackos";
  }
  std::printf("upgrade: exit %d in %.0f ms; %d of %d controllers and shims run the new binary\n", rc, ms, on_new, daemons);
  std::printf("rolling_upgrade_workload_restarts: %d\n", restarts);
  return rc == 0 && on_new == daemons ? 0 : 1;
}

// ---- chaos

// What the host runs of this bench's workloads: process name → copies running
// (not frozen), read from each workload's RACKOS_PROCESS.
std::map<std::string, int> running_copies(const std::string& argv0_secs) {
  std::map<std::string, int> out;
  const std::string want = std::string("sleep") + '\0' + argv0_secs + '\0';
  for (int pid : rackos::testing::host_pids([&](const std::string& cmd) { return cmd == want; })) {
    if (!rackos::testing::host_running(pid)) continue;  // frozen, or killed and not yet gone
    auto env = rackos::shim::read_file("/proc/" + std::to_string(pid) + "/environ");
    if (!env) continue;
    const std::string key = std::string("RACKOS_PROCESS=");
    const size_t at = env->find(key);
    if (at == std::string::npos) continue;
    ++out[env->substr(at + key.size(), env->find('\0', at) - at - key.size())];
  }
  return out;
}

std::vector<int> shim_pids_of(const std::string& node) {
  return rackos::testing::host_pids([&](const std::string& cmd) {
    return cmd.find(std::string("shim") + '\0') != std::string::npos &&
           cmd.find(std::string("--node") + '\0' + node + '\0') != std::string::npos;
  });
}

std::string state_dir_of(int shim_pid) {
  auto cmd = rackos::shim::read_file("/proc/" + std::to_string(shim_pid) + "/cmdline");
  if (!cmd) return {};
  const std::string flag = std::string("--state-dir") + '\0';
  const size_t at = cmd->find(flag);
  if (at == std::string::npos) return {};
  const size_t from = at + flag.size();
  return cmd->substr(from, cmd->find('\0', from) - from);
}

int chaos(double minutes, uint64_t seed) {
  Up up;
  const std::string secs = std::to_string(3'600'000 + ::getpid() % 100'000);
  const int per = 50;
  const std::string spec = "name: amo\ncommand: [sleep, '" + secs + "']\ncpu: 10m:100m\nmemory: 1Mi:16Mi\ninstances: " +
                           std::to_string(per) + "\non_partition: stop\n---\nname: many\ncommand: [sleep, '" + secs +
                           "']\ncpu: 10m:100m\nmemory: 1Mi:16Mi\ninstances: " + std::to_string(per) + "\n";
  if (!up.start(spec, 4)) return 1;
  // The etcd members, from up's log ("etcd        3 members A,B,C  (data ...").
  const std::string log = read_text(up.dir + "/up.log");
  const size_t m = log.find("members ");
  const std::string etcd_url = "etcd://" + log.substr(m + 8, log.find(' ', m + 8) - m - 8);
  auto etcd_opts = rackos::controller::parse_etcd_url(etcd_url);
  if (!etcd_opts) {
    std::fprintf(stderr, "bench chaos: %s\n", etcd_opts.error().message.c_str());
    return 1;
  }
  auto store_revision = [&]() -> int64_t {
    auto st = rackos::controller::open_etcd_store(*etcd_opts);
    return st ? static_cast<int64_t>((*st)->revision()) : -1;
  };
  PairClient client(up.list);
  std::vector<std::string> nodes;
  for (int i = 1; i <= 4; ++i) nodes.push_back("bp" + std::to_string(::getpid()) + "-" + std::to_string(i));
  std::mt19937_64 rng(seed);
  auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };

  // From the nodes: no at-most-one process ever runs twice (sampled every 30 ms).
  std::atomic<bool> sampling{true};
  std::mutex vmu;
  std::vector<std::string> doubled;
  std::thread sampler([&] {
    while (sampling) {
      for (const auto& [name, n] : running_copies(secs)) {
        if (n > 1 && name.rfind("amo-", 0) == 0) {
          std::lock_guard lock(vmu);
          doubled.push_back(name + " ran " + std::to_string(n) + " times");
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
    }
  });
  // Every service at its count, every record there (from the active's view).
  auto cluster_ok = [&](std::string& why) {
    v1::ListProcessesResponse ps;
    auto st = client.call([&](v1::ClusterService::Stub& s) {
      auto c = PairClient::ctx(1000);
      return s.ListProcesses(c.get(), v1::ListRequest{}, &ps);
    });
    if (!st.ok()) {
      why = "no controller answers (" + st.error_message() + ")";
      return false;
    }
    std::map<std::string, int> running;
    std::set<std::string> names;
    for (const auto& p : ps.processes()) {
      names.insert(p.id());
      running[p.service()] += p.state() == v1::RUNNING;
    }
    for (const char* svc : {"amo", "many"}) {
      for (int i = 0; i < per; ++i) {
        if (!names.count(std::string(svc) + "-" + std::to_string(i))) {
          why = std::string("record ") + svc + "-" + std::to_string(i) + " missing";
          return false;
        }
      }
      if (running[svc] != per) {
        why = std::string(svc) + " " + std::to_string(running[svc]) + "/" + std::to_string(per) + " running (controller)";
        return false;
      }
    }
    // And from the host: every process running somewhere, not frozen.
    std::map<std::string, int> on_host;
    for (const auto& [name, n] : running_copies(secs)) on_host[name.substr(0, name.rfind('-'))] += n > 0;
    for (const char* svc : {"amo", "many"}) {
      if (on_host[svc] != per) {
        why = std::string(svc) + " " + std::to_string(on_host[svc]) + "/" + std::to_string(per) + " running (host)";
        return false;
      }
    }
    return true;
  };
  std::string why;
  for (int i = 0; i < 300 && !cluster_ok(why); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::printf("cluster: rackos up --store etcd --controllers 2 (3 etcd members), 4 nodes, %d processes (%d at-most-one); "
              "chaos for %.1f min, seed %llu\n", 2 * per, per, minutes, static_cast<unsigned long long>(seed));
  std::fflush(stdout);
  int violations = 0, faults = 0;
  int64_t last_revision = store_revision();
  std::map<std::string, Clock::time_point> down_until;  // power-cut nodes come back after ~10 s
  const auto end = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(minutes * 60'000));
  const char* kinds[] = {"power-cut", "shim-kill", "controller-kill", "handover", "partition", "etcd-kill"};
  while (Clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(uniform(2000, 5000)));
    std::vector<std::string> up_nodes;
    for (const auto& n : nodes) {
      if (down_until[n] < Clock::now()) up_nodes.push_back(n);
    }
    const std::string kind = kinds[uniform(0, 5)];
    const std::string node = up_nodes.empty() ? nodes[0] : up_nodes[static_cast<size_t>(uniform(0, static_cast<int>(up_nodes.size()) - 1))];
    std::string what;
    const auto t0 = Clock::now();
    if (kind == "power-cut") {
      if (up_nodes.size() < 3) continue;  // keep room: at most one node down at a time
      v1::DrainRequest req;
      req.set_node(node);
      v1::DrainResponse resp;
      auto st = client.call([&](v1::ClusterService::Stub& s) {
        auto c = PairClient::ctx(2000);
        return s.KillNode(c.get(), req, &resp);
      });
      down_until[node] = Clock::now() + std::chrono::seconds(12);
      what = "power cut of " + node + (st.ok() ? "" : " (refused: " + st.error_message() + ")");
    } else if (kind == "shim-kill") {
      auto pids = shim_pids_of(node);
      int active = 0;
      if (!pids.empty()) active = std::atoi(read_text(state_dir_of(pids[0]) + "/active.pid").c_str());
      if (active > 0) ::kill(active, SIGKILL);
      what = "kill -9 of " + node + "'s active shim (pid " + std::to_string(active) + ")";
    } else if (kind == "controller-kill") {
      uint32_t ignored = 0;
      std::vector<int> pids;
      (void)client.read(ignored, pids);  // lands `at` on the active
      const pid_t victim = up.controller_pid(up.list[client.at]);
      if (victim > 0) ::kill(victim, SIGKILL);
      what = "kill -9 of the active controller " + up.list[client.at] + " (pid " + std::to_string(victim) + ")";
    } else if (kind == "handover") {
      v1::HandoverResponse resp;
      grpc::Status st;
      for (int k = 0; k < 4 && !(st = client.call([&](v1::ClusterService::Stub& s) {
                                   auto c = PairClient::ctx(2000);
                                   return s.Handover(c.get(), v1::HandoverRequest{}, &resp);
                                 })).ok();
           ++k) {
      }
      what = "planned handover" + (st.ok() ? " (term " + std::to_string(resp.term()) + " ended)" : " refused: " + st.error_message());
    } else if (kind == "partition") {
      auto pids = shim_pids_of(node);
      for (int p : pids) ::kill(p, SIGSTOP);
      std::this_thread::sleep_for(std::chrono::milliseconds(uniform(1000, 3000)));
      for (int p : pids) ::kill(p, SIGCONT);
      what = node + " cut off (its shims SIGSTOPped) for " +
             std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count()) + " ms";
    } else {
      const int member = uniform(0, 2);
      const pid_t pid = std::atoi(read_text(up.dir + "/c/etcd/m" + std::to_string(member) + ".pid").c_str());
      if (pid > 0) ::kill(pid, SIGKILL);
      what = "kill -9 of etcd member m" + std::to_string(member) + " (pid " + std::to_string(pid) + ")";
    }
    ++faults;
    // Settled within 2 s of the fault's end?
    const auto fault_end = Clock::now();
    bool ok = false;
    while (!(ok = cluster_ok(why)) && Clock::now() - fault_end < std::chrono::seconds(2)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    const double settle = ms_between(fault_end, Clock::now());
    std::string verdict = ok ? "settled in " + std::to_string(static_cast<int>(settle)) + " ms" : "NOT settled in 2 s: " + why;
    if (!ok) ++violations;
    const int64_t rev = store_revision();
    if (rev >= 0 && rev < last_revision) {
      ++violations;
      verdict += "; store revision went back " + std::to_string(last_revision) + " -> " + std::to_string(rev);
    }
    if (rev >= 0) last_revision = rev;
    {
      std::lock_guard lock(vmu);
      for (const auto& d : doubled) {
        ++violations;
        verdict += "; DOUBLED: " + d;
      }
      doubled.clear();
    }
    std::printf("fault %3d  %-15s %s; %s\n", faults, kind.c_str(), what.c_str(), verdict.c_str());
    std::fflush(stdout);
    if (!ok) {  // let it finish settling before the next fault, however long
      for (int i = 0; i < 300 && !cluster_ok(why); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  sampling = false;
  sampler.join();
  std::printf("faults: %d; store revision %lld\n", faults, static_cast<long long>(last_revision));
  std::printf("chaos_violations: %d\n", violations);
  return violations == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  int n = mode == "handover" ? 20 : mode == "rolling-upgrade" ? 200 : 10;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--handovers") || !std::strcmp(argv[i], "--kills") || !std::strcmp(argv[i], "--processes")) {
      n = std::atoi(argv[i + 1]);
    }
  }
  if (mode == "handover" || mode == "failover-unplanned") {
    // TLS off, then on (the default; the headline, last), in one run: what TLS costs.
    std::string tls = "both";
    for (int i = 2; i + 1 < argc; i += 2) {
      if (!std::strcmp(argv[i], "--tls")) tls = argv[i + 1];
    }
    double off = 0, on = 0;
    for (bool insecure : {true, false}) {
      if ((insecure && tls == "on") || (!insecure && tls == "off")) continue;
      g_insecure = insecure;
      const int rc = mode == "handover" ? handover(n, insecure ? off : on) : failover_unplanned(n, insecure ? off : on);
      if (rc != 0) return rc;
    }
    const char* metric = mode == "handover" ? "handover_p99_ms" : "controller_failover_p99_ms";
    if (tls == "both" && off > 0) std::printf("%s: TLS off %.0f, on %.0f: TLS costs %+.1f %%\n", metric, off, on, 100.0 * (on - off) / off);
    std::printf("%s: %.0f\n", metric, tls == "off" ? off : on);
    return 0;
  }
  if (mode == "rolling-upgrade") return rolling_upgrade(n);
  if (mode == "chaos") {
    double minutes = 5;
    uint64_t seed = 1;
    for (int i = 2; i + 1 < argc; i += 2) {
      if (!std::strcmp(argv[i], "--minutes")) minutes = std::atof(argv[i + 1]);
      if (!std::strcmp(argv[i], "--seed")) seed = std::strtoull(argv[i + 1], nullptr, 10);
    }
    return chaos(minutes, seed);
  }
  std::fprintf(stderr, "usage: bench_pair handover [--handovers N] | failover-unplanned [--kills N] | rolling-upgrade [--processes N]\n");
  return 2;
}

// A real local cluster for end-to-end tests and benchmarks: a `rackos
// controller` (SQLite store in a private dir, loopback, a fresh join token)
// and N `rackos shim` nodes with names unique to this process, started with
// the same command lines as `rackos up` (cli/local_cluster), talked to over
// gRPC. Everything it starts is cleaned up by pid and by path: services
// are stopped through the API, then shims and the controller by pid, then
// any workload still recorded in a node's state dir, its cgroups, the dir.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <grpcpp/grpcpp.h>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "auth/client_config.h"
#include "auth/grpc_tls.h"
#include "cli/local_cluster.h"
#include "rackos/v1/cluster.grpc.pb.h"
#include "shim/cgroup_files.h"
#include "shim/node_cleanup.h"

namespace rackos::testing {

inline bool wait_until(int timeout_ms, const std::function<bool()>& pred, int poll_ms = 10) {
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(poll_ms));
  }
  return pred();
}

// Alive and not a zombie (orphans of a killed node are reparented to the test).
inline bool pid_alive(int pid) {
  if (pid <= 0) return false;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return false;
  auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] != 'Z';
}

// Live (non-zombie) processes on this host whose command line — its
// arguments, each followed by a NUL — satisfies `match`. Each /proc file is
// read whole (a process may exit mid-read).
inline std::vector<int> host_pids(const std::function<bool(const std::string& cmdline)>& match) {
  std::vector<int> out;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    const int pid = std::atoi(e.path().filename().c_str());
    if (pid <= 0) continue;
    auto text = shim::read_file("/proc/" + std::to_string(pid) + "/cmdline");
    if (text && !text->empty() && match(*text) && pid_alive(pid)) out.push_back(pid);
  }
  return out;
}

// Frozen on this host: stopped by a signal ('T'), or in a frozen cgroup
// (v1 freezer.state FROZEN/FREEZING, v2 cgroup.freeze 1) — the way a node
// holds an at-most-one process whose lease ran out (shim/freeze.h).
inline bool host_frozen(int pid) {
  auto stat = shim::read_file("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return false;
  const size_t close = stat->rfind(')');
  if (close != std::string::npos && close + 2 < stat->size() && (*stat)[close + 2] == 'T') return true;
  auto groups = shim::read_file("/proc/" + std::to_string(pid) + "/cgroup");
  if (!groups) return false;
  std::istringstream in(*groups);
  std::string line;
  while (std::getline(in, line)) {
    const size_t a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    const std::string ctl = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    if (ctl == "freezer") {
      auto st = shim::read_file("/sys/fs/cgroup/freezer" + path + "/freezer.state");
      if (st && st->rfind("THAWED", 0) != 0) return true;
    } else if (ctl.empty()) {
      for (const char* root : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"}) {
        auto f = shim::read_file(root + path + "/cgroup.freeze");
        if (f && f->rfind("1", 0) == 0) return true;
      }
    }
  }
  return false;
}

// Killed but not yet gone: SIGKILL pending (a frozen task killed and then
// thawed dies at once, without running another instruction of its own).
inline bool host_dying(int pid) {
  auto status = shim::read_file("/proc/" + std::to_string(pid) + "/status");
  if (!status) return true;
  std::istringstream in(*status);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("SigPnd:", 0) == 0 || line.rfind("ShdPnd:", 0) == 0) {
      const uint64_t mask = std::strtoull(line.c_str() + 7, nullptr, 16);
      if (mask & (uint64_t{1} << (SIGKILL - 1))) return true;
    }
  }
  return false;
}

// Running on this host: alive, not frozen, not being killed.
inline bool host_running(int pid) { return pid_alive(pid) && !host_frozen(pid) && !host_dying(pid); }

// A service of `instances` sleepers (sleep 600), small envelopes.
inline std::string sleeper(const std::string& name, int instances, const std::string& extra = "") {
  return "name: " + name + "\ncommand: [sleep, '600']\ncpu: 100m:500m\nmemory: 16Mi:64Mi\ninstances: " +
         std::to_string(instances) + "\n" + extra;
}

struct ClusterOptions {
  int nodes = 3;
  std::string node_cpu = "2";
  std::string node_memory = "4Gi";
  bool standby = false;
  bool enforce = true;
  std::string lease = "500ms";
  std::string data_dir;  // the controller's store dir (empty: <dir>/controller)
  std::vector<std::string> controller_extra;  // every start of the controller, e.g. {"--store", "etcd://..."}
  bool insecure = false;  // --insecure-no-tls everywhere (benchmarks: what TLS costs)
};

class LocalCluster {
 public:
  explicit LocalCluster(std::string binary, ClusterOptions opt = {}) : bin_(std::move(binary)), opt_(opt) {
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);  // orphaned monitors come back to us, and are reaped
    // Reaps only children nobody else waits for (orphans of a killed node,
    // reparented to us as init would get them). Daemons and CLI runs this
    // harness starts are waited for by pid where they are started: a
    // waitpid(-1) here would steal their exit status.
    reaper_ = std::thread([this] {
      while (!stop_reaper_) {
        {
          std::lock_guard lock(reaped_mu_);
          for (int pid : children()) {
            if (!owned_.count(pid)) ::waitpid(pid, nullptr, WNOHANG);
          }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    });
    static int seq = 0;
    tag_ = "c" + std::to_string(::getpid()) + "x" + std::to_string(seq++);
    dir_ = (std::filesystem::temp_directory_path() / ("rackos-" + tag_)).string();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_ + "/nodes");
    // Node state on a tmpfs when there is one (as /run is on most machines), as `rackos up` does.
    state_root_ = local::node_state_root("rackos-" + tag_, dir_ + "/nodes");
    std::filesystem::remove_all(state_root_);
    std::filesystem::create_directories(state_root_);
    std::ofstream(dir_ + "/token") << "token-" << tag_ << "\n";
  }
  ~LocalCluster() { shutdown(); }
  LocalCluster(const LocalCluster&) = delete;
  LocalCluster& operator=(const LocalCluster&) = delete;

  const std::string& dir() const { return dir_; }
  const std::string& addr() const { return addr_; }
  std::string node_name(int i) const { return tag_ + "n" + std::to_string(i); }
  std::string node_dir(int i) const { return state_root_ + "/" + node_name(i); }
  std::string node_log(int i) const { return dir_ + "/nodes/" + node_name(i) + ".log"; }
  v1::ClusterService::Stub& api() { return *stub_; }
  int controller_pid() const { return ctl_pid_; }
  std::vector<int>& shim_pids(int i) { return shims_[i]; }

  // Starts the controller (on `listen`; port 0 the first time) and waits for its address.
  std::string data_dir() const { return opt_.data_dir.empty() ? dir_ + "/controller" : opt_.data_dir; }

  bool start_controller(const std::string& listen = "127.0.0.1:0", std::vector<std::string> extra = {}) {
    std::filesystem::remove(data_dir() + "/controller.addr");
    extra.insert(extra.begin(), opt_.controller_extra.begin(), opt_.controller_extra.end());
    ctl_pid_ = spawn(local::controller_argv({bin_, listen, "127.0.0.1:0", data_dir(), dir_ + "/token", opt_.lease, extra,
                                             opt_.insecure}),
                     dir_ + "/controller.log");
    bool ok = wait_until(10000, [&] {
      std::ifstream in(data_dir() + "/controller.addr");
      std::string a;
      std::getline(in, a);
      if (a.empty()) return false;
      addr_ = a;
      return true;
    });
    if (!ok) return false;
    // The harness is the local admin over TCP and TLS (admin.conf), as CLI
    // runs from this test process are; plaintext with --insecure-no-tls.
    auth::TlsIdentity id;
    if (!opt_.insecure) {
      ::setenv("RACKOS_CONFIG", (data_dir() + "/admin.conf").c_str(), 1);
      auto cfg = auth::read_client_config(data_dir() + "/admin.conf");
      if (!cfg) return false;
      id = cfg->identity;
    }
    grpc::ChannelArguments args;
    auto creds = auth::channel_credentials(addr_, id, args);
    channel_ = grpc::CreateCustomChannel(addr_, creds, args);
    stub_ = v1::ClusterService::NewStub(channel_);
    return true;
  }

  void start_node(int i, const std::string& token_file = "") {
    std::filesystem::create_directories(node_dir(i));
    const auto argv = local::shim_argv({bin_, node_name(i), opt_.node_cpu, opt_.node_memory, node_dir(i), addr_,
                                        token_file.empty() ? (opt_.insecure ? dir_ + "/token" : data_dir() + "/join-token")
                                                           : token_file,
                                        opt_.lease, "r" + std::to_string(i % 2), opt_.enforce, opt_.insecure});
    shims_[i].push_back(spawn(argv, node_log(i)));
    if (opt_.standby) shims_[i].push_back(spawn(argv, node_log(i)));
  }

  // Controller + nodes 1..N, all ready.
  bool start() {
    if (!start_controller()) return false;
    for (int i = 1; i <= opt_.nodes; ++i) start_node(i);
    return wait_until(15000, [&] { return ready_nodes() == opt_.nodes; }, 20);
  }

  int ready_nodes() {
    v1::ListNodesResponse r;
    if (!call([&](grpc::ClientContext* c) { return stub_->ListNodes(c, v1::ListRequest{}, &r); })) return -1;
    int n = 0;
    for (const auto& node : r.nodes()) n += node.state() == v1::READY;
    return n;
  }

  v1::ListProcessesResponse processes(const std::string& service = "") {
    v1::ListRequest req;
    req.set_service(service);
    v1::ListProcessesResponse r;
    call([&](grpc::ClientContext* c) { return stub_->ListProcesses(c, req, &r); });
    return r;
  }

  // Each process of the service → its pid, as the controller holds them.
  std::map<std::string, int> pids(const std::string& service) {
    std::map<std::string, int> out;
    for (const auto all_ = processes(service); const auto& p : all_.processes()) out[p.id()] = p.pid();
    return out;
  }

  int running(const std::string& service = "") {
    int n = 0;
    for (const auto all_ = processes(service); const auto& p : all_.processes()) n += p.state() == v1::RUNNING;
    return n;
  }

  // Running with a pid the controller learnt from its node (adopted after a restart).
  int adopted(const std::string& service) {
    int n = 0;
    for (const auto all_ = processes(service); const auto& p : all_.processes()) n += p.pid() > 0 && p.state() == v1::RUNNING;
    return n;
  }

  v1::ApplyResponse apply(const std::string& yaml) {
    v1::ApplyRequest req;
    req.set_yaml(yaml);
    v1::ApplyResponse r;
    call([&](grpc::ClientContext* c) { return stub_->Apply(c, req, &r); });
    return r;
  }

  grpc::Status kill_node(int i) {
    v1::DrainRequest req;
    req.set_node(node_name(i));
    v1::DrainResponse r;
    grpc::ClientContext c;
    return stub_->KillNode(&c, req, &r);
  }

  bool call(const std::function<grpc::Status(grpc::ClientContext*)>& f) {
    grpc::ClientContext c;
    c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return f(&c).ok();
  }

  // Runs the rackos binary with args; returns (exit code, stdout+stderr).
  std::pair<int, std::string> cli(const std::string& args) {
    return sh(bin_ + " " + args + " --controller " + addr_ + (opt_.insecure ? " --insecure-no-tls" : ""));
  }

  // Runs a shell command; returns (exit code, stdout+stderr). Its exit status
  // is ours alone: the child is marked owned before the reaper can see it.
  std::pair<int, std::string> sh(const std::string& cmd) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return {-1, "pipe failed"};
    pid_t pid;
    {
      std::lock_guard lock(reaped_mu_);
      pid = ::fork();
      if (pid == 0) {
        ::dup2(fds[1], 1);
        ::dup2(fds[1], 2);
        ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
      }
      if (pid > 0) owned_.insert(pid);
    }
    ::close(fds[1]);
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
      if (n > 0) out.append(buf, static_cast<size_t>(n));
    }
    ::close(fds[0]);
    int st = 0;
    if (pid < 0 || ::waitpid(pid, &st, 0) != pid) return {-1, out + "\n(waitpid failed)"};
    std::lock_guard lock(reaped_mu_);
    owned_.erase(pid);
    return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
  }

  // A daemon this harness started has exited (reaps it if so).
  bool exited(int pid) {
    std::lock_guard lock(reaped_mu_);
    if (reaped_.count(pid)) return true;
    int r = ::waitpid(pid, nullptr, WNOHANG);
    if (r == 0) return false;
    reaped_.insert(pid);
    return true;
  }

  void kill9_controller() {
    if (ctl_pid_ > 0 && !was_reaped(ctl_pid_)) {
      ::kill(ctl_pid_, SIGKILL);
      ::waitpid(ctl_pid_, nullptr, 0);
      std::lock_guard lock(reaped_mu_);
      reaped_.insert(ctl_pid_);
    }
    ctl_pid_ = 0;
  }

  std::string file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  void shutdown() {
    if (done_) return;
    if (const char* keep = std::getenv("RACKOS_TEST_KEEP_LOGS"); keep && *keep) {
      std::system(("cp -r " + dir_ + "/controller.log " + dir_ + "/nodes/*.log /tmp/ 2>/dev/null").c_str());
    }
    done_ = true;
    if (ctl_pid_ > 0 && stub_) {
      v1::ListServicesResponse svcs;
      if (call([&](grpc::ClientContext* c) { return stub_->ListServices(c, v1::ListRequest{}, &svcs); })) {
        for (const auto& s : svcs.services()) {
          v1::StopRequest req;
          req.set_service(s.name());
          v1::StopResponse r;
          call([&](grpc::ClientContext* c) { return stub_->Stop(c, req, &r); });
        }
        wait_until(5000, [&] {
          for (const auto all_ = processes(); const auto& p : all_.processes()) {
            if (!p.node().empty()) return false;
          }
          return true;
        }, 20);
      }
    }
    for (auto& [i, pids] : shims_) {
      for (int pid : pids) stop_pid(pid);
    }
    stop_pid(ctl_pid_);
    for (auto& [i, pids] : shims_) shim::kill_recorded_processes(node_dir(i));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    for (auto& [i, pids] : shims_) shim::remove_node_cgroups(node_name(i));
    std::filesystem::remove_all(state_root_);
    std::filesystem::remove_all(dir_);
    stop_reaper_ = true;
    if (reaper_.joinable()) reaper_.join();
  }

  // Starts a daemon as `rackos up` does; it is ours to wait for (never the reaper's).
  int spawn(const std::vector<std::string>& argv, const std::string& log) {
    std::lock_guard lock(reaped_mu_);
    const pid_t pid = local::spawn_daemon(argv, log);
    if (pid > 0) owned_.insert(pid);
    return pid;
  }

  // Stops a daemon we started, by pid; never signals a pid already reaped
  // (it may belong to someone else by now).
  void stop_pid(int pid) {
    if (pid <= 0 || exited(pid)) return;  // a zombie of ours still holds its pid: signalling it is safe
    ::kill(pid, SIGTERM);
    for (int i = 0; i < 150; ++i) {
      if (exited(pid)) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    std::lock_guard lock(reaped_mu_);
    reaped_.insert(pid);
  }

  // This process's children (every thread's), from /proc.
  static std::vector<int> children() {
    std::vector<int> out;
    std::error_code ec;
    for (const auto& t : std::filesystem::directory_iterator("/proc/self/task", ec)) {
      std::ifstream in(t.path() / "children");
      int pid;
      while (in >> pid) out.push_back(pid);
    }
    return out;
  }

  bool was_reaped(int pid) {
    std::lock_guard lock(reaped_mu_);
    return reaped_.count(pid) > 0;
  }

 private:
  std::string bin_;
  ClusterOptions opt_;
  std::string tag_, dir_, addr_, state_root_;
  int ctl_pid_ = 0;
  std::map<int, std::vector<int>> shims_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::ClusterService::Stub> stub_;
  bool done_ = false;
  std::atomic<bool> stop_reaper_{false};
  std::thread reaper_;
  std::mutex reaped_mu_;
  std::set<int> reaped_;  // daemons of ours already waited for (their pids may be reused)
  std::set<int> owned_;   // children waited for by pid where they were started
};

}  // namespace rackos::testing

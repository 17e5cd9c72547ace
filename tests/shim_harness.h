// A real shim on this machine for end-to-end tests: starts `rackos shim`
// processes (active, and standbys on request) on a private state dir and a
// node name unique to this test process, and cleans up everything it started
// by pid and by path: workloads, monitors, shims, cgroups, state files.
#pragma once

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "shim/cgroup_files.h"
#include "shim/node_cleanup.h"
#include "shim/node_client.h"
#include "shim/upgrade.h"

namespace rackos::testing {

inline std::string rackos_bin() { return RACKOS_BINARY; }

inline bool wait_for(int timeout_ms, const auto& pred) {
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

// CPU time of a pid in milliseconds (utime + stime from /proc/PID/stat).
inline int64_t cpu_ms_of(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(in, line);
  size_t close = line.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream rest(line.substr(close + 2));
  std::string f;
  int64_t utime = 0, stime = 0;
  for (int i = 3; i <= 15; ++i) {
    rest >> f;
    if (i == 14) utime = std::stoll(f);
    if (i == 15) stime = std::stoll(f);
  }
  return (utime + stime) * 1000 / sysconf(_SC_CLK_TCK);
}

// Cores used by `pid` over `ms` of wall time.
inline double cores_over(int pid, int ms) {
  int64_t a = cpu_ms_of(pid);
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  int64_t b = cpu_ms_of(pid);
  return static_cast<double>(b - a) / ms;
}

inline bool cgroups_writable() {
  return ::access("/sys/fs/cgroup/cpu/cpu.shares", W_OK) == 0 || ::access("/sys/fs/cgroup/cgroup.subtree_control", W_OK) == 0;
}

class ShimNode {
 public:
  explicit ShimNode(std::vector<std::string> extra_args = {}, std::string cpu = "2", std::string memory = "2Gi")
      : extra_(std::move(extra_args)), cpu_(std::move(cpu)), memory_(std::move(memory)) {
    static int counter = 0;
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);  // orphaned monitors come to us, and we reap them
    node_ = "t" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
    dir_ = "/tmp/rackos-test/" + node_;
    EXPECT_TRUE(shim::make_dir(dir_));
  }
  ~ShimNode() { cleanup(); }

  const std::string& node() const { return node_; }
  const std::string& dir() const { return dir_; }
  std::string socket() const { return dir_ + "/shim.sock"; }

  // Starts a shim; the first becomes active, later ones standby.
  int start_shim() {
    std::vector<std::string> argv = {rackos_bin(), "shim", "--node", node_, "--cpu", cpu_, "--memory", memory_,
                                     "--state-dir", dir_};
    argv.insert(argv.end(), extra_.begin(), extra_.end());
    auto pid = shim::spawn_detached(argv, dir_ + "/shim.log");
    if (!pid) throw std::runtime_error(pid.error().message);
    shims_.insert(*pid);
    return *pid;
  }

  // Starts the active shim and waits until it answers.
  int start_active() {
    int pid = start_shim();
    if (!wait_for(5000, [&] { return status_pid() == pid; })) throw std::runtime_error("shim did not come up: " + log());
    return pid;
  }

  int start_standby() {
    int pid = start_shim();
    if (!wait_for(5000, [&] {
          auto s = shim::standby_pids(dir_);
          return std::find(s.begin(), s.end(), pid) != s.end();
        })) {
      throw std::runtime_error("standby did not come up: " + log());
    }
    return pid;
  }

  int status_pid() {
    shim::NodeClient c(socket(), 300);
    auto r = c.call({{"op", "status"}});
    return r ? r->value("pid", 0) : 0;
  }

  nlohmann::json call(const nlohmann::json& req) {
    shim::NodeClient c(socket());
    auto r = c.call(req);
    if (!r) return {{"ok", false}, {"error", r.error().message}};
    return *r;
  }

  nlohmann::json start(const std::string& id, std::vector<std::string> argv, const std::string& cpu,
                       const std::string& memory, const std::string& extra_json = "{}") {
    nlohmann::json req = nlohmann::json::parse(extra_json);
    req["op"] = "start";
    req["id"] = id;
    req["argv"] = argv;
    req["cpu"] = cpu;
    req["memory"] = memory;
    auto r = call(req);
    if (r.value("ok", false)) pids_.insert(r["pid"].get<int>());
    return r;
  }

  nlohmann::json process(const std::string& id) {
    auto r = call({{"op", "list"}});
    for (const auto& p : r["processes"]) {
      if (p["id"] == id) return p;
    }
    return nullptr;
  }

  std::string log() const {
    auto t = shim::read_file(dir_ + "/shim.log");
    return t ? *t : "";
  }

  void track_shim(int pid) { shims_.insert(pid); }

  void cleanup() {
    if (cleaned_) return;
    cleaned_ = true;
    // Workloads first, by the pids the shim reported (and monitors with them).
    std::set<int> monitors;
    auto r = call({{"op", "list"}});
    if (r.value("ok", false)) {
      for (const auto& p : r["processes"]) {
        if (p["pid"].get<int>() > 0) pids_.insert(p["pid"].get<int>());
        if (p["monitor_pid"].get<int>() > 0) monitors.insert(p["monitor_pid"].get<int>());
      }
    }
    for (int pid : pids_) ::kill(pid, SIGKILL);
    for (int pid : shim::standby_pids(dir_)) shims_.insert(pid);
    if (auto a = shim::read_file(dir_ + "/active.pid")) shims_.insert(std::atoi(a->c_str()));
    for (int pid : shims_) ::kill(pid, SIGKILL);
    wait_for(2000, [&] {
      for (int pid : monitors) {
        if (::kill(pid, 0) == 0) {
          ::waitpid(pid, nullptr, WNOHANG);
          return false;
        }
      }
      return true;
    });
    for (int pid : monitors) ::kill(pid, SIGKILL);
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    shim::remove_node_cgroups(node_);  // children first, by path
    std::string cmd = "rm -rf '" + dir_ + "'";
    if (std::system(cmd.c_str()) != 0) {
    }
  }

 private:
  std::vector<std::string> extra_;
  std::string cpu_, memory_;
  std::string node_, dir_;
  std::set<int> shims_, pids_;
  bool cleaned_ = false;
};

}  // namespace rackos::testing

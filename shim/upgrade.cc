// The shim upgrade procedure (see upgrade.h).
#include "shim/upgrade.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "shim/cgroup_files.h"
#include "shim/node_client.h"
#include "shim/supervisor.h"

extern char** environ;

namespace rackos::shim {

using nlohmann::json;

Result<int> spawn_detached(const std::vector<std::string>& argv, const std::string& log_path) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
  std::vector<std::string> copy = argv;
  std::vector<char*> cargv;
  for (auto& a : copy) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, cargv[0], &fa, &attr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return Error{"cannot start " + argv[0] + ": " + std::strerror(rc)};
  return static_cast<int>(pid);
}

// Running, not a zombie waiting for its parent to reap it.
bool process_alive(int pid) {
  if (::kill(pid, 0) != 0) return false;
  auto stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return false;
  size_t close = stat->rfind(')');
  return close == std::string::npos || close + 2 >= stat->size() || (*stat)[close + 2] != 'Z';
}

std::vector<int> standby_pids(const std::string& state_dir) {
  std::vector<int> out;
  if (DIR* d = ::opendir((state_dir + "/standby").c_str())) {
    while (dirent* e = ::readdir(d)) {
      int pid = std::atoi(e->d_name);
      if (pid > 0 && process_alive(pid)) out.push_back(pid);
    }
    ::closedir(d);
  }
  return out;
}

namespace {

bool wait_until(int64_t timeout_ms, const auto& pred) {
  int64_t end = monotonic_ms() + timeout_ms;
  while (monotonic_ms() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return pred();
}

Result<std::map<std::string, int>> running_pids(NodeClient& c) {
  auto r = c.call_ok({{"op", "list"}});
  if (!r) return r.error();
  std::map<std::string, int> out;
  for (const auto& p : (*r)["processes"]) {
    if (p["state"] == "running") out[p["id"].get<std::string>()] = p["pid"].get<int>();
  }
  return out;
}

Result<int> start_standby(const std::string& state_dir, const std::vector<std::string>& argv, int64_t timeout_ms) {
  auto pid = spawn_detached(argv, state_dir + "/shim.log");
  if (!pid) return pid;
  int p = *pid;
  if (!wait_until(timeout_ms, [&] {
        auto s = standby_pids(state_dir);
        return std::find(s.begin(), s.end(), p) != s.end();
      })) {
    ::kill(p, SIGTERM);
    return Error{"the new shim (pid " + std::to_string(p) + ") did not come up as standby; see " + state_dir + "/shim.log"};
  }
  return p;
}

}  // namespace

Result<UpgradeReport> upgrade_shims(const std::string& state_dir, const std::string& new_binary, int64_t timeout_ms) {
  UpgradeReport rep;
  auto args_text = read_file(state_dir + "/shim.args");
  if (!args_text) return Error{"no active shim recorded in " + state_dir + " (" + args_text.error().message + ")"};
  std::vector<std::string> argv;
  try {
    argv = json::parse(*args_text).get<std::vector<std::string>>();
  } catch (const std::exception& e) {
    return Error{state_dir + "/shim.args: " + e.what()};
  }
  if (argv.empty()) return Error{state_dir + "/shim.args is empty"};
  if (::access(new_binary.c_str(), X_OK) != 0) return Error{"the new binary " + new_binary + " is not executable"};
  argv[0] = new_binary;

  NodeClient client(state_dir + "/shim.sock");
  auto status = client.call_ok({{"op", "status"}});
  if (!status) return status.error();
  rep.old_active_pid = (*status)["pid"].get<int>();
  auto before = running_pids(client);
  if (!before) return before.error();
  rep.workloads = before->size();

  std::vector<int> old_standbys = standby_pids(state_dir);
  auto fresh = start_standby(state_dir, argv, timeout_ms);
  if (!fresh) return fresh.error();
  for (int pid : old_standbys) ::kill(pid, SIGTERM);
  wait_until(timeout_ms, [&] {
    for (int pid : old_standbys) {
      if (process_alive(pid)) return false;
    }
    return true;
  });

  const int64_t t0 = monotonic_ms();
  if (auto r = client.call_ok({{"op", "handover"}}); !r) return r.error();
  bool took_over = wait_until(timeout_ms, [&] {
    NodeClient c(state_dir + "/shim.sock", 200);
    auto s = c.call({{"op", "status"}});
    return s && s->value("pid", 0) == *fresh;
  });
  rep.handover_ms = monotonic_ms() - t0;
  if (!took_over) return Error{"the new shim (pid " + std::to_string(*fresh) + ") did not take over; see " + state_dir + "/shim.log"};
  rep.new_active_pid = *fresh;

  NodeClient after_client(state_dir + "/shim.sock");
  auto after = running_pids(after_client);
  if (!after) return after.error();
  for (const auto& [id, pid] : *before) {
    auto it = after->find(id);
    if (it == after->end() || it->second != pid) ++rep.workloads_restarted;
  }
  auto second = start_standby(state_dir, argv, timeout_ms);
  if (!second) return second.error();
  rep.new_standby_pid = *second;
  return rep;
}

}  // namespace rackos::shim

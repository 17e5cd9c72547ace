// The shim's pool of monitors started ahead of need (see monitor_pool.h).
#include "shim/monitor_pool.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

#include "shim/cgroup_files.h"

extern char** environ;

namespace rackos::shim {

MonitorPool::MonitorPool(std::string monitor_path, Cgroups* cgroups, std::function<void(std::string)> warn)
    : monitor_path_(std::move(monitor_path)), cgroups_(cgroups), warn_(std::move(warn)) {}

MonitorPool::~MonitorPool() {
  for (Monitor& sp : spares_) drop(sp);
  if (cgroups_ != nullptr) {
    for (const auto& [cg, limits] : recycled_) (void)cgroups_->remove(cg);  // best effort; a new shim removes stale slots
  }
}

void MonitorPool::disable_cgroups() {
  cgroups_ = nullptr;
  node_cg_.reset();
}

std::string MonitorPool::next_slot_name() { return ".slot-" + std::to_string(::getpid()) + "-" + std::to_string(++slot_seq_); }

void MonitorPool::warn(const std::string& msg) {
  if (warn_) warn_(msg);
}

void MonitorPool::kill_all() {
  for (Monitor& sp : spares_) {
    if (sp.pid > 0) ::kill(sp.pid, SIGKILL);
  }
}

Result<Monitor> MonitorPool::spawn(const std::vector<std::string>& args) {
  int out[2], in[2] = {-1, -1};
  const bool spare = args.size() >= 2 && (args[1] == "--spare" || args[1] == "--slot");  // waits for its dir on stdin
  if (::pipe2(out, O_CLOEXEC) != 0) return Error{std::string("pipe: ") + std::strerror(errno)};
  if (spare && ::pipe2(in, O_CLOEXEC) != 0) {
    ::close(out[0]);
    ::close(out[1]);
    return Error{std::string("pipe: ") + std::strerror(errno)};
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
  if (spare) posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSID);
  std::vector<std::string> copy = args;
  std::vector<char*> argv;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, argv[0], &fa, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  ::close(out[1]);
  if (spare) ::close(in[0]);
  if (rc != 0) {
    ::close(out[0]);
    if (spare) ::close(in[1]);
    return Error{"cannot start the monitor " + args[0] + ": " + std::strerror(rc)};
  }
  return Monitor{pid, spare ? in[1] : -1, out[0]};
}

// Keeps a few spares (warm slots where cgroups allow) ready; spawns at most
// one per call so the loop never stalls on it.
void MonitorPool::ensure() {
  if (spares_.size() >= target_) return;
  if (cgroups_ != nullptr && node_cg_ && slots_ok_) {
    Result<CgroupPath> cg = Error{""};
    std::optional<CgroupLimits> held;
    if (!recycled_.empty()) {
      cg = recycled_.back().first;
      held = recycled_.back().second;
      recycled_.pop_back();
    } else {
      cg = cgroups_->create_child(*node_cg_, next_slot_name());
    }
    if (cg) {
      std::vector<std::string> args = {monitor_path_, "--slot"};
      for (const auto& f : cgroups_->procs_files(*cg)) args.push_back(f);
      if (auto sp = spawn(args)) {
        Monitor slot = *sp;
        slot.cgroup = *cg;
        slot.limits = held;
        spares_.push_back(slot);
        return;
      }
      (void)cgroups_->remove(*cg);  // best effort, as above
    }
    slots_ok_ = false;
  }
  if (auto sp = spawn({monitor_path_, "--spare"})) {
    Monitor plain = *sp;
    plain.ready = true;  // a plain spare needs no handshake
    spares_.push_back(plain);
  }
}

// The first spare that is ready, taken out of the pool; none: pid 0.
Monitor MonitorPool::take() {
  for (size_t i = 0; i < spares_.size(); ++i) {
    if (!slot_ready(spares_[i])) continue;
    Monitor s = spares_[i];
    spares_.erase(spares_.begin() + static_cast<std::ptrdiff_t>(i));
    return s;
  }
  spares_.erase(std::remove_if(spares_.begin(), spares_.end(), [](const Monitor& x) { return x.pid <= 0; }), spares_.end());
  return Monitor{};
}

// A slot is ready once its monitor has said "ready" (the child sits in the
// cgroup). Never waits: a slot not ready yet is left for a later start.
bool MonitorPool::slot_ready(Monitor& slot) {
  if (slot.pid <= 0) return false;
  if (slot.ready) return true;
  pollfd pfd{slot.from_fd, POLLIN, 0};
  if (::poll(&pfd, 1, 0) <= 0) return false;
  std::string line;
  char c;
  while (line.size() < 64 && ::read(slot.from_fd, &c, 1) == 1 && c != '\n') line.push_back(c);
  if (line == "ready") {
    slot.ready = true;
    return true;
  }
  // It failed to join; let it go and stop using slots.
  slots_ok_ = false;
  warn("warm slots off: " + (line.empty() ? std::string("the slot monitor exited") : line));
  drop(slot);
  return false;
}

void MonitorPool::drop(Monitor& spare) {
  if (spare.pid <= 0) return;
  ::close(spare.to_fd);  // EOF: the monitor lets its child go and exits
  ::close(spare.from_fd);
  if (spare.cgroup && cgroups_ != nullptr) {
    for (int i = 0; i < 100 && !cgroups_->remove(*spare.cgroup); ++i) ::usleep(1000);
  }
  spare = Monitor{};
}

bool MonitorPool::recycle(const CgroupPath& cg, const std::optional<CgroupLimits>& applied) {
  if (!slots_ok_ || !applied || recycled_.size() >= kMaxRecycled) return false;
  auto procs = read_file(cgroups_->procs_files(cg)[0]);
  if (!procs || procs->find_first_not_of(" \n") != std::string::npos) return false;
  auto stats = cgroups_->read_stats(cg);
  if (!stats || stats->memory_bytes > (4 << 20)) return false;  // its page cache would count against the next
  recycled_.push_back({cg, *applied});  // name and limits stay; the next start writes only what differs
  return true;
}

// Slots left by a shim that died: their monitors saw EOF and left; remove
// the empty cgroups (killing anything still inside first).
void MonitorPool::remove_stale_slots(const std::set<std::string>& in_use) {
  if (cgroups_ == nullptr || !node_cg_) return;
  const std::string& base = node_cg_->dirs.at(0);
  DIR* d = ::opendir(base.c_str());
  if (d == nullptr) return;
  std::vector<std::string> slots;
  while (dirent* e = ::readdir(d)) {
    if (std::string(e->d_name).rfind(".slot-", 0) == 0 && !in_use.count(e->d_name)) slots.push_back(e->d_name);
  }
  ::closedir(d);
  for (const auto& name : slots) {
    CgroupPath cg;
    for (const auto& dir : node_cg_->dirs) cg.dirs.push_back(dir + "/" + name);
    if (auto text = read_file(cgroups_->procs_files(cg)[0])) {
      std::istringstream in(*text);
      int pid;
      while (in >> pid) ::kill(pid, SIGKILL);
    }
    for (int i = 0; i < 100 && !cgroups_->remove(cg); ++i) ::usleep(1000);
  }
}

}  // namespace rackos::shim

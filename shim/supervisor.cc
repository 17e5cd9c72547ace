// Process supervision through per-process monitors (see supervisor.h).
#include "shim/supervisor.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <sstream>

#include "core/quantity.h"
#include "shim/cgroup_files.h"


namespace rackos::shim {

int64_t monotonic_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string_view to_string(ProcState s) {
  switch (s) {
    case ProcState::running: return "running";
    case ProcState::stopping: return "stopping";
    case ProcState::exited: return "exited";
  }
  return "?";
}

namespace {

// A user's uid and primary gid from the node's passwd database.
std::optional<std::pair<uint32_t, uint32_t>> lookup_user(const std::string& name) {
  passwd pw{};
  passwd* found = nullptr;
  std::vector<char> buf(16384);
  if (::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) return std::nullopt;
  return std::make_pair(static_cast<uint32_t>(pw.pw_uid), static_cast<uint32_t>(pw.pw_gid));
}

constexpr int64_t kStartTimeoutMs = 5000;

bool valid_id(const std::string& id) {
  if (id.empty() || id.size() > 128 || id[0] == '.') return false;  // dot names are the shim's (warm slots)
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
              c == '.';
    if (!ok) return false;
  }
  return true;
}

int pidfd_open(int pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }
int pidfd_signal(int pidfd, int sig) { return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0)); }

bool file_exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

// Bytes of the files in a process's dir (its logs, rotated ones included).
int64_t dir_log_bytes(const std::string& dir) {
  int64_t total = 0;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      struct stat st {};
      if (e->d_name[0] != '.' && ::stat((dir + "/" + e->d_name).c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
        total += st.st_blocks * 512;
      }
    }
    ::closedir(d);
  }
  return total;
}

void remove_tree(const std::string& dir) {
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      ::unlink((dir + "/" + name).c_str());
    }
    ::closedir(d);
  }
  ::rmdir(dir.c_str());
}

// Limits before the allocator's first run: weights by min, caps at burst.
CgroupLimits initial_limits(const ProcessSpec& s) {
  CgroupLimits l;
  l.cpu_shares = uncontended_cpu_shares(s.envelope.cpu_millis.min, s.priority);
  l.cpu_quota_millis = s.envelope.cpu_millis.burst;
  l.cpu_burst_millis = s.envelope.cpu_millis.burst - s.envelope.cpu_millis.max;
  l.memory_low_bytes = s.envelope.memory_bytes.min;
  l.memory_high_bytes = s.envelope.memory_bytes.burst;
  l.memory_max_bytes = s.envelope.memory_bytes.burst;
  return l;
}

}  // namespace

Supervisor::Supervisor(SupervisorConfig cfg, Cgroups* cgroups)
    : cfg_(std::move(cfg)), cgroups_(cgroups), pool_(cfg_.monitor_path, cgroups, [this](std::string msg) {
        emit(NodeEventKind::warning, "", std::move(msg));
      }) {}

Supervisor::~Supervisor() {
  for (auto& [id, p] : procs_) {
    if (p.pidfd >= 0) ::close(p.pidfd);
  }
}

Result<bool> Supervisor::init() {
  if (auto r = make_dir(cfg_.state_dir + "/procs"); !r) return r;
  if (cgroups_ != nullptr) {
    auto cg = cgroups_->create_node(cfg_.node, cfg_.cpu_millis, cfg_.memory_bytes);
    if (!cg) return cg.error();
    node_cg_ = *cg;
    pool_.set_node_cgroup(node_cg_);
  }
  return true;
}

void Supervisor::emit(NodeEventKind kind, std::string id, std::string message) {
  events_.push_back({next_seq_++, wall_ms(), std::move(kind), std::move(id), std::move(message)});
  while (events_.size() > 10'000) events_.pop_front();
}

std::vector<std::pair<int, std::string>> Supervisor::take_new_pidfds() { return std::exchange(new_pidfds_, {}); }
std::vector<int> Supervisor::take_closed_pidfds() { return std::exchange(closed_pidfds_, {}); }

Result<const ManagedProcess*> Supervisor::start(const StartRequest& req, int64_t now_ms, bool wait) {
  const ProcessSpec& spec = req.spec;
  if (!valid_id(spec.id)) return Error{"process id \"" + spec.id + "\" is not valid (1-128 of A-Z a-z 0-9 - _ ., not starting with .)"};
  if (req.argv.empty() || req.argv[0].empty()) return Error{"process " + spec.id + ": command is empty"};
  if (auto it = procs_.find(spec.id); it != procs_.end()) {
    if (it->second.state != ProcState::exited) return Error{"process " + spec.id + " is already running (pid " + std::to_string(it->second.pid.pid) + ")"};
    (void)forget(spec.id);  // exited: cannot fail
  }
  const Range& c = spec.envelope.cpu_millis;
  const Range& m = spec.envelope.memory_bytes;
  if (!(0 <= c.min && c.min <= c.max && c.max <= c.burst && c.max > 0)) {
    return Error{"process " + spec.id + ": cpu envelope " + format_cpu_millis(c.min) + ":" + format_cpu_millis(c.max) + ":" +
                 format_cpu_millis(c.burst) + " breaks 0 ≤ min ≤ max ≤ burst, max > 0"};
  }
  if (!(0 <= m.min && m.min <= m.max && m.max <= m.burst && m.max > 0)) {
    return Error{"process " + spec.id + ": memory envelope " + format_memory_bytes(m.min) + ":" + format_memory_bytes(m.max) +
                 ":" + format_memory_bytes(m.burst) + " breaks 0 ≤ min ≤ max ≤ burst, max > 0"};
  }

  ManagedProcess p;
  p.spec = spec;
  p.dir = cfg_.state_dir + "/procs/" + spec.id;
  remove_tree(p.dir);
  if (auto r = make_dir(p.dir); !r) return r.error();
  LaunchSpec launch;
  launch.argv = req.argv;
  launch.env = req.env;
  // The controller names the process itself (web-3, not the launch web-3.2); a
  // process started through the local API gets its id.
  auto set_default = [&](const char* key, const std::string& value) {
    for (const auto& [k, v] : launch.env) {
      if (k == key) return;
    }
    launch.env.emplace_back(key, value);
  };
  set_default("RACKOS_PROCESS", spec.id);
  set_default("RACKOS_SERVICE", spec.service);
  set_default("RACKOS_NODE", cfg_.node);
  launch.workdir = req.workdir;
  launch.uid = req.uid;
  launch.gid = req.gid;
  if (!req.user.empty() || (!req.uid && !req.gid && !cfg_.workload_user.empty())) {
    const std::string& name = req.user.empty() ? cfg_.workload_user : req.user;
    auto ids = lookup_user(name);
    if (!ids) {
      return Error{req.user.empty() ? "the node's workload user \"" + name + "\" does not exist on " + cfg_.node +
                                          " (scripts/setup creates it; or start the shim with --workload-user NAME)"
                                    : "user \"" + name + "\" does not exist on node " + cfg_.node};
    }
    launch.uid = ids->first;
    launch.gid = ids->second;
  }
  launch.log_max_bytes = cfg_.log_max_bytes;
  launch.log_keep = cfg_.log_keep;
  if (spec.on_partition == OnPartition::stop) launch.lease_file = cfg_.lease_file;
  // A warm slot brings its cgroup, child already inside.
  Monitor mon = pool_.take();
  bool in_slot = false;
  if (mon.cgroup && cgroups_ != nullptr) {
    // The process keeps the slot's cgroup under the slot's name (recorded in
    // spec.json for re-adoption): no rename on the start path.
    p.cgroup = *mon.cgroup;
    const std::string& dir = mon.cgroup->dirs.at(0);
    p.spec.cgroup = dir.substr(dir.rfind('/') + 1);
    in_slot = true;
  }
  if (cgroups_ != nullptr && node_cg_) {
    if (!in_slot) {
      // Named like a slot (unique, and cleaned up like one if a shim dies):
      // a cgroup may serve several processes in turn.
      const std::string name = pool_.next_slot_name();
      auto cg = cgroups_->create_child(*node_cg_, name);
      if (!cg) return cg.error();
      p.cgroup = *cg;
      p.spec.cgroup = name;
    }
    CgroupLimits l = initial_limits(spec);
    // The memory limit is in place before exec (a process can allocate a lot
    // in a millisecond). CPU shares and quota follow right after the start is
    // answered (flush_limits), in the same loop turn: until then the process
    // runs under its node's cap, for well under a millisecond.
    // What the cgroup holds now: a new one the kernel's defaults, a recycled
    // slot what its last process had (only what differs gets written).
    CgroupLimits held;
    held.cpu_shares = 1024;
    held.memory_max_bytes = -2;  // unknown: forces the write
    if (in_slot && mon.limits) held = *mon.limits;
    CgroupLimits mem_first = held;
    mem_first.memory_max_bytes = l.memory_max_bytes;
    if (auto r = cgroups_->apply(*p.cgroup, mem_first, held); !r) {
      (void)cgroups_->remove(*p.cgroup);  // best effort: a stale slot is removed on the next adoption
      return Error{"process " + spec.id + ": " + r.error().message};
    }
    p.applied = mem_first;
    p.pending_limits = l;
    pending_limits_.push_back(spec.id);
    if (!in_slot) launch.cgroup_procs = cgroups_->procs_files(*p.cgroup);
    launch.oom_file = cgroups_->oom_file(*p.cgroup);
    launch.cgroup_members = cgroups_->procs_files(*p.cgroup).at(0);
    launch.freeze_file = cgroups_->freeze_file(*p.cgroup);
  }
  launch.fence_grace_ms = cfg_.fence_grace_ms;
  auto fail = [&](const std::string& msg) -> Error {
    if (mon.pid > 0) {  // a slot's monitor and child leave on EOF
      ::close(mon.to_fd);
      ::close(mon.from_fd);
      mon = Monitor{};
    }
    if (p.cgroup) {
      for (int i = 0; i < 100 && !cgroups_->remove(*p.cgroup); ++i) ::usleep(1000);
    }
    remove_tree(p.dir);
    return Error{"process " + spec.id + ": " + msg};
  };
  if (auto r = write_atomic(p.dir + "/spec.json", to_json(p.spec)); !r) return fail(r.error().message);
  if (auto r = write_atomic(p.dir + "/launch.json", to_json(launch)); !r) return fail(r.error().message);

  // Hand the state dir to the spare monitor (already exec'd), or spawn one.
  if (mon.pid > 0) {
    std::string msg = p.dir + "\n";
    if (::write(mon.to_fd, msg.data(), msg.size()) != static_cast<ssize_t>(msg.size())) {
      ::close(mon.from_fd);
      mon = Monitor{};
    }
    ::close(mon.to_fd);
  }
  if (mon.pid <= 0) {
    auto fresh = MonitorPool::spawn({cfg_.monitor_path, p.dir});
    if (!fresh) return fail(fresh.error().message);
    mon = *fresh;
  }
  const pid_t mpid = mon.pid;
  const int from = mon.from_fd;
  p.pid.monitor_pid = mpid;
  if (!wait) {
    ::fcntl(from, F_SETFL, ::fcntl(from, F_GETFL) | O_NONBLOCK);
    p.reply_fd = from;
    p.reply_deadline_ms = now_ms + kStartTimeoutMs;
    new_reply_fds_.emplace_back(from, spec.id);
    attention_.insert(spec.id);
    ++generation_;
    auto [it, _] = procs_.insert_or_assign(spec.id, std::move(p));
    return &it->second;
  }
  std::string line;
  int64_t deadline = monotonic_ms() + kStartTimeoutMs;
  while (line.find('\n') == std::string::npos) {
    pollfd pfd{from, POLLIN, 0};
    int left = static_cast<int>(deadline - monotonic_ms());
    if (left <= 0 || ::poll(&pfd, 1, left) <= 0) break;
    char buf[512];
    ssize_t n = ::read(from, buf, sizeof buf);
    if (n <= 0) break;
    line.append(buf, static_cast<size_t>(n));
  }
  ::close(from);
  if (auto r = complete_start(p, line, now_ms); !r) return fail(r.error().message);
  ++generation_;
  auto [it, _] = procs_.insert_or_assign(spec.id, std::move(p));
  return &it->second;
}

Result<bool> Supervisor::complete_start(ManagedProcess& p, const std::string& line, int64_t now_ms) {
  if (line.rfind("ok ", 0) != 0) {
    ::waitpid(p.pid.monitor_pid, nullptr, WNOHANG);
    std::string why = line.empty() ? "the monitor did not answer" : line.substr(line.rfind("error ", 0) == 0 ? 6 : 0);
    while (!why.empty() && why.back() == '\n') why.pop_back();
    return Error{why};
  }
  p.pid.pid = std::atoi(line.c_str() + 3);
  p.pid.started_ms = wall_ms();
  p.pidfd = pidfd_open(p.pid.pid);
  if (p.pidfd < 0) {
    p.exit_seen_ms = now_ms;  // already gone: exit.json will tell
    attention_.insert(p.spec.id);
  } else {
    new_pidfds_.emplace_back(p.pidfd, p.spec.id);
  }
  return true;
}

void Supervisor::on_reply(const std::string& id, int64_t now_ms) {
  auto it = procs_.find(id);
  if (it == procs_.end() || it->second.reply_fd < 0) return;
  ManagedProcess& p = it->second;
  bool done = false;
  char buf[512];
  while (true) {
    ssize_t n = ::read(p.reply_fd, buf, sizeof buf);
    if (n > 0) {
      p.reply.append(buf, static_cast<size_t>(n));
      if (p.reply.find('\n') != std::string::npos) {
        done = true;
        break;
      }
      continue;
    }
    if (n == 0 || (errno != EAGAIN && errno != EINTR)) done = true;
    break;
  }
  if (!done && now_ms < p.reply_deadline_ms) return;
  ::close(p.reply_fd);
  closed_reply_fds_.push_back(p.reply_fd);
  p.reply_fd = -1;
  attention_.erase(id);  // complete_start puts it back if it is already gone
  auto r = complete_start(p, p.reply, now_ms);
  p.reply.clear();
  if (!r) {
    // Recorded as an exit that never ran, so every client hears the same story.
    p.exit = ExitRecord{0, 0, false, r.error().message, wall_ms()};
    p.state = ProcState::exited;
    if (p.cgroup && cgroups_ != nullptr && cgroups_->remove(*p.cgroup)) p.cgroup.reset();
    ++generation_;
    emit(NodeEventKind::start_failed, id, r.error().message);
    return;
  }
  emit(NodeEventKind::started, id, "pid " + std::to_string(p.pid.pid));
  if (p.stop_requested && p.pidfd >= 0) kill_group(p, SIGTERM);  // stopped while it was starting
}


bool Supervisor::settle_interrupted_start(const ManagedProcess& p) {
  const std::string lock_path = p.dir + "/monitor.lock";
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  if (::flock(fd, LOCK_EX | LOCK_NB) == 0) {
    // No monitor holds it: none has started this launch, and any that still
    // gets it (a warm slot the dead shim handed it to) will find it cancelled.
    if (auto w = write_atomic(p.dir + "/cancelled", "{}"); !w) {
      // Cannot leave the mark (a full disk): keep the lock instead, for this
      // shim's life — a monitor that was handed the launch then waits on it
      // and never starts it.
      held_locks_.push_back(fd);
      emit(NodeEventKind::warning, p.spec.id, "cannot mark the launch cancelled (" + w.error().message + "); holding its lock instead");
      return false;
    }
    ::close(fd);
    return file_exists(p.dir + "/pid.json") || file_exists(p.dir + "/exit.json");
  }
  // A live monitor holds the launch: it is starting it now. Its pid.json
  // (or exit.json) follows within milliseconds.
  const int64_t until = monotonic_ms() + kStartTimeoutMs;
  while (monotonic_ms() < until) {
    if (file_exists(p.dir + "/pid.json") || file_exists(p.dir + "/exit.json")) {
      ::close(fd);
      return true;
    }
    ::usleep(2000);
  }
  // A monitor that holds a launch and never reports: kill it and its child.
  char buf[32] = {};
  const int mpid = ::pread(fd, buf, sizeof buf - 1, 0) > 0 ? std::atoi(buf) : 0;
  ::close(fd);
  if (mpid > 1) {
    ::kill(-mpid, SIGKILL);  // its session: the monitor and the child it forked
    ::kill(mpid, SIGKILL);
  }
  kill_cgroup_leftovers(p);
  emit(NodeEventKind::warning, p.spec.id, "its monitor held the start for " + std::to_string(kStartTimeoutMs) + " ms without a pid; killed");
  return false;
}

Result<bool> Supervisor::stop(const std::string& id, int64_t grace_ms, int64_t now_ms) {
  auto it = procs_.find(id);
  if (it == procs_.end()) return Error{"no process \"" + id + "\" on node " + cfg_.node};
  ManagedProcess& p = it->second;
  if (p.state == ProcState::exited) return true;
  p.stop_requested = true;
  if (p.state == ProcState::running) {
    p.state = ProcState::stopping;
    p.kill_at_ms = now_ms + std::max<int64_t>(grace_ms, 0);
    if (auto w = write_atomic(p.dir + "/stop.json", "{\"kill_at_wall_ms\":" + std::to_string(wall_ms() + grace_ms) + "}"); !w) {
      emit(NodeEventKind::warning, id, "the stop is not recorded (" + w.error().message + "): a shim restarting now would not carry it on");
    }
    attention_.insert(id);
    // A frozen process cannot end by itself, and must not run again: it is
    // killed where it stands (it runs elsewhere now, or its service is gone).
    if (is_frozen(p)) {
      kill_frozen(freeze_target(p));
      p.kill_at_ms = now_ms;
    } else {
      kill_group(p, grace_ms <= 0 ? SIGKILL : SIGTERM);
    }
  }
  return true;
}

FreezeTarget Supervisor::freeze_target(const ManagedProcess& p) const {
  FreezeTarget t;
  t.pid = p.pid.pid;
  t.marker = p.dir + "/frozen";
  if (p.cgroup && cgroups_ != nullptr) {
    t.freeze_file = cgroups_->freeze_file(*p.cgroup);
    t.members_file = cgroups_->procs_files(*p.cgroup).at(0);
  }
  return t;
}

bool Supervisor::is_frozen(const ManagedProcess& p) const { return p.state != ProcState::exited && marked_frozen(p.dir + "/frozen"); }

size_t Supervisor::set_at_most_one_frozen(bool on) {
  size_t n = 0;
  for (auto& [id, p] : procs_) {
    if (p.state != ProcState::running || p.spec.on_partition != OnPartition::stop || is_frozen(p) == on) continue;
    (void)set_frozen(freeze_target(p), on);
    ++n;
  }
  return n;
}

Result<bool> Supervisor::forget(const std::string& id) {
  auto it = procs_.find(id);
  if (it == procs_.end()) return Error{"no process \"" + id + "\" on node " + cfg_.node};
  if (it->second.state != ProcState::exited) return Error{"process " + id + " is still " + std::string(to_string(it->second.state)) + "; stop it first"};
  exited_log_bytes_ -= it->second.log_bytes;
  remove_tree(it->second.dir);
  procs_.erase(it);
  ++generation_;
  return true;
}

void Supervisor::forget_when_exited(const std::string& id) {
  auto it = procs_.find(id);
  if (it == procs_.end()) return;
  if (it->second.state == ProcState::exited) {
    (void)forget(id);  // exited: cannot fail
    return;
  }
  it->second.forget_on_exit = true;
}

Result<bool> Supervisor::update(const std::string& id, const Envelope& env, PriorityClass prio) {
  auto it = procs_.find(id);
  if (it == procs_.end()) return Error{"no process \"" + id + "\" on node " + cfg_.node};
  ManagedProcess& p = it->second;
  if (p.state == ProcState::exited) return Error{"process " + id + " has exited"};
  p.spec.envelope = env;
  p.spec.priority = prio;
  p.alloc = AllocState{};  // new bucket sizes: start afresh
  ++generation_;
  return write_atomic(p.dir + "/spec.json", to_json(p.spec));
}

void Supervisor::power_off() {
  for (auto& [id, p] : procs_) {
    if (p.state == ProcState::exited) continue;
    kill_group(p, SIGKILL);
    if (p.pid.monitor_pid > 0 && process_start_ticks(p.pid.monitor_pid) != 0) ::kill(p.pid.monitor_pid, SIGKILL);
  }
  pool_.kill_all();
}

void Supervisor::kill_group(const ManagedProcess& p, int sig) {
  // The workload leads its own process group only if it made one; signal the
  // process through its pidfd (safe against pid reuse), and the rest of its
  // cgroup (children it forked) by listing cgroup.procs.
  if (p.pidfd >= 0) pidfd_signal(p.pidfd, sig);
  if (p.cgroup && cgroups_ != nullptr) {
    for (const auto& f : cgroups_->procs_files(*p.cgroup)) {
      auto text = read_file(f);
      if (!text) continue;
      std::istringstream in(*text);
      int pid;
      while (in >> pid) {
        if (pid != p.pid.pid) ::kill(pid, sig);
      }
      break;  // every hierarchy lists the same pids
    }
  }
  if (sig == SIGKILL && p.cgroup && cgroups_ != nullptr) {
    // Frozen without the marker (a monitor froze it and died): every member
    // has its SIGKILL now, which acts once the cgroup is thawed.
    if (const std::string f = cgroups_->freeze_file(*p.cgroup); !f.empty()) (void)write_file(f, freeze_value(f, false));
  }
}

void Supervisor::kill_cgroup_leftovers(const ManagedProcess& p) {
  if (!p.cgroup || cgroups_ == nullptr) return;
  for (int round = 0; round < 3; ++round) {
    auto text = read_file(cgroups_->procs_files(*p.cgroup)[0]);
    if (!text || text->empty()) return;
    std::istringstream in(*text);
    int pid;
    while (in >> pid) ::kill(pid, SIGKILL);
    ::usleep(1000);
  }
}

void Supervisor::finish(ManagedProcess& p, int64_t now_ms) {
  (void)now_ms;
  if (p.pidfd >= 0) {
    closed_pidfds_.push_back(p.pidfd);
    p.pidfd = -1;
  }
  p.state = ProcState::exited;
  ++generation_;
  kill_cgroup_leftovers(p);
  if (p.cgroup && cgroups_ != nullptr) {
    if (pool_.recycle(*p.cgroup, p.applied)) {
      p.cgroup.reset();
    } else if (auto r = cgroups_->remove(*p.cgroup); r) {
      p.cgroup.reset();
    }
  }
  const ExitRecord& e = *p.exit;
  std::string msg;
  if (!e.start_error.empty()) msg = "failed to start: " + e.start_error;
  else if (e.oom_killed) msg = "killed by the memory limit (OOM), signal 9";
  else if (e.signal > 0) msg = "killed by signal " + std::to_string(e.signal);
  else msg = "exit code " + std::to_string(e.exit_code);
  if (e.fenced) msg = "fenced: the node's lease ran out, its monitor killed it (" + msg + ")";
  if (p.stop_requested) msg += " (stop requested)";
  emit(NodeEventKind::exited, p.spec.id, msg);
  p.log_bytes = dir_log_bytes(p.dir);
  exited_log_bytes_ += p.log_bytes;
  if (p.forget_on_exit) forget_next_.push_back(p.spec.id);
  trim_exited();
}

void Supervisor::trim_exited() {
  const bool over_bytes = exited_log_bytes_ > cfg_.retained_log_bytes;
  if (procs_.size() <= cfg_.exited_kept && !over_bytes) return;  // cannot be over: no scan
  size_t exited = 0;
  for (auto& [id, p] : procs_) exited += p.state == ProcState::exited;
  while (exited > 0 && (exited > cfg_.exited_kept || exited_log_bytes_ > cfg_.retained_log_bytes)) {
    auto oldest = procs_.end();
    for (auto it = procs_.begin(); it != procs_.end(); ++it) {
      if (it->second.state != ProcState::exited) continue;
      if (oldest == procs_.end() || it->second.exit->ended_ms < oldest->second.exit->ended_ms) oldest = it;
    }
    exited_log_bytes_ -= oldest->second.log_bytes;
    remove_tree(oldest->second.dir);
    procs_.erase(oldest);
    ++generation_;
    --exited;
  }
}

void Supervisor::flush_limits() {
  for (const auto& id : pending_limits_) {
    auto it = procs_.find(id);
    if (it == procs_.end() || !it->second.pending_limits || !it->second.cgroup || cgroups_ == nullptr) continue;
    ManagedProcess& p = it->second;
    if (auto r = cgroups_->apply(*p.cgroup, *p.pending_limits, p.applied); r) p.applied = *p.pending_limits;
    else p.applied.reset();  // the enforcer writes everything next tick
    p.pending_limits.reset();
  }
  pending_limits_.clear();
}

void Supervisor::reap_children() {
  while (::waitpid(-1, nullptr, WNOHANG) > 0) {
  }  // monitors we started; their exit.json holds the workload's status
}

void Supervisor::pidfd_ready(const std::string& id, int64_t now_ms) {
  auto it = procs_.find(id);
  if (it == procs_.end() || it->second.state == ProcState::exited) return;
  // The loop's readiness may be stale (an fd number closed and reused within
  // one epoll batch): believe only a pidfd that says so now.
  if (it->second.pidfd >= 0) {
    pollfd pfd{it->second.pidfd, POLLIN, 0};
    if (::poll(&pfd, 1, 0) <= 0) return;
  }
  if (it->second.exit_seen_ms < 0) it->second.exit_seen_ms = now_ms;
  attention_.insert(id);
}

void Supervisor::check(int64_t now_ms) {
  for (const auto& id : std::exchange(forget_next_, {})) (void)forget(id);  // gone already: nothing to do
  std::vector<ManagedProcess*> done;
  for (auto ait = attention_.begin(); ait != attention_.end();) {
    auto it = procs_.find(*ait);
    if (it == procs_.end() || it->second.state == ProcState::exited) {
      ait = attention_.erase(ait);
      continue;
    }
    ManagedProcess& p = it->second;
    const std::string& id = it->first;
    ++ait;
    if (p.reply_fd >= 0) {
      if (now_ms >= p.reply_deadline_ms) on_reply(id, now_ms);
      continue;
    }
    if (p.exit_seen_ms >= 0) {
      if (auto text = read_file(p.dir + "/exit.json")) {
        if (auto ex = exit_from_json(*text)) {
          p.exit = *ex;
          done.push_back(&p);
          continue;
        }
      }
      // A monitor that is gone writes nothing more: its exit.json is there
      // now (it wrote it, then left) or never will be — no need to wait. A
      // live monitor is waited for: it writes exit.json once its workload ends.
      bool monitor_alive = p.pid.monitor_pid > 0 && process_start_ticks(p.pid.monitor_pid) != 0;
      if (!monitor_alive) {
        if (auto text = read_file(p.dir + "/exit.json")) {
          if (auto ex = exit_from_json(*text)) {
            p.exit = *ex;
            done.push_back(&p);
            continue;
          }
        }
      }
      if (!monitor_alive) {
        p.exit = ExitRecord{-1, 0, false, "", wall_ms()};
        emit(NodeEventKind::warning, id, "its monitor died before recording the exit status; exit status unknown");
        done.push_back(&p);
      }
      continue;
    }
    if (p.state == ProcState::stopping && now_ms >= p.kill_at_ms) {
      if (is_frozen(p)) kill_frozen(freeze_target(p));
      else kill_group(p, SIGKILL);
      p.kill_at_ms = now_ms + 1000;  // again later if it somehow survives
    }
  }
  for (ManagedProcess* p : done) {
    attention_.erase(p->spec.id);
    finish(*p, now_ms);
  }
}

size_t Supervisor::adopt_all(int64_t now_ms) {
  const std::string root = cfg_.state_dir + "/procs";
  DIR* d = ::opendir(root.c_str());
  if (d == nullptr) return 0;
  std::vector<std::string> ids;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != ".." && valid_id(name)) ids.push_back(name);
  }
  ::closedir(d);
  size_t running = 0;
  for (const auto& id : ids) {
    if (procs_.count(id)) continue;
    ManagedProcess p;
    p.dir = root + "/" + id;
    auto spec_text = read_file(p.dir + "/spec.json");
    auto spec = spec_text ? process_spec_from_json(*spec_text) : Result<ProcessSpec>(spec_text.error());
    if (!spec) {
      emit(NodeEventKind::warning, id, "cannot adopt: " + spec.error().message + "; removing its state");
      remove_tree(p.dir);
      continue;
    }
    p.spec = *spec;
    p.adopted = true;
    if (cgroups_ != nullptr && node_cg_) {
      const std::string name = p.spec.cgroup.empty() ? id : p.spec.cgroup;
      if (auto cg = cgroups_->create_child(*node_cg_, name)) p.cgroup = *cg;  // exists already: same path
    }
    if (auto ex_text = read_file(p.dir + "/exit.json")) {
      if (auto ex = exit_from_json(*ex_text)) {
        p.exit = *ex;
        if (auto pt = read_file(p.dir + "/pid.json")) {
          if (auto pr = pid_from_json(*pt)) p.pid = *pr;
        }
        p.state = ProcState::exited;
        p.log_bytes = dir_log_bytes(p.dir);
        exited_log_bytes_ += p.log_bytes;
        auto [it, _] = procs_.emplace(id, std::move(p));
        kill_cgroup_leftovers(it->second);
        if (it->second.cgroup && cgroups_ != nullptr && cgroups_->remove(*it->second.cgroup)) it->second.cgroup.reset();
        continue;
      }
    }
    if (!file_exists(p.dir + "/pid.json") && settle_interrupted_start(p)) {
      if (auto ex_text = read_file(p.dir + "/exit.json")) {
        if (auto ex = exit_from_json(*ex_text)) {  // it could not start after all
          p.exit = *ex;
          p.state = ProcState::exited;
          procs_.emplace(id, std::move(p));
          continue;
        }
      }
    }
    auto pid_text = read_file(p.dir + "/pid.json");
    auto pr = pid_text ? pid_from_json(*pid_text) : Result<PidRecord>(pid_text.error());
    if (!pr) {
      // The old shim died mid-start and no monitor ran it (settled above: none will).
      p.exit = ExitRecord{-1, 0, false, "start interrupted by a shim restart; it never ran", wall_ms()};
      p.state = ProcState::exited;
      procs_.emplace(id, std::move(p));
      continue;
    }
    p.pid = *pr;
    if (auto st = read_file(p.dir + "/stop.json")) {
      p.state = ProcState::stopping;
      p.stop_requested = true;
      p.kill_at_ms = now_ms + 100;
      attention_.insert(id);
    }
    if (process_start_ticks(p.pid.pid) == p.pid.start_ticks && p.pid.start_ticks != 0) {
      p.pidfd = pidfd_open(p.pid.pid);
    }
    if (p.pidfd >= 0) {
      new_pidfds_.emplace_back(p.pidfd, id);
      ++running;
    } else {
      p.exit_seen_ms = now_ms;  // gone while no shim watched: exit.json will tell
      attention_.insert(id);
    }
    procs_.emplace(id, std::move(p));
    ++generation_;
  }
  // Slots a dead shim left (its spares, its recycled cgroups) — but not the
  // ones that now hold an adopted process.
  std::set<std::string> in_use;
  for (const auto& [pid, proc] : procs_) {
    if (proc.cgroup) in_use.insert(proc.cgroup->dirs.at(0).substr(proc.cgroup->dirs.at(0).rfind('/') + 1));
  }
  pool_.remove_stale_slots(in_use);
  trim_exited();
  return running;
}

}  // namespace rackos::shim

// rackos-monitor: one small process per workload, like containerd-shim or
// conmon. It starts the workload in its cgroup, holds it as its parent, copies
// its stdout/stderr into size-rotated log files, and writes how it ended to
// exit.json. It runs in its own session, so the shim can crash, restart or be
// replaced by a new binary without touching the workload, and its exit status
// is never lost. Usage: rackos-monitor STATE_DIR   (reads STATE_DIR/launch.json)
// Reports "ok PID\n" or "error TEXT\n" on stdout once, then closes it.
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <poll.h>
#include <sys/file.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "shim/cgroup_files.h"
#include "shim/launch_spec.h"
#include "shim/freeze.h"
#include "shim/node_lease.h"

using namespace rackos::shim;

namespace {

// A log file that rotates to .1 .. .keep when it passes max_bytes.
class RotatingLog {
 public:
  RotatingLog(std::string path, int64_t max_bytes, int keep) : path_(std::move(path)), max_(max_bytes), keep_(keep) {
    open_file();
  }
  ~RotatingLog() {
    if (fd_ >= 0) ::close(fd_);
  }
  // Writes in pieces that fit the current file, rotating whenever it is full,
  // so no file ever exceeds max_bytes however large a chunk arrives.
  void write_all(const char* data, size_t n) {
    while (n > 0 && fd_ >= 0) {
      if (size_ >= max_) rotate();
      if (fd_ < 0) return;
      size_t room = static_cast<size_t>(max_ - size_);
      ssize_t w = ::write(fd_, data, std::min(n, room));
      if (w < 0) {
        if (errno == EINTR) continue;
        return;  // disk full or similar: drop, never block the workload
      }
      data += w;
      n -= static_cast<size_t>(w);
      size_ += w;
    }
  }

 private:
  void open_file() {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    struct stat st {};
    size_ = (fd_ >= 0 && ::fstat(fd_, &st) == 0) ? st.st_size : 0;
  }
  void rotate() {
    ::close(fd_);
    for (int i = keep_; i >= 1; --i) {
      std::string from = i == 1 ? path_ : path_ + "." + std::to_string(i - 1);
      std::string to = path_ + "." + std::to_string(i);
      ::rename(from.c_str(), to.c_str());
    }
    if (keep_ < 1) ::unlink(path_.c_str());
    open_file();
  }
  std::string path_;
  int64_t max_;
  int keep_;
  int fd_ = -1;
  int64_t size_ = 0;
};

void report(const std::string& line) {
  std::string l = line + "\n";
  ssize_t n = ::write(STDOUT_FILENO, l.data(), l.size());
  (void)n;
  int devnull = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  ::dup2(devnull, STDOUT_FILENO);  // the shim may be gone later: never write to its pipe again
  ::close(devnull);
}

int64_t oom_count(const std::string& file) {
  if (file.empty()) return 0;
  auto m = read_keyed(file);
  return m ? value_of(*m, "oom_kill") : 0;
}

// The workload is started with clone(CLONE_VM | CLONE_VFORK): no page tables
// are copied and the monitor resumes once the child has exec'd (or failed),
// which is what makes a start cheap. The child shares our memory, so it makes
// only raw syscalls and reports a failure through these fields.
struct ChildArgs {
  const LaunchSpec* spec;
  char* const* argv;
  char* const* envp;
  int out, err;
  volatile int stage = 0;   // 0: exec'd; else the step that failed
  volatile int err_no = 0;
};

int child_main(void* raw) {
  auto* a = static_cast<ChildArgs*>(raw);
  const LaunchSpec& s = *a->spec;
  auto fail = [a](int stage) {
    a->err_no = errno;
    a->stage = stage;
    ::_exit(127);
  };
  char pid_text[24];
  int len = 0;
  {
    pid_t pid = static_cast<pid_t>(::syscall(SYS_getpid));
    char rev[24];
    int r = 0;
    do {
      rev[r++] = static_cast<char>('0' + pid % 10);
      pid /= 10;
    } while (pid > 0);
    while (r > 0) pid_text[len++] = rev[--r];
  }
  for (const auto& f : s.cgroup_procs) {
    int fd = ::open(f.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0 || ::write(fd, pid_text, static_cast<size_t>(len)) < 0) fail(1);
    ::close(fd);
  }
  // Root's supplementary groups never reach a workload that runs as someone else.
  if ((s.gid || s.uid) && ::setgroups(0, nullptr) != 0) fail(2);
  if (s.gid && ::setgid(*s.gid) != 0) fail(2);
  if (s.uid && ::setuid(*s.uid) != 0) fail(3);
  if (!s.workdir.empty() && ::chdir(s.workdir.c_str()) != 0) fail(4);
  int devnull = ::open("/dev/null", O_RDONLY);
  ::dup2(devnull, STDIN_FILENO);
  ::dup2(a->out, STDOUT_FILENO);
  ::dup2(a->err, STDERR_FILENO);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::signal(SIGPIPE, SIG_DFL);
  ::signal(SIGHUP, SIG_DFL);
  ::execvpe(a->argv[0], a->argv, a->envp);
  fail(5);
  return 127;
}

const char* stage_name(int stage) {
  switch (stage) {
    case 1: return "cannot join its cgroup";
    case 2: return "cannot set group id";
    case 3: return "cannot set user id";
    case 4: return "cannot enter its working directory";
    case 6: return "cannot read its launch.json";
    default: return "cannot execute";
  }
}

// One line naming what failed: the directory for a working directory, the
// program otherwise.
std::string describe_failure(int stage, const LaunchSpec& spec, int err_no) {
  const std::string what = stage == 4 ? spec.workdir : (spec.argv.empty() ? std::string("?") : spec.argv[0]);
  return std::string(stage_name(stage)) + " " + what + ": " + std::strerror(err_no);
}

}  // namespace

// Claims a process's state dir for this monitor: holds an exclusive lock on
// monitor.lock (with its pid inside) for the monitor's whole life. A shim
// adopting the dir after a crash takes the same lock: if it wins, it leaves
// "cancelled" and this monitor, arriving later, starts nothing; if this
// monitor holds it, the shim knows a start is under way and waits for
// pid.json instead of declaring the launch lost. So every launch a dead shim
// handed out ends adopted or never runs. Returns the lock fd, or -1: do not
// start (cancelled, or the dir is gone).
int claim_dir(const std::string& dir) {
  int fd = ::open((dir + "/monitor.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  while (::flock(fd, LOCK_EX) != 0) {
    if (errno != EINTR) {
      ::close(fd);
      return -1;
    }
  }
  if (::access((dir + "/cancelled").c_str(), F_OK) == 0) {
    ::close(fd);
    return -1;
  }
  const std::string pid = std::to_string(::getpid());
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    // the pid is a courtesy for the shim; the lock is what counts
  }
  return fd;  // never closed: released when this monitor exits
}

// A spare monitor is started ahead of need and waits for its state dir on
// stdin, so starting a workload does not pay for exec'ing the monitor.
std::string read_dir_from_stdin() {
  std::string line;
  char c;
  while (::read(STDIN_FILENO, &c, 1) == 1) {
    if (c == '\n') return line;
    line.push_back(c);
    if (line.size() > 4096) break;
  }
  return {};  // the shim went away before using this spare
}

// Runs the workload's life from exec to exit: pid.json, the "ok" report, the
// logs, and exit.json. `child` has exec'd; `out_r`/`err_r` are its output.
void write_pid(const std::string& dir, pid_t child) {
  PidRecord pr{child, ::getpid(), process_start_ticks(child), wall_ms()};
  if (auto w = write_atomic(dir + "/pid.json", to_json(pr)); !w) {
    std::fprintf(stderr, "%s\n", w.error().message.c_str());
  }
}

int supervise(const std::string& dir, const LaunchSpec& spec, pid_t child, int out_r, int err_r, bool pid_written) {
  if (!pid_written) write_pid(dir, child);
  report("ok " + std::to_string(child));
  // Off the start path: the OOM count the workload's end is compared with.
  // Its cgroup is fresh, so a kill before this line (within microseconds of
  // exec) is the only one this could miss.
  const int64_t oom_before = oom_count(spec.oom_file);

  RotatingLog out_log(dir + "/stdout.log", spec.log_max_bytes, spec.log_keep);
  RotatingLog err_log(dir + "/stderr.log", spec.log_max_bytes, spec.log_keep);
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, child, 0));
  ::fcntl(out_r, F_SETFL, O_NONBLOCK);
  ::fcntl(err_r, F_SETFL, O_NONBLOCK);
  static char buf[65536];
  bool out_open = true, err_open = true;
  int status = 0;
  bool exited = false;
  auto drain = [&](int fd, RotatingLog& log, bool& open) {
    while (open) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n > 0) {
        log.write_all(buf, static_cast<size_t>(n));
        continue;
      }
      if (n == 0) open = false;
      break;  // EAGAIN (or error): come back later
    }
  };
  // At-most-one workloads: the node's lease, enforced here so that a stalled
  // shim cannot leave a copy running past it (see node_lease.h). Past the
  // deadline the workload is frozen; a renewed lease thaws it; a lease not
  // renewed within the grace kills it (freeze.h).
  NodeLease lease;
  bool fencing = !spec.lease_file.empty() && NodeLease::open_reader(spec.lease_file, lease);
  if (!spec.lease_file.empty() && !fencing) std::fprintf(stderr, "cannot read the node lease %s\n", spec.lease_file.c_str());
  const FreezeTarget target{spec.freeze_file, spec.cgroup_members, child, dir + "/frozen"};
  bool fenced = false;
  int64_t frozen_at = -1;  // lease clock; -1: not frozen
  while (!exited) {
    int timeout = pidfd < 0 ? 100 : -1;  // without pidfd: poll waitpid
    if (fencing) {
      const int64_t deadline = lease.deadline();
      const int64_t now = lease_clock_ms();
      int64_t wake_at = -1;
      if (frozen_at < 0 && deadline > 0 && now >= deadline) {
        const std::string how = set_frozen(target, true);
        std::fprintf(stderr, "lease expired %lld ms ago: workload frozen (%s) until the lease is renewed or %lld ms pass\n",
                     static_cast<long long>(now - deadline), how.c_str(), static_cast<long long>(spec.fence_grace_ms));
        frozen_at = now;
      } else if (frozen_at >= 0 && deadline > now) {
        set_frozen(target, false);
        std::fprintf(stderr, "lease renewed: workload thawed after %lld ms\n", static_cast<long long>(now - frozen_at));
        frozen_at = -1;
      } else if (frozen_at >= 0 && now >= frozen_at + spec.fence_grace_ms) {
        std::fprintf(stderr, "lease not renewed for %lld ms: killing the workload (at most one copy)\n",
                     static_cast<long long>(now - frozen_at));
        kill_frozen(target);
        fenced = true;
        fencing = false;
      }
      if (fencing) {
        // Wake at the deadline or the end of the grace, and often enough to see the lease armed or moved.
        if (frozen_at >= 0) wake_at = frozen_at + spec.fence_grace_ms;
        else if (deadline > 0) wake_at = deadline;
        const int64_t wait = wake_at >= 0 ? std::clamp<int64_t>(wake_at - now, 1, frozen_at >= 0 ? 10 : 200) : 200;
        timeout = timeout < 0 ? static_cast<int>(wait) : std::min(timeout, static_cast<int>(wait));
      }
    }
    pollfd fds[3] = {{out_open ? out_r : -1, POLLIN, 0}, {err_open ? err_r : -1, POLLIN, 0}, {pidfd, POLLIN, 0}};
    int n = ::poll(fds, 3, timeout);
    if (n < 0 && errno != EINTR) break;
    if (n <= 0 && pidfd >= 0) continue;
    if (fds[0].revents) drain(out_r, out_log, out_open);
    if (fds[1].revents) drain(err_r, err_log, err_open);
    if (pidfd < 0 || fds[2].revents) {
      pid_t w = ::waitpid(child, &status, pidfd < 0 ? WNOHANG : 0);
      if (w == child) exited = true;
    }
  }
  // What the workload wrote last (daemonized children may keep the pipe open:
  // read what is there, do not wait for EOF).
  drain(out_r, out_log, out_open);
  drain(err_r, err_log, err_open);
  ExitRecord ex;
  ex.ended_ms = wall_ms();
  ex.fenced = fenced;
  if (WIFEXITED(status)) ex.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) {
    ex.signal = WTERMSIG(status);
    ex.exit_code = 128 + ex.signal;
    ex.oom_killed = ex.signal == SIGKILL && oom_count(spec.oom_file) > oom_before;
  }
  if (auto w = write_atomic(dir + "/exit.json", to_json(ex)); !w) {
    std::fprintf(stderr, "%s\n", w.error().message.c_str());
    return 1;
  }
  return 0;
}

// Records a failed start in exit.json and reports it.
int start_failed(const std::string& dir, const std::string& what) {
  ExitRecord ex;
  ex.exit_code = 127;
  ex.start_error = what;
  ex.ended_ms = wall_ms();
  if (auto w = write_atomic(dir + "/exit.json", to_json(ex)); !w) std::fprintf(stderr, "%s\n", w.error().message.c_str());
  report("error " + what);  // the shim hears it either way
  return 0;
}

rackos::Result<LaunchSpec> load_launch(const std::string& dir) {
  auto text = read_file(dir + "/launch.json");
  if (!text) return text.error();
  auto parsed = launch_from_json(*text);
  if (!parsed) return parsed.error();
  if (parsed->argv.empty() || parsed->argv[0].empty()) return rackos::Error{"launch.json: empty argv"};
  return parsed;
}

struct Argv {
  std::vector<std::string> env_text;
  std::vector<char*> argv, envp;
  explicit Argv(LaunchSpec& s) {
    for (const auto& [k, v] : s.env) env_text.push_back(k + "=" + v);
    for (auto& a : s.argv) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env_text) envp.push_back(e.data());
    envp.push_back(nullptr);
  }
};

void redirect_stderr(const std::string& dir) {
  int mlog = ::open((dir + "/monitor.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (mlog >= 0) ::dup2(mlog, STDERR_FILENO);
}

void stdin_to_devnull() {
  int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ::dup2(devnull, STDIN_FILENO);
  ::close(devnull);
}

// Warm slot: the child is forked and moved into the slot's cgroup before any
// start arrives (cgroup v1 migration can take milliseconds); a start then only
// hands over the state dir and lets the child exec, in the slot's cgroup.
// Says "ready" on stdout once the child sits in the cgroup; the shim only
// uses a slot that is ready.
int run_slot(const std::vector<std::string>& join_files) {
  int out[2], err[2], sync[2], go[2], joined[2];
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0 || ::pipe2(sync, O_CLOEXEC) != 0 ||
      ::pipe2(go, O_CLOEXEC) != 0 || ::pipe2(joined, O_CLOEXEC) != 0) {
    return 1;
  }
  pid_t child = ::fork();
  if (child < 0) return 1;
  if (child == 0) {
    ::close(go[1]);
    ::close(out[0]);
    ::close(err[0]);
    ::close(sync[0]);
    auto fail = [&](int stage) {
      int msg[2] = {stage, errno};
      ssize_t n = ::write(sync[1], msg, sizeof msg);
      (void)n;
      ::_exit(127);
    };
    ::close(joined[0]);
    std::string pid_text = std::to_string(::getpid());
    for (const auto& f : join_files) {
      if (auto w = write_file(f, pid_text); !w) fail(1);
    }
    char one = 1;
    if (::write(joined[1], &one, 1) != 1) ::_exit(0);
    ::close(joined[1]);
    std::string dir;
    char c;
    while (::read(go[0], &c, 1) == 1 && c != '\n') dir.push_back(c);
    if (dir.empty()) ::_exit(0);  // the slot was never used
    auto launch = load_launch(dir);
    if (!launch) {
      errno = EINVAL;
      fail(6);
    }
    LaunchSpec spec = std::move(launch).value();
    Argv av(spec);
    if ((spec.gid || spec.uid) && ::setgroups(0, nullptr) != 0) fail(2);
    if (spec.gid && ::setgid(*spec.gid) != 0) fail(2);
    if (spec.uid && ::setuid(*spec.uid) != 0) fail(3);
    if (!spec.workdir.empty() && ::chdir(spec.workdir.c_str()) != 0) fail(4);
    int devnull = ::open("/dev/null", O_RDONLY);
    ::dup2(devnull, STDIN_FILENO);
    ::dup2(out[1], STDOUT_FILENO);
    ::dup2(err[1], STDERR_FILENO);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    ::signal(SIGHUP, SIG_DFL);
    ::execvpe(av.argv[0], av.argv.data(), av.envp.data());
    fail(5);
  }
  ::close(go[0]);
  ::close(out[1]);
  ::close(err[1]);
  ::close(sync[1]);
  ::close(joined[1]);
  char one = 0;
  if (::read(joined[0], &one, 1) != 1) {  // the child could not join: say so, and go
    ::waitpid(child, nullptr, 0);
    report("error cannot join the slot's cgroup");
    return 1;
  }
  ::close(joined[0]);
  const char ready[] = "ready\n";
  if (::write(STDOUT_FILENO, ready, sizeof ready - 1) < 0) return 1;
  const std::string dir = read_dir_from_stdin();
  if (dir.empty() || claim_dir(dir) < 0) {  // the shim is gone, dropped the slot, or cancelled the start
    ::close(go[1]);
    ::waitpid(child, nullptr, 0);
    return 0;
  }
  stdin_to_devnull();
  redirect_stderr(dir);
  // The child's pid is known already (it was forked long ago), so pid.json is
  // written before it may exec: whatever runs is on record. If exec fails,
  // exit.json follows, and a shim reading both trusts exit.json.
  write_pid(dir, child);
  std::string line = dir + "\n";
  ssize_t n = ::write(go[1], line.data(), line.size());
  (void)n;
  ::close(go[1]);
  auto launch = load_launch(dir);
  int msg[2] = {0, 0};
  ssize_t got = ::read(sync[0], msg, sizeof msg);
  ::close(sync[0]);
  if (!launch) {
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
    return start_failed(dir, launch.error().message);
  }
  if (got == static_cast<ssize_t>(sizeof msg)) {
    ::waitpid(child, nullptr, 0);
    return start_failed(dir, describe_failure(msg[0], *launch, msg[1]));
  }
  return supervise(dir, *launch, child, out[0], err[0], true);
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: rackos-monitor STATE_DIR | --spare | --slot CGROUP_PROCS_FILE...\n");
    return 2;
  }
  ::signal(SIGPIPE, SIG_IGN);
  ::signal(SIGHUP, SIG_IGN);
  ::setsid();
  std::string first = argv[1];
  if (first == "--slot") return run_slot(std::vector<std::string>(argv + 2, argv + argc));
  std::string dir = first;
  if (dir == "--spare") {
    dir = read_dir_from_stdin();
    if (dir.empty()) return 0;
  }
  stdin_to_devnull();
  if (claim_dir(dir) < 0) {
    report("error the start was cancelled (the shim that asked for it is gone)");
    return 0;
  }
  redirect_stderr(dir);
  auto parsed = load_launch(dir);
  if (!parsed) {
    report("error " + parsed.error().message);
    return 1;
  }
  LaunchSpec launch = std::move(parsed).value();
  Argv av(launch);
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
    report(std::string("error pipe: ") + std::strerror(errno));
    return 1;
  }
  ChildArgs args{&launch, av.argv.data(), av.envp.data(), out[1], err[1]};
  static char child_stack[256 * 1024];
  pid_t child = ::clone(child_main, child_stack + sizeof child_stack, CLONE_VM | CLONE_VFORK | SIGCHLD, &args);
  if (child < 0) {
    report(std::string("error clone: ") + std::strerror(errno));
    return 1;
  }
  ::close(out[1]);
  ::close(err[1]);
  if (args.stage != 0) {
    ::waitpid(child, nullptr, 0);
    return start_failed(dir, describe_failure(args.stage, launch, args.err_no));
  }
  return supervise(dir, launch, child, out[0], err[0], false);
}

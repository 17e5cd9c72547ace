// etcd members as child processes (see etcd_process.h).
#include "controller/etcd_process.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "controller/etcd_store.h"

namespace rackos::controller {

int free_loopback_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

namespace {

std::string peer_url(const EtcdMember& m) { return "http://127.0.0.1:" + std::to_string(m.peer_port); }
std::string client_url(const EtcdMember& m) { return "http://127.0.0.1:" + std::to_string(m.client_port); }

std::string log_tail(const EtcdCluster& c, const EtcdMember& m) {
  std::ifstream in(c.dir + "/" + m.name + ".log");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > 600 ? s.substr(s.size() - 600) : s;
}

struct SpawnArgs {
  const char* path;
  char** argv;
  int log_fd;
  bool die_with_parent;
  int err_no;  // set by the child when exec failed
};

int spawn_child(void* p) {
  auto* a = static_cast<SpawnArgs*>(p);
  if (a->die_with_parent) ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  ::dup2(a->log_fd, 1);
  ::dup2(a->log_fd, 2);
  ::execv(a->path, a->argv);
  a->err_no = errno;
  ::_exit(127);
}

Result<bool> spawn(EtcdCluster& c, EtcdMember& m, bool fresh) {
  const size_t index = static_cast<size_t>(&m - c.members.data());
  std::vector<std::string> args = etcd_member_argv(c, index, fresh);
  const std::string log = c.dir + "/" + m.name + ".log";
  const std::string& path = c.binary;  // resolved by start_etcd: the child may only exec
  int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return Error{"cannot write " + log + ": " + std::strerror(errno)};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // clone(CLONE_VM | CLONE_VFORK), not fork(): this process runs gRPC
  // threads, and the child here only sets its death signal, redirects and
  // execs (as the shim's monitors start workloads).
  SpawnArgs sa{path.c_str(), argv.data(), fd, c.die_with_parent, 0};
  static char stack[64 * 1024];
  pid_t pid = ::clone(spawn_child, stack + sizeof stack, CLONE_VM | CLONE_VFORK | SIGCHLD, &sa);
  ::close(fd);
  if (pid < 0) return Error{"cannot start etcd: " + std::string(std::strerror(errno)), ErrorCode::unavailable};
  if (sa.err_no != 0) {
    ::waitpid(pid, nullptr, 0);
    return Error{"cannot run " + path + ": " + std::strerror(sa.err_no), ErrorCode::unavailable};
  }
  m.pid = pid;
  std::ofstream(c.dir + "/" + m.name + ".pid") << pid << "\n";
  return true;
}

// Waits until the cluster answers a linearizable read.
Result<bool> wait_ready(EtcdCluster& c) {
  auto parsed = parse_etcd_url(c.url());
  if (!parsed) return parsed.error();
  EtcdOptions opts = *parsed;
  opts.timeout_ms = 1'000;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  std::string last;
  while (std::chrono::steady_clock::now() < until) {
    for (auto& m : c.members) {
      int status = 0;
      if (m.pid > 0 && ::waitpid(m.pid, &status, WNOHANG) == m.pid) {
        m.pid = 0;
        return Error{"etcd member " + m.name + " exited (" +
                         (WIFEXITED(status) && WEXITSTATUS(status) == 127 ? std::string("is " + c.binary + " installed? scripts/setup installs etcd-server")
                                                                          : "status " + std::to_string(status)) +
                         "): " + log_tail(c, m),
                     ErrorCode::unavailable};
      }
    }
    auto store = open_etcd_store(opts);
    if (store && (*store)->load()) return true;
    last = store ? "no answer to a read" : store.error().message;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return Error{"etcd did not answer within 15 s: " + last + "; " + log_tail(c, c.members.front()), ErrorCode::unavailable};
}

// The binary's full path (a name is looked up on PATH), or empty.
std::string resolve_binary(const std::string& binary) {
  if (binary.find('/') != std::string::npos) return ::access(binary.c_str(), X_OK) == 0 ? binary : "";
  const char* env = std::getenv("PATH");
  const std::string dirs = env ? env : "/usr/bin:/bin";
  for (size_t start = 0; start <= dirs.size();) {
    size_t colon = dirs.find(':', start);
    std::string cand = dirs.substr(start, colon == std::string::npos ? std::string::npos : colon - start) + "/" + binary;
    if (::access(cand.c_str(), X_OK) == 0) return cand;
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return "";
}

}  // namespace

std::vector<std::string> etcd_member_argv(const EtcdCluster& c, size_t i, bool fresh) {
  const EtcdMember& m = c.members.at(i);
  std::string initial;
  for (const auto& o : c.members) initial += (initial.empty() ? "" : ",") + o.name + "=" + peer_url(o);
  return {c.binary,
          "--name", m.name,
          "--data-dir", m.data_dir,
          "--listen-client-urls", client_url(m),
          "--advertise-client-urls", client_url(m),
          "--listen-peer-urls", peer_url(m),
          "--initial-advertise-peer-urls", peer_url(m),
          "--initial-cluster", initial,
          "--initial-cluster-token", c.token,
          "--initial-cluster-state", fresh ? "new" : "existing",
          // A controller step is one transaction of many records.
          "--max-txn-ops", "100000",
          "--max-request-bytes", std::to_string(64 << 20),
          "--logger", "zap", "--log-level", "warn"};
}

size_t kill_recorded_etcd(const std::string& dir) {
  size_t killed = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.path().extension() != ".pid") continue;
    std::ifstream in(e.path());
    pid_t pid = 0;
    in >> pid;
    if (pid <= 1) continue;
    std::ifstream cmd("/proc/" + std::to_string(pid) + "/cmdline");
    std::string cmdline((std::istreambuf_iterator<char>(cmd)), std::istreambuf_iterator<char>());
    const std::string data_dir = dir + "/" + e.path().stem().string() + ".etcd";
    if (cmdline.find(data_dir) == std::string::npos) continue;
    if (::kill(pid, SIGKILL) == 0) ++killed;
  }
  return killed;
}

std::string EtcdCluster::url() const {
  std::string u = "etcd://";
  for (size_t i = 0; i < members.size(); ++i) u += (i ? ",127.0.0.1:" : "127.0.0.1:") + std::to_string(members[i].client_port);
  return u;
}

Result<EtcdCluster> start_etcd(const std::string& dir, int members, const std::string& binary, bool die_with_parent) {
  if (members < 1) return Error{"an etcd cluster needs at least one member"};
  EtcdCluster c;
  c.dir = dir;
  c.binary = resolve_binary(binary);
  if (c.binary.empty()) {
    return Error{"etcd is not installed (no " + binary + " on PATH; scripts/setup installs etcd-server)", ErrorCode::unavailable};
  }
  c.die_with_parent = die_with_parent;
  c.token = "rackos-" + std::to_string(::getpid()) + "-" + std::to_string(free_loopback_port());
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Error{"cannot create " + dir + ": " + ec.message()};
  for (int i = 0; i < members; ++i) {
    EtcdMember m;
    m.name = "m" + std::to_string(i);
    m.data_dir = dir + "/" + m.name + ".etcd";
    m.client_port = free_loopback_port();
    m.peer_port = free_loopback_port();
    if (m.client_port == 0 || m.peer_port == 0) return Error{"no free loopback port for etcd", ErrorCode::unavailable};
    c.members.push_back(m);
  }
  for (auto& m : c.members) {
    if (auto r = spawn(c, m, true); !r) {
      stop_etcd(c);
      return r.error();
    }
  }
  if (auto r = wait_ready(c); !r) {
    stop_etcd(c);
    return r.error();
  }
  return c;
}

Result<bool> restart_member(EtcdCluster& c, size_t i) {
  EtcdMember& m = c.members.at(i);
  if (m.pid > 0) return true;
  return spawn(c, m, false);
}

void kill_member(EtcdCluster& c, size_t i) {
  EtcdMember& m = c.members.at(i);
  if (m.pid <= 0) return;
  ::kill(m.pid, SIGKILL);
  ::waitpid(m.pid, nullptr, 0);
  m.pid = 0;
}

void stop_etcd(EtcdCluster& c) {
  for (size_t i = 0; i < c.members.size(); ++i) kill_member(c, i);
  for (const auto& m : c.members) {
    std::error_code ec;
    std::filesystem::remove_all(m.data_dir, ec);
  }
}

}  // namespace rackos::controller

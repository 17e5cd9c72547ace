// The shim daemon's loop: lock, adopt, serve, enforce, fence (see shim_server.h).
#include "shim/shim_server.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <vector>
#include <nlohmann/json.hpp>

#include "core/node_health.h"
#include "rackos_version.h"
#include "shim/cgroup_files.h"
#include "shim/controller_link.h"
#include "shim/fencing.h"
#include "shim/link_handler.h"
#include "shim/node_api.h"
#include "shim/node_lease.h"
#include "shim/upgrade.h"

namespace rackos::shim {
namespace {

using nlohmann::json;

void say(const ShimConfig& cfg, const std::string& msg) {
  std::fprintf(stderr, "rackos shim [%s pid %d]: %s\n", cfg.node.c_str(), ::getpid(), msg.c_str());
  std::fflush(stderr);
}

char g_standby_mark[4096];  // for the standby's SIGTERM handler (async-signal-safe unlink)

struct Client {
  std::string in;
  std::string out;
};

// Holds the node lock; waits as the standby until it is ours.
int acquire_lock(const ShimConfig& cfg) {
  const std::string path = cfg.state_dir + "/shim.lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    say(cfg, "cannot open " + path + ": " + std::strerror(errno));
    return -1;
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) == 0) return fd;
  const std::string standby = cfg.state_dir + "/standby/" + std::to_string(::getpid());
  // The mark lets an upgrade count standbys; without it this standby still takes over.
  if (auto r = make_dir(cfg.state_dir + "/standby"); !r) say(cfg, "standby mark: " + r.error().message);
  if (auto w = write_atomic(standby, std::to_string(::getpid())); !w) say(cfg, "standby mark: " + w.error().message);
  // A standby asked to stop removes its mark first (an upgrade counts them).
  std::snprintf(g_standby_mark, sizeof g_standby_mark, "%s", standby.c_str());
  struct sigaction sa {};
  sa.sa_handler = [](int) {
    ::unlink(g_standby_mark);
    ::_exit(0);
  };
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  say(cfg, "standby: another shim is active; taking over when it stops");
  while (::flock(fd, LOCK_EX) != 0) {
    if (errno != EINTR) {
      say(cfg, std::string("cannot lock ") + path + ": " + std::strerror(errno));
      ::unlink(standby.c_str());
      return -1;
    }
  }
  ::unlink(standby.c_str());
  ::signal(SIGTERM, SIG_DFL);
  ::signal(SIGINT, SIG_DFL);
  return fd;
}

int listen_socket(const ShimConfig& cfg) {
  const std::string path = cfg.state_dir + "/shim.sock";
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    say(cfg, "socket path too long: " + path);
    return -1;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  ::unlink(path.c_str());  // a dead shim's socket; we hold the lock, so it is not live
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 128) != 0) {
    say(cfg, "cannot listen on " + path + ": " + std::strerror(errno));
    ::close(fd);
    return -1;
  }
  return fd;
}

// The active shim, one named step at a time. become_active() takes the node
// (the lock, cgroups, the lease, the cluster identity, adoption); open_loop()
// sets up the fds the loop waits on; run() turns the loop: on_tick (checks,
// fencing, enforcement, heartbeats), on_link (the controller's orders, acks
// first, worked off in slices), on_client (the local API), exits and replies
// of workloads. Workloads never stop because this object does.
class ShimDaemon {
 public:
  explicit ShimDaemon(const ShimConfig& cfg)
      : cfg_(cfg),
        lease_path_(cfg.state_dir + "/lease"),
        identity_path_(cfg.state_dir + "/cluster.json"),
        enforcer_(cfg.enforcer),
        ident_{cfg.node, cfg.insecure ? cfg.token : std::string(), cfg.cpu_millis, cfg.memory_bytes, cfg.labels} {
    health_.node_lease_ms = cfg.node_lease_ms;
  }
  ~ShimDaemon() {
    link_.reset();
    for (auto& [fd, c] : clients_) ::close(fd);
    for (int fd : {listen_fd_, ep_, sig_fd_, timer_fd_}) {
      if (fd >= 0) ::close(fd);
    }
    if (lock_fd_ >= 0) ::close(lock_fd_);  // the standby wakes now
  }

  const std::string& reexec_binary() const { return status_.reexec_binary; }

  int run() {
    if (!become_active() || !open_loop()) return 1;
    connect_controller();
    epoll_event events[64];
    while (running_) {
      int n = ::epoll_wait(ep_, events, 64, link_pending_.empty() ? -1 : 0);
      if (n < 0 && errno != EINTR) break;
      const int64_t now = monotonic_ms();
      bool ticked = false;
      for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        if (fd == timer_fd_) {
          uint64_t expirations;
          while (::read(timer_fd_, &expirations, sizeof expirations) > 0) {
          }
          if (!ticked) on_tick(now);
          ticked = true;
        } else if (fd == sig_fd_) {
          on_signals();
        } else if (link_ && fd == link_->event_fd()) {
          on_link(now);
          sync_fds();
          sup_->flush_limits();
          sup_->ensure_spare();
        } else if (fd == listen_fd_) {
          accept_clients();
        } else if (auto rit = reply_fds_.find(fd); rit != reply_fds_.end()) {
          sup_->on_reply(rit->second, now);
          sync_fds();
        } else if (auto pit = pidfds_.find(fd); pit != pidfds_.end()) {
          sup_->pidfd_ready(pit->second, now);
          sup_->check(now);
          sync_fds();
        } else if (clients_.count(fd)) {
          on_client(fd, events[i].events);
        }
      }
      if (link_ && !link_pending_.empty()) {
        on_link(monotonic_ms());
        sync_fds();
        sup_->flush_limits();
      }
      if (link_) forward_events();
    }
    return 0;
  }

 private:
  // ---- becoming the node's active shim

  bool become_active() {
    if (auto r = make_dir(cfg_.state_dir); !r) {
      say(cfg_, r.error().message);
      return false;
    }
    lock_fd_ = acquire_lock(cfg_);
    if (lock_fd_ < 0) return false;
    // A pidfd per workload and a few open cgroup files each: use the hard limit.
    rlimit nofile{};
    if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
      nofile.rlim_cur = nofile.rlim_max;
      ::setrlimit(RLIMIT_NOFILE, &nofile);
    }
    const int64_t t_active = monotonic_ms();
    if (cfg_.enforce) {
      detected_ = detect_cgroups();
    } else {
      detected_.description = "enforcement off: disabled by --no-enforce; processes run without envelope limits";
    }
    // The node lease the monitors of at-most-one workloads enforce (when
    // there is a controller to grant it).
    if (!cfg_.controller.empty()) {
      if (auto r = NodeLease::open_writer(lease_path_, lease_); !r) {
        say(cfg_, r.error().message + "; at-most-one workloads are fenced by this shim only");
      } else {
        lease_.unarm_if_after(lease_clock_ms() + cfg_.node_lease_ms);
      }
    }
    sup_ = std::make_unique<Supervisor>(SupervisorConfig{.node = cfg_.node,
                                                         .state_dir = cfg_.state_dir,
                                                         .monitor_path = cfg_.monitor_path,
                                                         .cpu_millis = cfg_.cpu_millis,
                                                         .memory_bytes = cfg_.memory_bytes,
                                                         .log_max_bytes = cfg_.log_max_bytes,
                                                         .log_keep = cfg_.log_keep,
                                                         .retained_log_bytes = cfg_.retained_log_bytes,
                                                         .lease_file = lease_.valid() ? lease_path_ : std::string(),
                                                         .fence_grace_ms = cfg_.fence_grace_ms,
                                                         .workload_user = cfg_.workload_user},
                                        detected_.cgroups.get());
    status_.enforcement = detected_.description;
    status_.node_lease_ms = cfg_.node_lease_ms;
    status_.version = RACKOS_VERSION;
    status_.started_wall_ms = wall_ms();
    load_identity();
    if (auto r = sup_->init(); !r) {
      say(cfg_, "cgroups: " + r.error().message + "; running with enforcement off");
      status_.enforcement = "enforcement off: " + r.error().message;
      sup_->disable_enforcement();
      if (auto again = sup_->init(); !again) {
        say(cfg_, again.error().message);
        return false;
      }
    }
    say(cfg_, (status_.enforcement.rfind("enforcement off", 0) == 0 ? "WARNING: " : "enforcement: ") + status_.enforcement);
    const size_t adopted = sup_->adopt_all(monotonic_ms());
    const int64_t takeover_ms = monotonic_ms() - t_active;
    if (adopted > 0 || !sup_->processes().empty()) {
      sup_->emit(NodeEventKind::takeover, "", "shim pid " + std::to_string(::getpid()) + " active; re-adopted " + std::to_string(adopted) +
                                     " running processes in " + std::to_string(takeover_ms) + " ms");
    }
    say(cfg_, "active: " + std::to_string(adopted) + " running processes re-adopted in " + std::to_string(takeover_ms) + " ms");
    for (auto [file, text] : {std::pair{"/active.pid", std::to_string(::getpid())}, std::pair{"/shim.args", json(cfg_.argv).dump()}}) {
      if (auto w = write_atomic(cfg_.state_dir + file, text); !w) say(cfg_, "WARNING: " + w.error().message + " (upgrades need it)");
    }
    return true;
  }

  // The cluster this node joined (kept across shim restarts and upgrades).
  void load_identity() {
    auto text = read_file(identity_path_);
    if (!text) return;
    try {
      auto j = json::parse(*text);
      status_.cluster_id = j.value("cluster_id", "");
      status_.store_revision = j.value("store_revision", uint64_t{0});
    } catch (const std::exception& e) {
      say(cfg_, "WARNING: " + identity_path_ + " is not valid JSON (" + e.what() + "); joining as a new node");
    }
  }

  void save_identity() {
    if (!status_.identity_dirty) return;
    status_.identity_dirty = false;
    const std::string text = json{{"cluster_id", status_.cluster_id}, {"store_revision", status_.store_revision}}.dump();
    if (auto w = write_atomic(identity_path_, text); !w) {
      status_.identity_dirty = true;  // tried again next second
      say(cfg_, "cannot record the cluster identity: " + w.error().message);
    }
  }

  // ---- the loop's fds

  bool open_loop() {
    listen_fd_ = listen_socket(cfg_);
    if (listen_fd_ < 0) return false;
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGCHLD);
    ::sigprocmask(SIG_BLOCK, &sigs, nullptr);
    ::signal(SIGPIPE, SIG_IGN);
    sig_fd_ = ::signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
    timer_fd_ = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    itimerspec its{};
    its.it_interval.tv_sec = cfg_.tick_ms / 1000;
    its.it_interval.tv_nsec = (cfg_.tick_ms % 1000) * 1'000'000;
    its.it_value = its.it_interval;
    ::timerfd_settime(timer_fd_, 0, &its, nullptr);
    ep_ = ::epoll_create1(EPOLL_CLOEXEC);
    watch(listen_fd_, EPOLLIN);
    watch(sig_fd_, EPOLLIN);
    watch(timer_fd_, EPOLLIN);
    sync_fds();
    return true;
  }

  void watch(int fd, uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    ::epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
  }

  // Takes the supervisor's new and closed pidfds and start-reply fds into epoll.
  void sync_fds() {
    for (int fd : sup_->take_closed_reply_fds()) reply_fds_.erase(fd);  // closed by the supervisor: out of epoll too
    for (auto& [fd, id] : sup_->take_new_reply_fds()) {
      reply_fds_[fd] = id;
      watch(fd, EPOLLIN);
    }
    for (int fd : sup_->take_closed_pidfds()) {
      ::epoll_ctl(ep_, EPOLL_CTL_DEL, fd, nullptr);
      pidfds_.erase(fd);
      ::close(fd);
    }
    for (auto& [fd, id] : sup_->take_new_pidfds()) {
      pidfds_[fd] = id;
      watch(fd, EPOLLIN);
    }
  }

  void on_signals() {
    signalfd_siginfo si;
    while (::read(sig_fd_, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
      if (si.ssi_signo == SIGCHLD) sup_->reap_children();
      if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
        say(cfg_, "signal " + std::to_string(si.ssi_signo) + ": exiting; workloads keep running");
        running_ = false;
      }
    }
  }

  // ---- time

  void on_tick(int64_t now) {
    if (now >= next_identity_save_) {  // the revision moves with every commit: written at most once a second
      save_identity();
      next_identity_save_ = now + 1000;
    }
    sup_->flush_limits();
    sup_->check(now);
    if (auto frozen = fence_if_silent(status_, *sup_, now, health_)) {
      say(cfg_, "self-fenced: controller silent; " + std::to_string(*frozen) + " on_partition=stop processes frozen");
    }
    if (size_t killed = kill_if_fence_outlasts_grace(status_, *sup_, now, health_)) {
      say(cfg_, "fenced past the grace: killed " + std::to_string(killed) + " frozen on_partition=stop processes");
    }
    enforcer_.tick(*sup_, now);
    sync_fds();
    if (link_) heartbeat(now);
    sup_->ensure_spare();
  }

  // ---- the controller

  void connect_controller() {
    if (cfg_.controller.empty()) return;
    LinkConfig lc{cfg_.controller, std::max<int64_t>(4 * cfg_.node_lease_ms, 2000), nullptr};
    if (!cfg_.insecure) {
      lc.creds = std::make_shared<NodeCredentials>(NodeCredentialsConfig{
          cfg_.node, cfg_.cert_dir.empty() ? cfg_.state_dir + "/pki" : cfg_.cert_dir, cfg_.token});
    }
    link_ = std::make_unique<ControllerLink>(std::move(lc));
    link_->start();
    watch(link_->event_fd(), EPOLLIN);
  }

  uint64_t last_event_seq() const { return sup_->events().empty() ? uint64_t{0} : sup_->events().back().seq; }

  void forward_events() {
    if (!registered_) return;
    const auto& events = sup_->events();
    auto it = events.end();
    while (it != events.begin() && std::prev(it)->seq > forwarded_seq_) --it;  // only the new ones, from the back
    for (; it != events.end(); ++it) link_->send(event_message(*it, *sup_));
    forwarded_seq_ = last_event_seq();
  }

  void heartbeat(int64_t now) {
    if (!registered_ || now < next_hb_) return;
    ++hb_seq_;
    link_->send(make_heartbeat(*sup_, status_, hb_seq_, now, hb_seq_ % 10 == 1));
    next_hb_ = now + cfg_.heartbeat_ms;
  }

  // Controller messages come in bursts (hundreds of starts after a node
  // died); they are worked off a slice at a time so heartbeats, exits and the
  // local API are never starved: a node busy starting work is not a dead node.
  void on_link(int64_t now) {
    // An acknowledgement renews the lease, which thaws frozen workloads: it
    // must never overtake the Registered of its connection, whose stop list
    // names the frozen copies that now run elsewhere (they are killed, not thawed).
    for (auto& item : link_->take()) {
      if (item.kind == LinkItem::message && item.msg.has_ack() && registrations_pending_ == 0) {
        // Acknowledgements jump the queue: the lease must not wait behind a burst of starts.
        bool unused = false;
        (void)handle_controller_message(item.msg, *sup_, status_, monotonic_ms(), unused);
        lease_.renew(monitor_deadline(status_, cfg_.node_lease_ms));
        continue;
      }
      registrations_pending_ += opens_registration(item);
      link_pending_.push_back(std::move(item));
    }
    size_t queued_starts = 0;
    for (const auto& item : link_pending_) queued_starts += item.kind == LinkItem::message && item.msg.has_start();
    sup_->set_spare_target(queued_starts);
    const int64_t slice_end = monotonic_ms() + 20;
    while (!link_pending_.empty() && monotonic_ms() < slice_end) {
      LinkItem item = std::move(link_pending_.front());
      link_pending_.pop_front();
      registrations_pending_ -= opens_registration(item);
      on_link_item(item, now);
      heartbeat(monotonic_ms());
    }
  }

  void on_link_item(const LinkItem& item, int64_t now) {
    if (item.kind == LinkItem::connected) {
      status_.register_sent_ms = monotonic_ms();
      link_->send(make_register(ident_, *sup_, status_));
      forwarded_seq_ = last_event_seq();
      registered_ = true;
      next_hb_ = now;
      return;
    }
    if (item.kind == LinkItem::disconnected) {
      registered_ = false;
      if (item.why != link_state_) say(cfg_, "controller link: " + item.why + "; reconnecting");
      link_state_ = item.why;
      return;
    }
    if (link_state_ != "connected") {
      say(cfg_, "controller link: connected to " + cfg_.controller);
      link_state_ = "connected";
    }
    bool power_off = false;
    for (auto& reply : handle_controller_message(item.msg, *sup_, status_, monotonic_ms(), power_off)) {
      link_->send(std::move(reply));
    }
    if (power_off) lose_power();
    if (status_.handover_requested && !status_.reexec_binary.empty()) {
      say(cfg_, "upgrade ordered by the controller: handing over to the standby, then re-executing " +
                    status_.reexec_binary + " as the new standby; workloads keep running");
      running_ = false;
      return;
    }
    if (item.msg.has_ack() || item.msg.has_registered()) {
      lease_.renew(monitor_deadline(status_, cfg_.node_lease_ms));  // an ack that waited its turn, or a registration
    }
    if (item.msg.has_start()) {
      sup_->ensure_spare();  // the next starts find warm monitors
      sup_->ensure_spare();
    }
  }

  [[noreturn]] void lose_power() {
    say(cfg_, "power cut injected by the controller: killing every workload, the standbys and this shim");
    // For a supervisor (rackos up): this node lost power; it comes back as after a reboot, not at once.
    (void)write_atomic(cfg_.state_dir + "/powered-off", std::to_string(wall_ms()));  // a courtesy to `up`
    sup_->power_off();
    for (int pid : standby_pids(cfg_.state_dir)) ::kill(pid, SIGKILL);
    ::kill(::getpid(), SIGKILL);
    ::_exit(137);
  }

  // ---- the local API

  void accept_clients() {
    while (true) {
      int c = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (c < 0) break;
      clients_[c] = Client{};
      watch(c, EPOLLIN);
    }
  }

  void on_client(int fd, uint32_t events) {
    Client& c = clients_.at(fd);
    if ((events & EPOLLOUT) && !flush(fd, c)) {
      close_client(fd);
      return;
    }
    if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR))) return;
    char buf[65536];
    bool closed = false;
    while (true) {
      ssize_t r = ::read(fd, buf, sizeof buf);
      if (r > 0) {
        c.in.append(buf, static_cast<size_t>(r));
        if (c.in.size() > (16u << 20)) closed = true;  // a runaway client: bounded
        continue;
      }
      if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) closed = true;
      break;
    }
    size_t nl;
    while ((nl = c.in.find('\n')) != std::string::npos) {
      std::string line = c.in.substr(0, nl);
      c.in.erase(0, nl + 1);
      json resp;
      try {
        resp = handle_request(json::parse(line), *sup_, status_, monotonic_ms());
        lease_.renew(monitor_deadline(status_, cfg_.node_lease_ms));  // a local "ack" moves the monitors' deadline too
      } catch (const std::exception& e) {
        resp = {{"ok", false}, {"error", std::string("request is not JSON: ") + e.what()}};
      }
      c.out += resp.dump() + "\n";
    }
    sync_fds();
    if (!flush(fd, c) || closed) close_client(fd);
    sup_->flush_limits();  // after answering: off the start path
    sup_->ensure_spare();
    if (status_.handover_requested) {
      say(cfg_, "handover requested: exiting so the standby takes over; workloads keep running");
      running_ = false;
    }
  }

  void close_client(int fd) {
    ::epoll_ctl(ep_, EPOLL_CTL_DEL, fd, nullptr);
    ::close(fd);
    clients_.erase(fd);
  }

  // Writes what is pending to a client; waits for EPOLLOUT when it cannot.
  bool flush(int fd, Client& c) {
    epoll_event ev{};
    ev.data.fd = fd;
    while (!c.out.empty()) {
      ssize_t n = ::send(fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
      if (n > 0) {
        c.out.erase(0, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        ev.events = EPOLLIN | EPOLLOUT;
        ::epoll_ctl(ep_, EPOLL_CTL_MOD, fd, &ev);
        return true;
      }
      return false;
    }
    ev.events = EPOLLIN;
    ::epoll_ctl(ep_, EPOLL_CTL_MOD, fd, &ev);
    return true;
  }

  const ShimConfig& cfg_;
  const std::string lease_path_, identity_path_;
  int lock_fd_ = -1;
  DetectedCgroups detected_;
  NodeLease lease_;
  std::unique_ptr<Supervisor> sup_;
  NodeStatus status_;
  Enforcer enforcer_;
  HealthConfig health_;
  bool running_ = true;
  int64_t next_identity_save_ = 0;
  // The loop's fds.
  int ep_ = -1, listen_fd_ = -1, sig_fd_ = -1, timer_fd_ = -1;
  std::map<int, Client> clients_;
  std::map<int, std::string> pidfds_;
  std::map<int, std::string> reply_fds_;  // asynchronous starts: the monitor's answer
  // The controller stream (when there is a controller).
  std::unique_ptr<ControllerLink> link_;
  const NodeIdentity ident_;
  bool registered_ = false;
  uint64_t hb_seq_ = 0;
  uint64_t forwarded_seq_ = 0;
  int64_t next_hb_ = 0;
  std::string link_state_;
  std::deque<LinkItem> link_pending_;
  // Items in link_pending_ that start a registration (a new stream, or its
  // Registered): acks wait behind them (see on_link).
  size_t registrations_pending_ = 0;
  static bool opens_registration(const LinkItem& item) {
    return item.kind == LinkItem::connected || (item.kind == LinkItem::message && item.msg.has_registered());
  }
};

}  // namespace

int run_shim(const ShimConfig& cfg) {
  std::string reexec;
  int code = 0;
  {
    ShimDaemon daemon(cfg);
    code = daemon.run();
    reexec = daemon.reexec_binary();
  }  // the node lock is released here: the standby takes over now
  if (reexec.empty() || cfg.argv.empty()) return code;
  // An upgrade: come back on the new binary, same pid, as the standby. Only
  // stdio crosses the exec (no socket, lock or epoll fd of the old image).
  if (::syscall(SYS_close_range, 3u, ~0u, 0u) != 0) {
    for (int fd = 3; fd < 65536; ++fd) ::close(fd);
  }
  std::vector<char*> args;
  for (const auto& a : cfg.argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::execv(reexec.c_str(), args.data());
  std::fprintf(stderr, "rackos shim [%s]: cannot re-execute %s: %s\n", cfg.node.c_str(), reexec.c_str(), std::strerror(errno));
  return 1;
}

}  // namespace rackos::shim

// The shim daemon's loop: lock, adopt, serve, enforce, fence (see shim_server.h).
#include "shim/shim_server.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
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

}  // namespace

int run_shim(const ShimConfig& cfg) {
  if (auto r = make_dir(cfg.state_dir); !r) {
    say(cfg, r.error().message);
    return 1;
  }
  int lock_fd = acquire_lock(cfg);
  if (lock_fd < 0) return 1;
  // A pidfd per workload and a few open cgroup files each: use the hard limit.
  rlimit nofile{};
  if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &nofile);
  }
  const int64_t t_active = monotonic_ms();

  DetectedCgroups detected;
  if (cfg.enforce) {
    detected = detect_cgroups();
  } else {
    detected.description = "enforcement off: disabled by --no-enforce; processes run without envelope limits";
  }
  // The node lease the monitors of at-most-one workloads enforce (when there
  // is a controller to grant it).
  NodeLease lease;
  const std::string lease_path = cfg.state_dir + "/lease";
  if (!cfg.controller.empty()) {
    if (auto r = NodeLease::open_writer(lease_path, lease); !r) {
      say(cfg, r.error().message + "; at-most-one workloads are fenced by this shim only");
    } else {
      lease.unarm_if_after(lease_clock_ms() + cfg.node_lease_ms);
    }
  }
  Supervisor sup({.node = cfg.node,
                  .state_dir = cfg.state_dir,
                  .monitor_path = cfg.monitor_path,
                  .cpu_millis = cfg.cpu_millis,
                  .memory_bytes = cfg.memory_bytes,
                  .log_max_bytes = cfg.log_max_bytes,
                  .log_keep = cfg.log_keep,
                  .retained_log_bytes = cfg.retained_log_bytes,
                  .lease_file = lease.valid() ? lease_path : std::string()},
                 detected.cgroups.get());
  NodeStatus status;
  status.enforcement = detected.description;
  status.version = RACKOS_VERSION;
  status.started_wall_ms = wall_ms();
  // The cluster this node joined (kept across shim restarts and upgrades).
  const std::string identity_path = cfg.state_dir + "/cluster.json";
  if (auto text = read_file(identity_path)) {
    try {
      auto j = json::parse(*text);
      status.cluster_id = j.value("cluster_id", "");
      status.store_revision = j.value("store_revision", uint64_t{0});
    } catch (const std::exception& e) {
      say(cfg, "WARNING: " + identity_path + " is not valid JSON (" + e.what() + "); joining as a new node");
    }
  }
  auto save_identity = [&] {
    if (!status.identity_dirty) return;
    status.identity_dirty = false;
    if (auto w = write_atomic(identity_path, json{{"cluster_id", status.cluster_id}, {"store_revision", status.store_revision}}.dump());
        !w) {
      status.identity_dirty = true;  // tried again next second
      say(cfg, "cannot record the cluster identity: " + w.error().message);
    }
  };
  if (auto r = sup.init(); !r) {
    say(cfg, "cgroups: " + r.error().message + "; running with enforcement off");
    status.enforcement = "enforcement off: " + r.error().message;
    sup.disable_enforcement();
    if (auto again = sup.init(); !again) {
      say(cfg, again.error().message);
      return 1;
    }
  }
  say(cfg, (status.enforcement.rfind("enforcement off", 0) == 0 ? "WARNING: " : "enforcement: ") + status.enforcement);
  const int64_t now0 = monotonic_ms();
  size_t adopted = sup.adopt_all(now0);
  const int64_t takeover_ms = monotonic_ms() - t_active;
  if (adopted > 0 || !sup.processes().empty()) {
    sup.emit("takeover", "", "shim pid " + std::to_string(::getpid()) + " active; re-adopted " + std::to_string(adopted) +
                                 " running processes in " + std::to_string(takeover_ms) + " ms");
  }
  say(cfg, "active: " + std::to_string(adopted) + " running processes re-adopted in " + std::to_string(takeover_ms) + " ms");
  for (auto [file, text] : {std::pair{"/active.pid", std::to_string(::getpid())}, std::pair{"/shim.args", json(cfg.argv).dump()}}) {
    if (auto w = write_atomic(cfg.state_dir + file, text); !w) say(cfg, "WARNING: " + w.error().message + " (upgrades need it)");
  }

  int listen_fd = listen_socket(cfg);
  if (listen_fd < 0) return 1;
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGCHLD);
  ::sigprocmask(SIG_BLOCK, &sigs, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  int sig_fd = ::signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
  int timer_fd = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  itimerspec its{};
  its.it_interval.tv_sec = cfg.tick_ms / 1000;
  its.it_interval.tv_nsec = (cfg.tick_ms % 1000) * 1'000'000;
  its.it_value = its.it_interval;
  ::timerfd_settime(timer_fd, 0, &its, nullptr);
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  auto watch = [&](int fd, uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  };
  watch(listen_fd, EPOLLIN);
  watch(sig_fd, EPOLLIN);
  watch(timer_fd, EPOLLIN);
  std::map<int, Client> clients;
  std::map<int, std::string> pidfds;
  std::map<int, std::string> reply_fds;  // asynchronous starts: the monitor's answer
  auto sync_pidfds = [&] {
    for (int fd : sup.take_closed_reply_fds()) reply_fds.erase(fd);  // closed by the supervisor: out of epoll too
    for (auto& [fd, id] : sup.take_new_reply_fds()) {
      reply_fds[fd] = id;
      watch(fd, EPOLLIN);
    }
    for (int fd : sup.take_closed_pidfds()) {
      ::epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
      pidfds.erase(fd);
      ::close(fd);
    }
    for (auto& [fd, id] : sup.take_new_pidfds()) {
      pidfds[fd] = id;
      watch(fd, EPOLLIN);
    }
  };
  sync_pidfds();

  // The controller stream (when there is a controller).
  std::unique_ptr<ControllerLink> link;
  const NodeIdentity ident{cfg.node, cfg.token, cfg.cpu_millis, cfg.memory_bytes, cfg.labels};
  bool registered = false;
  uint64_t hb_seq = 0;
  uint64_t forwarded_seq = 0;
  int64_t next_hb = 0;
  std::string link_state;
  if (!cfg.controller.empty()) {
    link = std::make_unique<ControllerLink>(LinkConfig{cfg.controller, std::max<int64_t>(4 * cfg.node_lease_ms, 2000)});
    link->start();
    watch(link->event_fd(), EPOLLIN);
  }
  auto last_event_seq = [&] { return sup.events().empty() ? uint64_t{0} : sup.events().back().seq; };
  auto forward_events = [&] {
    if (!registered) return;
    const auto& events = sup.events();
    auto it = events.end();
    while (it != events.begin() && std::prev(it)->seq > forwarded_seq) --it;  // only the new ones, from the back
    for (; it != events.end(); ++it) link->send(event_message(*it, sup));
    forwarded_seq = last_event_seq();
  };
  // Controller messages come in bursts (hundreds of starts after a node
  // died); they are worked off a slice at a time so heartbeats, exits and the
  // local API are never starved: a node busy starting work is not a dead node.
  std::deque<LinkItem> link_pending;
  std::function<void(int64_t)> heartbeat;
  auto on_link = [&](int64_t now) {
    for (auto& item : link->take()) {
      if (item.kind == LinkItem::message && item.msg.has_ack()) {
        // Acknowledgements jump the queue: the lease must not wait behind a burst of starts.
        bool unused = false;
        handle_controller_message(item.msg, sup, status, monotonic_ms(), unused);
        lease.renew(monitor_deadline(status, cfg.node_lease_ms));
        continue;
      }
      link_pending.push_back(std::move(item));
    }
    size_t queued_starts = 0;
    for (const auto& item : link_pending) queued_starts += item.kind == LinkItem::message && item.msg.has_start();
    sup.set_spare_target(queued_starts);
    const int64_t slice_end = monotonic_ms() + 20;
    while (!link_pending.empty() && monotonic_ms() < slice_end) {
      LinkItem item = std::move(link_pending.front());
      link_pending.pop_front();
      if (item.kind == LinkItem::connected) {
        link->send(make_register(ident, sup, status));
        forwarded_seq = last_event_seq();
        registered = true;
        next_hb = now;
      } else if (item.kind == LinkItem::disconnected) {
        registered = false;
        if (item.why != link_state) say(cfg, "controller link: " + item.why + "; reconnecting");
        link_state = item.why;
      } else {
        if (link_state != "connected") {
          say(cfg, "controller link: connected to " + cfg.controller);
          link_state = "connected";
        }
        bool power_off = false;
        for (auto& reply : handle_controller_message(item.msg, sup, status, monotonic_ms(), power_off)) {
          link->send(std::move(reply));
        }
        if (power_off) {
          say(cfg, "power cut injected by the controller: killing every workload, the standbys and this shim");
          // For a supervisor (rackos up): this node lost power; it comes back as after a reboot, not at once.
          (void)write_atomic(cfg.state_dir + "/powered-off", std::to_string(wall_ms()));  // a courtesy to `up`
          sup.power_off();
          for (int pid : standby_pids(cfg.state_dir)) ::kill(pid, SIGKILL);
          ::kill(::getpid(), SIGKILL);
        }
        if (item.msg.has_start()) {
          sup.ensure_spare();  // the next starts find warm monitors
          sup.ensure_spare();
        }
      }
      heartbeat(monotonic_ms());
    }
  };
  heartbeat = [&](int64_t now) {
    if (!registered || now < next_hb) return;
    ++hb_seq;
    link->send(make_heartbeat(sup, status, hb_seq, now, hb_seq % 10 == 1));
    next_hb = now + cfg.heartbeat_ms;
  };

  Enforcer enforcer(cfg.enforcer);
  HealthConfig health;
  health.node_lease_ms = cfg.node_lease_ms;
  bool running = true;
  int exit_code = 0;
  auto close_client = [&](int fd) {
    ::epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
    ::close(fd);
    clients.erase(fd);
  };
  auto flush = [&](int fd, Client& c) {
    while (!c.out.empty()) {
      ssize_t n = ::send(fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
      if (n > 0) {
        c.out.erase(0, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLOUT;
        ev.data.fd = fd;
        ::epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
        return true;
      }
      return false;
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    ::epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
    return true;
  };
  int64_t next_identity_save = 0;
  auto on_tick = [&](int64_t now) {
    if (now >= next_identity_save) {  // the revision moves with every commit: written at most once a second
      save_identity();
      next_identity_save = now + 1000;
    }
    sup.flush_limits();
    sup.check(now);
    if (auto stopped = fence_if_silent(status, sup, now, health)) {
      say(cfg, "self-fenced: controller silent; stopped " + std::to_string(*stopped) + " on_partition=stop processes");
    }
    enforcer.tick(sup, now);
    sync_pidfds();
    if (link) heartbeat(now);
    sup.ensure_spare();
  };

  epoll_event events[64];
  while (running) {
    int n = ::epoll_wait(ep, events, 64, link_pending.empty() ? -1 : 0);
    if (n < 0 && errno != EINTR) break;
    const int64_t now = monotonic_ms();
    bool ticked = false;
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == timer_fd) {
        uint64_t expirations;
        while (::read(timer_fd, &expirations, sizeof expirations) > 0) {
        }
        if (!ticked) on_tick(now);
        ticked = true;
      } else if (fd == sig_fd) {
        signalfd_siginfo si;
        while (::read(sig_fd, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
          if (si.ssi_signo == SIGCHLD) sup.reap_children();
          if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
            say(cfg, "signal " + std::to_string(si.ssi_signo) + ": exiting; workloads keep running");
            running = false;
          }
        }
      } else if (link && fd == link->event_fd()) {
        on_link(now);
        sync_pidfds();
        sup.flush_limits();
        sup.ensure_spare();
      } else if (fd == listen_fd) {
        while (true) {
          int c = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) break;
          clients[c] = Client{};
          watch(c, EPOLLIN);
        }
      } else if (auto rit = reply_fds.find(fd); rit != reply_fds.end()) {
        sup.on_reply(rit->second, now);
        sync_pidfds();
      } else if (auto pit = pidfds.find(fd); pit != pidfds.end()) {
        sup.pidfd_ready(pit->second, now);
        sup.check(now);
        sync_pidfds();
      } else if (auto it = clients.find(fd); it != clients.end()) {
        Client& c = it->second;
        if (events[i].events & EPOLLOUT) {
          if (!flush(fd, c)) {
            close_client(fd);
            continue;
          }
        }
        if (!(events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) continue;
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
            resp = handle_request(json::parse(line), sup, status, monotonic_ms());
          } catch (const std::exception& e) {
            resp = {{"ok", false}, {"error", std::string("request is not JSON: ") + e.what()}};
          }
          c.out += resp.dump() + "\n";
        }
        sync_pidfds();
        if (!flush(fd, c) || closed) close_client(fd);
        sup.flush_limits();  // after answering: off the start path
        sup.ensure_spare();
        if (status.handover_requested) {
          say(cfg, "handover requested: exiting so the standby takes over; workloads keep running");
          running = false;
        }
      }
    }
    if (link && !link_pending.empty()) {
      on_link(monotonic_ms());
      sync_pidfds();
      sup.flush_limits();
    }
    if (link) forward_events();
  }
  link.reset();
  for (auto& [fd, c] : clients) ::close(fd);
  ::close(listen_fd);
  ::close(ep);
  ::close(lock_fd);  // the standby wakes now
  return exit_code;
}

}  // namespace rackos::shim

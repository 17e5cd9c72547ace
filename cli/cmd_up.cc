// `rackos up --nodes N [-f demo.yaml]`: a whole cluster on this machine — a
// controller with the embedded SQLite store and N nodes, each an active and a
// standby shim with its own declared capacity, state dir and cgroup subtree,
// joined with a token generated here. Optionally applies a spec and waits
// until it runs. Ctrl-C (or SIGTERM) stops everything cleanly: services first
// (through the API), then shims, then the controller; then what a killed node
// left behind is removed by pid and by path.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "auth/client_config.h"
#include "auth/pki.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "cli/learn_flags.h"
#include "cli/local_cluster.h"
#include "controller/etcd_process.h"
#include "core/quantity.h"
#include "proto/convert.h"
#include "shim/node_cleanup.h"

namespace rackos::cli {
namespace {

struct UpArgs {
  int nodes = 4;
  std::string cpu = "2";
  std::string memory = "4Gi";
  std::string dir = "/tmp/rackos-up";
  std::string listen = "127.0.0.1:7400";
  std::string http = "127.0.0.1:7401";
  std::string https = "127.0.0.1:7402";
  std::string file;
  std::string prefix = "node-";
  int racks = 2;
  bool no_standby = false;
  bool no_enforce = false;
  bool keep_state = false;
  std::string lease = "500ms";
  std::string store = "sqlite";  // or etcd: members started here, on loopback
  int etcd_members = 3;
  int controllers = 1;           // with etcd: an active and standbys
  bool insecure = false;         // --insecure-no-tls: TLS off (benchmarks)
  LearnFlags learn;              // passed on to the controllers
};

void say(const std::string& m) {
  std::printf("%s\n", m.c_str());
  std::fflush(stdout);
}

pid_t spawn(const std::vector<std::string>& argv, const std::string& log) { return local::spawn_daemon(argv, log); }

bool alive(pid_t pid) { return ::waitpid(pid, nullptr, WNOHANG) == 0; }

void stop_child(pid_t pid, int timeout_ms) {
  if (pid <= 0) return;
  ::kill(pid, SIGTERM);
  for (int waited = 0; waited < timeout_ms; waited += 20) {
    if (::waitpid(pid, nullptr, WNOHANG) != 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

std::string tail(const std::string& path, size_t lines) {
  std::ifstream in(path);
  std::vector<std::string> all;
  std::string l;
  while (std::getline(in, l)) all.push_back(l);
  std::string out;
  for (size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) out += "  " + all[i] + "\n";
  return out;
}

volatile sig_atomic_t g_stop = 0;

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// A daemon `up` keeps running: restarted when it dies, with backoff (100 ms
// doubling to 10 s; forgiven after 30 s of health), as systemd would.
struct Daemon {
  std::string name;  // "controller", "node-2 shim"
  std::vector<std::string> argv;
  std::string log;
  pid_t pid = 0;
  int restarts = 0;
  int64_t started_ms = 0;
  int64_t restart_at_ms = 0;
  std::string power_marker;  // a shim's: present when the node was power-cut (rackos node kill)
};

// A power-cut node stays down this long, as a real one would while it reboots.
constexpr int64_t kRebootMs = 10'000;

std::string exit_text(int status) {
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  if (WIFEXITED(status)) return "exit code " + std::to_string(WEXITSTATUS(status));
  return "gone";
}

// Checks one daemon: notices its death and restarts it when its backoff is up.
void supervise(Daemon& d, int64_t now) {
  if (d.pid > 0) {
    int status = 0;
    if (::waitpid(d.pid, &status, WNOHANG) == 0) return;
    if (now - d.started_ms > 30'000) d.restarts = 0;
    const bool power_cut = !d.power_marker.empty() && ::access(d.power_marker.c_str(), F_OK) == 0;
    const int64_t delay = power_cut ? kRebootMs : std::min<int64_t>(int64_t{100} << std::min(d.restarts, 7), 10'000);
    d.restart_at_ms = now + delay;
    say(d.name + " (pid " + std::to_string(d.pid) + ") " + exit_text(status) + "; restarting it in " + std::to_string(delay) +
        " ms" + (power_cut ? " (the node was power-cut: it comes back as after a reboot)" : " (workloads keep running)"));
    d.pid = 0;
    ++d.restarts;
    return;
  }
  if (now < d.restart_at_ms) return;
  if (!d.power_marker.empty()) ::unlink(d.power_marker.c_str());
  d.pid = spawn(d.argv, d.log);
  d.started_ms = now;
  say(d.name + " restarted (pid " + std::to_string(d.pid) + ", restart " + std::to_string(d.restarts) + ")");
}

}  // namespace

void add_up(CLI::App& app) {
  static UpArgs a;
  auto* cmd = app.add_subcommand("up", "Start a local cluster: a controller and N shims on this machine");
  cmd->add_option("--nodes", a.nodes, "Nodes")->capture_default_str();
  a.learn.add_to(cmd);
  cmd->add_option("--node-cpu", a.cpu, "Declared CPU of each node")->capture_default_str();
  cmd->add_option("--node-memory", a.memory, "Declared memory of each node")->capture_default_str();
  cmd->add_option("--dir", a.dir, "Where the cluster keeps its state and logs")->capture_default_str();
  cmd->add_option("--listen", a.listen, "Controller gRPC address (port 0: any; written to DIR/controller/controller.addr)")
      ->capture_default_str();
  cmd->add_option("--http", a.http, "Controller HTTP address (/metrics)")->capture_default_str();
  cmd->add_option("--https", a.https, "Controller HTTPS address (/state, to client certificates)")->capture_default_str();
  cmd->add_option("-f,--file", a.file, "Services to apply once the nodes are ready (e.g. examples/demo.yaml)");
  cmd->add_option("--node-prefix", a.prefix, "Node names: PREFIX1..PREFIXN")->capture_default_str();
  cmd->add_option("--racks", a.racks, "Spread the nodes over this many rack labels")->capture_default_str();
  cmd->add_option("--node-lease", a.lease, "Node lease")->capture_default_str();
  cmd->add_flag("--no-standby", a.no_standby, "One shim per node instead of an active/standby pair");
  cmd->add_flag("--no-enforce", a.no_enforce, "Shims do not use cgroups");
  cmd->add_flag("--keep-state", a.keep_state, "Reuse the controller's store from an earlier run");
  cmd->add_option("--store", a.store, "sqlite (in DIR/controller) or etcd (members started on loopback, data in DIR/etcd)")
      ->capture_default_str();
  cmd->add_option("--etcd-members", a.etcd_members, "With --store etcd: how many members")->capture_default_str();
  cmd->add_option("--controllers", a.controllers,
                  "Controllers (with --store etcd: one active, the rest standbys that take over within the leader lease)")
      ->capture_default_str();
  cmd->add_flag("--insecure-no-tls", a.insecure,
                "Plaintext gRPC and no client certificates (to measure what TLS costs; loopback only)");
  cmd->callback([] {
    if (a.nodes < 1 || a.nodes > 1000) fail("up: --nodes " + std::to_string(a.nodes) + " must be 1..1000");
    if (a.racks < 1) fail("up: --racks must be ≥ 1");
    if (!parse_cpu_millis(a.cpu)) fail("up: --node-cpu " + a.cpu + " is not a CPU amount");
    if (!parse_memory_bytes(a.memory)) fail("up: --node-memory " + a.memory + " is not a memory amount");
    if (!parse_duration_ms(a.lease)) fail("up: --node-lease " + a.lease + " is not a duration");
    if (a.store != "sqlite" && a.store != "etcd") fail("up: --store " + a.store + " must be sqlite or etcd");
    if (a.etcd_members < 1 || a.etcd_members > 7) fail("up: --etcd-members must be 1..7");
    if (a.store == "etcd" && a.keep_state) fail("up: --keep-state with --store etcd is not supported yet");
    if (a.controllers < 1 || a.controllers > 5) fail("up: --controllers must be 1..5");
    if (a.controllers > 1 && a.store != "etcd") {
      fail("up: --controllers " + std::to_string(a.controllers) + " needs --store etcd (SQLite is one controller's own file)");
    }
    namespace fs = std::filesystem;
    std::error_code ec;
    // Controller i keeps its files in DIR/controller (the first) or DIR/controller-i.
    auto ctl_dir_of = [&](int i) { return a.dir + "/controller" + (i == 1 ? std::string() : "-" + std::to_string(i)); };
    const std::string ctl_dir = ctl_dir_of(1);
    for (int i = 1; i <= 5; ++i) {
      if (!a.keep_state || i > 1) fs::remove_all(ctl_dir_of(i), ec);
    }
    for (int i = 1; i <= a.controllers; ++i) fs::create_directories(ctl_dir_of(i), ec);
    fs::create_directories(a.dir + "/nodes", ec);
    if (ec) fail("up: cannot create " + a.dir + ": " + ec.message());
    fs::remove(ctl_dir + "/controller.addr", ec);
    const std::string token_file = a.dir + "/token";
    {
      std::ofstream t(token_file, std::ios::trunc);
      t << auth::random_hex(16) << "\n";  // the bootstrap join secret
    }
    fs::permissions(token_file, fs::perms::owner_read | fs::perms::owner_write, ec);

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    ::sigprocmask(SIG_BLOCK, &sigs, nullptr);

    // Node state dirs on a tmpfs when there is one (/run, else /dev/shm), as on
    // a real node: they only outlive shim crashes, and file creation there is cheap.
    std::string key = fs::absolute(a.dir).string();
    for (char& ch : key) ch = std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
    const std::string state_root = local::node_state_root("rackos-up" + key, a.dir + "/nodes");
    auto node_state = [&](const std::string& node) { return state_root + "/" + node; };
    // What an earlier run left on the nodes. A live shim there means another
    // `up` is using this dir: stop. Otherwise, with a fresh store, its
    // processes belong to a cluster that no longer exists: they are removed
    // (by pid and path), rather than left for the new controller to refuse.
    // With --keep-state the store and the nodes' processes are kept, and adopted.
    {
      size_t left = 0;
      for (int i = 1; i <= a.nodes; ++i) {
        const std::string node = a.prefix + std::to_string(i);
        const std::string lock = node_state(node) + "/shim.lock";
        int fd = ::open(lock.c_str(), O_RDWR | O_CLOEXEC);
        if (fd >= 0) {
          const bool busy = ::flock(fd, LOCK_EX | LOCK_NB) != 0;
          ::close(fd);
          if (busy) fail("up: node " + node + " is in use by a running shim (" + node_state(node) +
                         "); is another `rackos up` using " + a.dir + "?");
        }
        if (a.keep_state) continue;
        left += shim::kill_recorded_processes(node_state(node));
        shim::remove_node_cgroups(node);
        fs::remove_all(node_state(node), ec);
      }
      if (left > 0) {
        say("removed " + std::to_string(left) + " processes an earlier run left on the nodes (--keep-state keeps and adopts them)");
      }
    }
    const std::string exe = self_exe();
    const auto t0 = std::chrono::steady_clock::now();
    auto since = [&] {
      return std::to_string(
                 std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count()) +
             " ms";
    };
    // etcd first (--store etcd): its members outlive a killed `up` like the
    // other daemons; a later `up` in this dir kills them by their pid files.
    const std::string etcd_dir = a.dir + "/etcd";
    std::vector<std::string> store_args;
    controller::EtcdCluster etcd;
    std::vector<Daemon> etcd_daemons;
    {
      const size_t old_members = controller::kill_recorded_etcd(etcd_dir);
      if (old_members > 0) say("killed " + std::to_string(old_members) + " etcd members an earlier run left");
      fs::remove_all(etcd_dir, ec);
    }
    if (a.store == "etcd") {
      auto started = controller::start_etcd(etcd_dir, a.etcd_members, "etcd", /*die_with_parent=*/false);
      if (!started) fail("up: etcd: " + started.error().message);
      etcd = std::move(started).value();
      store_args = {"--store", etcd.url()};
      for (size_t i = 0; i < etcd.members.size(); ++i) {
        etcd_daemons.push_back({"etcd member " + etcd.members[i].name, controller::etcd_member_argv(etcd, i, false),
                                etcd_dir + "/" + etcd.members[i].name + ".log", etcd.members[i].pid, 0, steady_ms(), 0});
      }
      say("etcd        " + std::to_string(etcd.members.size()) + " members " + etcd.url().substr(7) + "  (data " + etcd_dir +
          ")  " + since());
    }
    // A pair (or more) on etcd: a standby does not listen until it leads, so
    // every controller's address is fixed up front and handed to the shims
    // and the CLI, which use the one that answers.
    std::vector<std::string> listens{a.listen};
    if (a.controllers > 1) {
      const size_t colon = a.listen.rfind(':');
      if (colon == std::string::npos) fail("up: --listen " + a.listen + ": expected HOST:PORT");
      const std::string lhost = a.listen.substr(0, colon);
      const int lport = std::atoi(a.listen.c_str() + colon + 1);
      listens.clear();
      for (int i = 0; i < a.controllers; ++i) {
        const int port = lport != 0 ? lport + i : controller::free_loopback_port();
        if (port <= 0) fail("up: no free loopback port for controller " + std::to_string(i + 1));
        listens.push_back(lhost + ":" + std::to_string(port));
      }
    }
    auto ctl_log_of = [&](int i) { return a.dir + "/controller" + (i == 1 ? std::string() : "-" + std::to_string(i)) + ".log"; };
    const std::string ctl_log = ctl_log_of(1);
    std::vector<pid_t> ctls;
    for (const auto& arg : a.learn.args()) store_args.push_back(arg);
    for (int i = 1; i <= a.controllers; ++i) {
      // The first gets a head start: it leads; the others wait as standbys.
      if (i == 2) std::this_thread::sleep_for(std::chrono::milliseconds(200));
      ctls.push_back(spawn(local::controller_argv({exe, listens[i - 1], i == 1 ? a.http : "127.0.0.1:0", ctl_dir_of(i),
                                                   token_file, a.lease, store_args, a.insecure,
                                                   i == 1 ? a.https : "127.0.0.1:0"}),
                           ctl_log_of(i)));
    }
    pid_t ctl = ctls.front();
    std::vector<pid_t> shims;
    auto stop_etcd_members = [&] {
      for (auto& d : etcd_daemons) {
        if (d.pid > 0) stop_child(d.pid, 3000);
        d.pid = 0;
      }
    };
    auto shutdown = [&](int code) {
      for (pid_t p : shims) stop_child(p, 3000);
      for (pid_t p : ctls) stop_child(p, 3000);
      stop_etcd_members();
      std::exit(code);
    };
    std::string addr;
    for (int i = 0; i < 200 && addr.empty(); ++i) {
      std::ifstream in(ctl_dir + "/controller.addr");
      std::getline(in, addr);
      if (addr.empty()) {
        if (!alive(ctl)) {
          std::fprintf(stderr, "rackos: up: the controller exited:\n%s", tail(ctl_log, 10).c_str());
          for (size_t k = 1; k < ctls.size(); ++k) stop_child(ctls[k], 3000);
          stop_etcd_members();
          std::exit(1);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
    if (addr.empty()) {
      std::fprintf(stderr, "rackos: up: the controller did not start in 10 s:\n%s", tail(ctl_log, 10).c_str());
      shutdown(1);
    }
    say("controller  " + addr + "  (store " + (a.store == "etcd" ? "etcd" : ctl_dir + "/state.db") + ", log " + ctl_log +
        ")  " + since());
    for (int i = 2; i <= a.controllers; ++i) {
      say("controller  " + listens[i - 1] + "  (standby: leads if the active stops renewing its lease; log " + ctl_log_of(i) +
          ")");
    }
    // Every address, the active's first: what shims and the CLI are given.
    std::string addrs = addr;
    for (size_t i = 1; i < listens.size(); ++i) addrs += "," + listens[i];
    std::string http_now = a.http;
    {
      std::ifstream in(ctl_dir + "/http.addr");
      std::getline(in, http_now);
    }
    std::string https_now = a.https;
    {
      std::ifstream in(ctl_dir + "/https.addr");
      std::getline(in, https_now);
      if (https_now.empty()) https_now = a.https;
    }
    // Restarted on the address the nodes know (the port it got, if it was 0).
    std::vector<Daemon> ctl_daemons;
    for (int i = 1; i <= a.controllers; ++i) {
      ctl_daemons.push_back({a.controllers == 1 ? std::string("controller") : "controller " + std::to_string(i),
                             local::controller_argv({exe, i == 1 ? addr : listens[i - 1],
                                                     i == 1 ? (http_now.empty() ? a.http : http_now) : "127.0.0.1:0",
                                                     ctl_dir_of(i), token_file, a.lease, store_args, a.insecure,
                                                     i == 1 ? https_now : "127.0.0.1:0"}),
                             ctl_log_of(i), ctls[i - 1], 0, steady_ms(), 0});
    }
    // Nodes join with the token the controller wrote (the CA's fingerprint and
    // the bootstrap secret); the CLI here is the local admin (admin.conf).
    const std::string join_token = a.insecure ? token_file : ctl_dir + "/join-token";
    if (a.insecure) {
      insecure_flag() = true;
    } else {
      config_flag() = ctl_dir + "/admin.conf";
    }
    std::vector<Daemon> shim_daemons;
    std::vector<std::string> names;
    for (int i = 1; i <= a.nodes; ++i) {
      const std::string node = a.prefix + std::to_string(i);
      names.push_back(node);
      const auto argv = local::shim_argv({exe, node, a.cpu, a.memory, node_state(node), addrs, join_token, a.lease,
                                          "r" + std::to_string((i - 1) % a.racks + 1), !a.no_enforce, a.insecure});
      fs::create_directories(node_state(node), ec);
      const std::string log = a.dir + "/nodes/" + node + ".log";
      shims.push_back(spawn(argv, log));
      const std::string marker = node_state(node) + "/powered-off";
      ::unlink(marker.c_str());
      shim_daemons.push_back({"node " + node + " shim", argv, log, shims.back(), 0, steady_ms(), 0, marker});
      if (!a.no_standby) {
        shims.push_back(spawn(argv, log));
        shim_daemons.push_back({"node " + node + " shim", argv, log, shims.back(), 0, steady_ms(), 0, marker});
      }
    }
    auto c = connect_controller(addrs);
    int ready = 0;
    // 15 s, and 40 ms more a node: hundreds of shims each join (a key, a
    // certificate) on the same few cores.
    const int64_t join_ms = 15000 + int64_t{40} * a.nodes;
    for (const int64_t until = steady_ms() + join_ms; steady_ms() < until && ready < a.nodes;) {
      v1::ListNodesResponse nodes;
      auto ctx = call_context(2000);
      if (c.stub->ListNodes(ctx.get(), v1::ListRequest{}, &nodes).ok()) {
        ready = 0;
        for (const auto& n : nodes.nodes()) ready += n.state() == v1::READY;
      }
      if (ready < a.nodes) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (ready < a.nodes) {
      std::fprintf(stderr, "rackos: up: only %d of %d nodes joined in %lld s; see %s/nodes/*.log\n", ready, a.nodes,
                   static_cast<long long>(join_ms / 1000), a.dir.c_str());
      shutdown(1);
    }
    say(std::to_string(a.nodes) + " nodes     " + names.front() + ".." + names.back() + ", " + a.cpu + " cpu / " +
        a.memory + " each, " + (a.no_standby ? "one shim" : "active + standby shims") + "  " + since());
    if (!a.file.empty()) {
      std::ifstream in(a.file);
      if (!in) {
        std::fprintf(stderr, "rackos: up: cannot read %s\n", a.file.c_str());
        shutdown(1);
      }
      std::stringstream ss;
      ss << in.rdbuf();
      v1::ApplyRequest req;
      req.set_yaml(ss.str());
      v1::ApplyResponse resp;
      auto ctx = call_context();
      auto st = c.stub->Apply(ctx.get(), req, &resp);
      if (!st.ok() || resp.errors_size() > 0) {
        std::fprintf(stderr, "rackos: up: %s: %s\n", a.file.c_str(),
                     st.ok() ? resp.errors(0).c_str() : st.error_message().c_str());
        shutdown(1);
      }
      int running = 0, total = 0;
      for (int i = 0; i < 300; ++i) {
        v1::ListProcessesResponse ps;
        auto pctx = call_context(2000);
        if (c.stub->ListProcesses(pctx.get(), v1::ListRequest{}, &ps).ok()) {
          running = 0;
          total = ps.processes_size();
          for (const auto& p : ps.processes()) running += p.state() == v1::RUNNING;
        }
        std::printf("\rapplying    %s: %d/%d processes running   ", a.file.c_str(), running, total);
        std::fflush(stdout);
        if (total > 0 && running == total) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      std::printf("\n");
      say("demo        " + std::to_string(running) + "/" + std::to_string(total) + " running  " + since());
    }
    // What the CLI needs: the addresses (unless the default) and the local
    // admin's config (unless where the CLI looks by default).
    std::string env = addrs == "127.0.0.1:7400" ? "" : "RACKOS_CONTROLLER=" + addrs + " ";
    if (!a.insecure && fs::absolute(ctl_dir + "/admin.conf") != fs::path(auth::kUpAdminConfig)) {
      env += "RACKOS_CONFIG=" + fs::absolute(ctl_dir + "/admin.conf").string() + " ";
    }
    std::string http_addr = a.http;
    {
      std::ifstream in(ctl_dir + "/http.addr");
      std::getline(in, http_addr);
    }
    say("\nThe cluster is up. In another terminal:\n"
        "  " + env + "rackos ps                 processes: node, state, envelope, allocation, use\n"
        "  " + env + "rackos nodes              nodes and what is reserved on them\n"
        "  " + env + "rackos top                live view\n"
        "  " + env + "rackos node kill " + names.back() + "     power-cut a node; watch its processes come back elsewhere\n"
        "  " + env + "rackos events             what the controller did\n"
        "  curl http://" + http_addr + "/metrics    Prometheus metrics\n" +
        (a.insecure ? "  curl http://" + http_addr + "/state      the cluster as JSON\n"
                    : "  curl --cacert " + ctl_dir + "/pki/ca.crt --cert " + ctl_dir + "/pki/admin.pem https://" + https_now +
                          "/state\n") +
        "Ctrl-C stops everything.");

    // Wait for Ctrl-C, keeping every daemon running: a dead controller or
    // shim is restarted with backoff (a shim that died makes its standby
    // active; its replacement is the new standby). Workloads keep their pids.
    timespec every{0, 100'000'000};
    while (true) {
      int sig = ::sigtimedwait(&sigs, nullptr, &every);
      if (sig == SIGINT || sig == SIGTERM) break;
      const int64_t now = steady_ms();
      for (auto& d : etcd_daemons) {
        const pid_t before = d.pid;
        supervise(d, now);
        if (d.pid > 0 && d.pid != before) std::ofstream(etcd_dir + "/" + d.name.substr(d.name.rfind(' ') + 1) + ".pid") << d.pid << "\n";
      }
      for (auto& d : ctl_daemons) supervise(d, now);
      for (auto& d : shim_daemons) supervise(d, now);
    }
    ctls.clear();
    for (const auto& d : ctl_daemons) ctls.push_back(d.pid);
    ctl = 0;
    for (pid_t p : ctls) ctl = ctl > 0 ? ctl : p;
    shims.clear();
    for (const auto& d : shim_daemons) shims.push_back(d.pid);

    // Clean stop: services (their processes), shims, controller, leftovers.
    say("\nstopping: services first");
    if (ctls.size() > 1) c = connect_controller(addrs);  // whichever leads now
    if (ctl > 0) {
      v1::ListServicesResponse svcs;
      auto ctx = call_context(5000);
      if (c.stub->ListServices(ctx.get(), v1::ListRequest{}, &svcs).ok()) {
        for (const auto& s : svcs.services()) {
          v1::StopRequest req;
          req.set_service(s.name());
          v1::StopResponse resp;
          auto sctx = call_context(5000);
          c.stub->Stop(sctx.get(), req, &resp);
        }
        for (int i = 0; i < 100; ++i) {
          v1::ListProcessesResponse ps;
          auto pctx = call_context(2000);
          if (!c.stub->ListProcesses(pctx.get(), v1::ListRequest{}, &ps).ok()) break;
          int live = 0;
          for (const auto& p : ps.processes()) live += p.state() != v1::LOST && p.node().size() > 0;
          std::printf("\r  %d processes still running   ", live);
          std::fflush(stdout);
          if (live == 0) break;
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        std::printf("\n");
      }
    }
    for (pid_t p : shims) {
      if (p > 0) stop_child(p, 3000);
    }
    // Standbys first: the active's resignation must not hand the lead to one being stopped.
    for (size_t i = ctls.size(); i-- > 0;) {
      if (ctls[i] > 0) stop_child(ctls[i], 3000);
    }
    stop_etcd_members();
    size_t leftovers = 0, cgroups = 0;
    for (const auto& n : names) {
      leftovers += shim::kill_recorded_processes(node_state(n));
    }
    if (leftovers > 0) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    for (const auto& n : names) cgroups += shim::remove_node_cgroups(n);
    if (state_root != a.dir + "/nodes") fs::remove_all(state_root, ec);  // workload logs went with their services
    say("stopped: " + (ctls.size() == 1 ? std::string("controller") : std::to_string(ctls.size()) + " controllers") + ", " +
        std::to_string(shims.size()) + " shims" +
        (etcd_daemons.empty() ? "" : ", " + std::to_string(etcd_daemons.size()) + " etcd members") + "; " + std::to_string(leftovers) +
        " leftover processes killed, " + std::to_string(cgroups) + " cgroups removed; state and logs in " + a.dir);
    std::exit(0);
  });
}

}  // namespace rackos::cli

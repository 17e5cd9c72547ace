// `rackos shim ...`: run the node agent, talk to it, upgrade it.
//   rackos shim --node n1 --cpu 4 --memory 8Gi [--state-dir DIR]   run (active or standby)
//   rackos shim status --state-dir DIR                               the active shim's status
//   rackos shim call --state-dir DIR '{"op":"list"}'                 any node API request
//   rackos shim upgrade --state-dir DIR [--binary PATH]              replace both shims, no workload restart
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>

#include "cli/commands.h"
#include "core/quantity.h"
#include "shim/node_client.h"
#include "shim/shim_server.h"
#include "shim/upgrade.h"

namespace rackos::cli {
namespace {

struct ShimArgs {
  std::string node;
  std::string cpu;
  std::string memory;
  std::string state_dir;
  std::string tick = "50ms";
  std::string lease = "500ms";
  std::string fence_grace = "3s";
  std::string burst_window = "30s";
  std::string memory_reserve = "0";
  std::string monitor;
  std::string log_max = "10Mi";
  int log_keep = 3;
  std::string retained_logs = "256Mi";
  bool no_enforce = false;
  std::string request;
  std::string binary;
  std::string controller;
  std::string token_file;
  std::string token;
  std::string cert_dir;
  bool insecure = false;
  std::string workload_user = "rackos-workload";
  std::string heartbeat = "100ms";
  std::vector<std::string> labels;
};

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "rackos shim: %s\n", msg.c_str());
  std::exit(1);
}

std::string dir_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

std::string state_dir_for(const ShimArgs& a) {
  if (!a.state_dir.empty()) return a.state_dir;
  if (a.node.empty()) die("give --state-dir or --node");
  return "/run/rackos/" + a.node;
}

template <class T>
T must(Result<T> r, const std::string& flag) {
  if (!r) die(flag + ": " + r.error().message);
  return *r;
}

}  // namespace

void add_shim(CLI::App& app, int argc, char** argv) {
  static ShimArgs a;
  static std::vector<std::string> original(argv, argv + argc);
  auto* cmd = app.add_subcommand("shim", "Run the node agent (active or standby), or talk to it");
  cmd->add_option("--node", a.node, "Node name");
  cmd->add_option("--cpu", a.cpu, "Declared CPU capacity (cores or millicores)");
  cmd->add_option("--memory", a.memory, "Declared memory capacity");
  cmd->add_option("--state-dir", a.state_dir, "Node-local state (default /run/rackos/NODE)");
  cmd->add_option("--tick", a.tick, "Enforcement loop period")->capture_default_str();
  cmd->add_option("--node-lease", a.lease,
                  "Self-fence (freeze at-most-one workloads) after this long without a controller acknowledgement")
      ->capture_default_str();
  cmd->add_option("--fence-grace", a.fence_grace,
                  "Kill frozen at-most-one workloads when the fence lasts this much longer than the lease")
      ->capture_default_str();
  cmd->add_option("--burst-window", a.burst_window, "Burst credit window")->capture_default_str();
  cmd->add_option("--memory-reserve", a.memory_reserve, "Memory kept free on the node")->capture_default_str();
  cmd->add_option("--monitor", a.monitor, "Path of rackos-monitor (default: next to this binary)");
  cmd->add_option("--log-max", a.log_max, "Rotate a process's stdout/stderr log past this size")->capture_default_str();
  cmd->add_option("--log-keep", a.log_keep, "Rotated log files kept")->capture_default_str();
  cmd->add_option("--retained-logs", a.retained_logs, "Logs of exited processes kept on the node (oldest dropped first)")
      ->capture_default_str();
  cmd->add_flag("--no-enforce", a.no_enforce, "Do not use cgroups (enforcement off)");
  cmd->add_option("--controller", a.controller,
                  "The controller to join (HOST:PORT; a pair: HOST:PORT,HOST:PORT — the active answers); none: local API only");
  cmd->add_option("--token-file", a.token_file, "File holding a join token (rackos token create); needed until the node has its certificate");
  cmd->add_option("--token", a.token, "The join token itself (prefer --token-file: arguments are visible to every local user)");
  cmd->add_option("--cert-dir", a.cert_dir, "The node's key, certificate and the cluster CA (default STATE_DIR/pki; keep it on disk)");
  cmd->add_flag("--insecure-no-tls", a.insecure, "Plaintext to a controller started with --insecure-no-tls (benchmarks only)");
  cmd->add_option("--workload-user", a.workload_user,
                  "Processes whose spec names no user run as this unprivileged account; empty: as the shim (root)")
      ->capture_default_str();
  cmd->add_option("--heartbeat", a.heartbeat, "Heartbeat period to the controller")->capture_default_str();
  cmd->add_option("--label", a.labels, "Node label KEY=VALUE (e.g. rack=r1, zone=eu1); repeatable");
  cmd->callback([cmd] {
    if (!cmd->get_subcommands().empty()) return;
    if (a.node.empty() || a.cpu.empty() || a.memory.empty()) die("running a shim needs --node, --cpu and --memory");
    shim::ShimConfig cfg;
    cfg.node = a.node;
    cfg.state_dir = state_dir_for(a);
    cfg.cpu_millis = must(parse_cpu_millis(a.cpu), "--cpu");
    cfg.memory_bytes = must(parse_memory_bytes(a.memory), "--memory");
    if (cfg.cpu_millis <= 0) die("--cpu must be greater than 0");
    if (cfg.memory_bytes <= 0) die("--memory must be greater than 0");
    cfg.tick_ms = must(parse_duration_ms(a.tick), "--tick");
    if (cfg.tick_ms < 5) die("--tick " + a.tick + " is below 5ms");
    cfg.node_lease_ms = must(parse_duration_ms(a.lease), "--node-lease");
    cfg.fence_grace_ms = must(parse_duration_ms(a.fence_grace), "--fence-grace");
    cfg.enforcer.allocator.burst_window_ms = must(parse_duration_ms(a.burst_window), "--burst-window");
    cfg.enforcer.allocator.memory_reserve_bytes = must(parse_memory_bytes(a.memory_reserve), "--memory-reserve");
    cfg.enforce = !a.no_enforce;
    cfg.log_max_bytes = must(parse_memory_bytes(a.log_max), "--log-max");
    if (cfg.log_max_bytes < 1024) die("--log-max " + a.log_max + " is below 1Ki");
    if (a.log_keep < 0 || a.log_keep > 100) die("--log-keep " + std::to_string(a.log_keep) + " must be 0..100");
    cfg.log_keep = a.log_keep;
    cfg.retained_log_bytes = must(parse_memory_bytes(a.retained_logs), "--retained-logs");
    std::string exe = self_exe();
    cfg.monitor_path = a.monitor.empty() ? dir_of(exe) + "/rackos-monitor" : a.monitor;
    if (::access(cfg.monitor_path.c_str(), X_OK) != 0) die("cannot run the monitor " + cfg.monitor_path);
    cfg.controller = a.controller;
    if (!a.token_file.empty()) cfg.token = must(read_token(a.token_file), "--token-file");
    if (!a.token.empty()) cfg.token = a.token;
    cfg.insecure = a.insecure;
    cfg.cert_dir = a.cert_dir;
    cfg.workload_user = a.workload_user;
    cfg.heartbeat_ms = must(parse_duration_ms(a.heartbeat), "--heartbeat");
    if (cfg.heartbeat_ms < 10 || cfg.heartbeat_ms * 2 > cfg.node_lease_ms) {
      die("--heartbeat " + a.heartbeat + " must be at least 10ms and at most half of --node-lease");
    }
    for (const auto& l : a.labels) {
      auto eq = l.find('=');
      if (eq == std::string::npos || eq == 0) die("--label " + l + ": expected KEY=VALUE");
      cfg.labels[l.substr(0, eq)] = l.substr(eq + 1);
    }
    cfg.argv = original;
    cfg.argv[0] = exe;
    std::exit(shim::run_shim(cfg));
  });

  auto* status = cmd->add_subcommand("status", "Print the active shim's status as JSON");
  status->fallthrough();
  status->callback([] {
    shim::NodeClient c(state_dir_for(a) + "/shim.sock");
    auto r = c.call_ok({{"op", "status"}});
    if (!r) die(r.error().message);
    std::printf("%s\n", r->dump(2).c_str());
  });

  auto* call = cmd->add_subcommand("call", "Send one node API request (JSON) and print the answer");
  call->add_option("request", a.request, "e.g. '{\"op\":\"list\"}'")->required();
  call->fallthrough();
  call->callback([] {
    nlohmann::json req;
    try {
      req = nlohmann::json::parse(a.request);
    } catch (const std::exception& e) {
      die(std::string("the request is not JSON: ") + e.what());
    }
    shim::NodeClient c(state_dir_for(a) + "/shim.sock");
    auto r = c.call(req);
    if (!r) die(r.error().message);
    std::printf("%s\n", r->dump(2).c_str());
    if (!r->value("ok", false)) std::exit(1);
  });

  auto* upgrade = cmd->add_subcommand("upgrade", "Replace the node's shims with a binary, no workload restart");
  upgrade->add_option("--binary", a.binary, "The new rackos binary (default: this one)");
  upgrade->fallthrough();
  upgrade->callback([] {
    std::string bin = a.binary.empty() ? self_exe() : a.binary;
    std::printf("upgrading the shims of %s to %s\n", state_dir_for(a).c_str(), bin.c_str());
    auto r = shim::upgrade_shims(state_dir_for(a), bin);
    if (!r) die("upgrade failed: " + r.error().message);
    std::printf("active shim: pid %d -> %d (handover %lld ms); new standby pid %d\n", r->old_active_pid,
                r->new_active_pid, static_cast<long long>(r->handover_ms), r->new_standby_pid);
    std::printf("workloads: %zu running, %zu restarted\n", r->workloads, r->workloads_restarted);
    if (r->workloads_restarted > 0) std::exit(1);
  });
}

}  // namespace rackos::cli

// The client commands, all gRPC to the controller:
//   rackos run NAME --cpu MIN:MAX[:BURST] --mem MIN:MAX[:BURST] [--instances A:B] [--priority C] -- CMD ARGS
//   rackos apply -f FILE        rackos stop NAME        rackos scale NAME A[:B]
//   rackos ps [SERVICE] [--node N] [--json]             rackos nodes [--json]
//   rackos top                  rackos logs NAME [-f] [--stderr]
//   rackos drain NODE [--undo]  rackos node kill NODE   rackos events [-f]
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>

#include "cli/client.h"
#include "cli/commands.h"
#include "core/quantity.h"
#include "core/spec_parse.h"
#include "proto/convert.h"
#include "proto/json_view.h"

namespace rackos::cli {
namespace {

using nlohmann::json;

std::string& g_controller = controller_flag();  // empty: resolve_target decides

// MIN:MAX[:BURST]; a learned min shows as auto=VALUE (what it is now).
std::string range_text(const v1::Range& r, bool cpu, bool learned = false) {
  auto f = [&](int64_t v) { return cpu ? format_cpu_millis(v) : format_memory_bytes(v); };
  std::string s = (learned ? "auto=" : "") + f(r.min()) + ":" + f(r.max());
  if (r.burst() != r.max()) s += ":" + f(r.burst());
  return s;
}

v1::ListProcessesResponse list_processes(const ControllerClient& c, const std::string& service, const std::string& node,
                                         uint32_t limit = 0) {
  v1::ListRequest req;
  req.set_service(service);
  req.set_node(node);
  req.set_limit(limit);
  v1::ListProcessesResponse resp;
  auto ctx = call_context();
  check(c.stub->ListProcesses(ctx.get(), req, &resp), c, "ps");
  return resp;
}

v1::ListNodesResponse list_nodes(const ControllerClient& c) {
  v1::ListNodesResponse resp;
  auto ctx = call_context();
  check(c.stub->ListNodes(ctx.get(), v1::ListRequest{}, &resp), c, "nodes");
  return resp;
}

std::string ps_table(const v1::ListProcessesResponse& resp) {
  std::ostringstream out;
  char line[512];
  std::snprintf(line, sizeof line, "%-20s %-10s %-9s %7s %-19s %-22s %6s %6s %8s %4s  %s\n", "NAME", "NODE", "STATE",
                "PID", "CPU", "MEMORY", "ALLOC", "USED", "MEM-USED", "RST", "NOTE");
  out << line;
  for (const auto& p : resp.processes()) {
    std::string note = p.reason();
    if (note.size() > 60) note = note.substr(0, 57) + "...";
    std::snprintf(line, sizeof line, "%-20s %-10s %-9s %7d %-19s %-22s %6s %6s %8s %4u  %s\n", p.id().c_str(),
                  p.node().empty() ? "-" : p.node().c_str(), std::string(to_string(p.state())).c_str(), p.pid(),
                  range_text(p.envelope().cpu_millis(), true, p.cpu_min_learned()).c_str(),
                  range_text(p.envelope().memory_bytes(), false, p.memory_min_learned()).c_str(),
                  format_cpu_millis(p.allocation().cpu_target_millis()).c_str(),
                  format_cpu_millis(p.usage().cpu_used_millis()).c_str(),
                  format_memory_human(p.usage().memory_bytes()).c_str(), p.restarts(), note.c_str());
    out << line;
  }
  return out.str();
}

std::string nodes_table(const v1::ListNodesResponse& resp) {
  std::ostringstream out;
  char line[512];
  std::snprintf(line, sizeof line, "%-12s %-9s %6s %9s %10s %12s %6s  %s\n", "NODE", "STATE", "CPU", "CPU-MIN", "MEMORY",
                "MEMORY-MIN", "PROCS", "ENFORCEMENT");
  out << line;
  for (const auto& n : resp.nodes()) {
    std::string enf = n.enforcement();
    if (enf.size() > 40) enf = enf.substr(0, 37) + "...";
    std::snprintf(line, sizeof line, "%-12s %-9s %6s %9s %10s %12s %6u  %s\n", n.name().c_str(),
                  std::string(to_string(n.state())).c_str(), format_cpu_millis(n.cpu_millis()).c_str(),
                  format_cpu_millis(n.reserved_cpu_millis()).c_str(), format_memory_human(n.memory_bytes()).c_str(),
                  format_memory_human(n.reserved_memory_bytes()).c_str(), n.processes(), enf.c_str());
    out << line;
  }
  return out.str();
}

void apply_yaml(ControllerClient& c, const std::string& yaml, const std::string& what) {
  v1::ApplyRequest req;
  req.set_yaml(yaml);
  v1::ApplyResponse resp;
  check(call_active(c, [&](v1::ClusterService::Stub& s, grpc::ClientContext& ctx) { return s.Apply(&ctx, req, &resp); }), c, what);
  if (resp.errors_size() > 0) {
    for (const auto& e : resp.errors()) std::fprintf(stderr, "rackos: %s: %s\n", what.c_str(), e.c_str());
    std::fprintf(stderr, "rackos: nothing was applied\n");
    std::exit(1);
  }
  for (const auto& s : resp.services()) std::printf("service %s applied\n", s.c_str());
}

volatile std::sig_atomic_t g_interrupted = 0;

}  // namespace

void add_cluster_commands(CLI::App& app) {
  // run
  {
    static CliServiceArgs a;
    auto* cmd = app.add_subcommand("run", "Run a service from flags: rackos run NAME --cpu 100m:1 --mem 64Mi:256Mi -- CMD ARGS");
    cmd->add_option("name", a.name, "Service name")->required();
    cmd->add_option("command", a.command, "The command and its arguments (after --)")->required();
    cmd->add_option("--cpu", a.cpu, "CPU envelope MIN:MAX[:BURST] (cores or millicores)")->capture_default_str();
    cmd->add_option("--mem,--memory", a.memory, "Memory envelope MIN:MAX[:BURST]")->capture_default_str();
    cmd->add_option("--instances", a.instances, "Instances A[:B]")->capture_default_str();
    cmd->add_option("--priority", a.priority, "system, high, normal or batch")->capture_default_str();
    cmd->add_option("--restart", a.restart, "always, on-failure or never")->capture_default_str();
    cmd->add_option("--on-partition", a.on_partition, "stop or keep (default: stop for singletons)");
    cmd->add_option("--env,-e", a.env, "KEY=VALUE; repeatable");
    cmd->add_option("--resource", a.resources, "NAME=COUNT countable resource; repeatable");
    cmd->add_option("--constraint", a.constraints, "Node label rule: key=v1|v2, key!=v, key; repeatable");
    cmd->add_option("--workdir", a.workdir, "Working directory");
    cmd->add_option("--user", a.user, "Run as this user on the node (default: the node's unprivileged workload user; root needs the admin role)");
    add_controller_flag(cmd);
    cmd->callback([] {
      auto spec = parse_service_cli(a);
      if (!spec) fail("run " + a.name + ": " + spec.error().message);
      auto c = connect_controller(g_controller);
      apply_yaml(c, format_service_yaml(*spec), "run " + a.name);
    });
  }
  // apply
  {
    static std::string file;
    auto* cmd = app.add_subcommand("apply", "Create or change services from a YAML file");
    cmd->add_option("-f,--file", file, "YAML file (- for stdin)")->required();
    add_controller_flag(cmd);
    cmd->callback([] {
      std::stringstream ss;
      if (file == "-") {
        ss << std::cin.rdbuf();
      } else {
        std::ifstream in(file);
        if (!in) fail("apply: cannot read " + file);
        ss << in.rdbuf();
      }
      auto c = connect_controller(g_controller);
      apply_yaml(c, ss.str(), "apply " + file);
    });
  }
  // ps
  {
    static std::string service, node;
    static bool as_json = false;
    auto* cmd = app.add_subcommand("ps", "List processes: node, state, envelope, allocation, use");
    cmd->add_option("service", service, "Only this service");
    cmd->add_option("--node", node, "Only this node");
    cmd->add_flag("--json", as_json, "JSON");
    static uint32_t ps_limit = 1000;
    static CLI::Option* limit_opt = cmd->add_option(
        "--limit", ps_limit, "At most this many rows (0: all; default 1000 for the table, all with --json); the total is always counted");
    add_controller_flag(cmd);
    cmd->callback([] {
      auto c = connect_controller(g_controller);
      const uint32_t limit = limit_opt->count() > 0 ? ps_limit : (as_json ? 0 : 1000);
      auto resp = list_processes(c, service, node, limit);
      if (as_json) {
        json out = json::array();
        for (const auto& p : resp.processes()) out.push_back(process_json(p));
        std::printf("%s\n", out.dump(2).c_str());
      } else {
        std::fputs(ps_table(resp).c_str(), stdout);
      }
      if (resp.total() > static_cast<uint64_t>(resp.processes_size())) {
        std::fprintf(stderr, "%d of %llu processes shown (--limit 0 for all, or name a service or --node)\n",
                     resp.processes_size(), static_cast<unsigned long long>(resp.total()));
      }
    });
  }
  // nodes
  {
    static bool as_json = false;
    auto* cmd = app.add_subcommand("nodes", "List nodes: state, capacity, reserved min, processes");
    cmd->add_flag("--json", as_json, "JSON");
    add_controller_flag(cmd);
    cmd->callback([] {
      auto c = connect_controller(g_controller);
      auto resp = list_nodes(c);
      if (as_json) {
        json out = json::array();
        for (const auto& n : resp.nodes()) out.push_back(node_json(n));
        std::printf("%s\n", out.dump(2).c_str());
      } else {
        std::fputs(nodes_table(resp).c_str(), stdout);
      }
    });
  }
  // top
  {
    static std::string interval = "1s";
    static int iterations = 0;
    auto* cmd = app.add_subcommand("top", "Nodes and processes, refreshing (Ctrl-C to leave)");
    cmd->add_option("--interval", interval, "Refresh period")->capture_default_str();
    cmd->add_option("-n,--iterations", iterations, "Stop after this many screens (0: until Ctrl-C)");
    add_controller_flag(cmd);
    cmd->callback([] {
      auto every = parse_duration_ms(interval);
      if (!every || *every < 100) fail("top: --interval " + interval + " must be a duration ≥ 100ms");
      auto c = connect_controller(g_controller);
      std::signal(SIGINT, [](int) { g_interrupted = 1; });
      const bool tty = ::isatty(1);
      for (int i = 0; !g_interrupted && (iterations == 0 || i < iterations); ++i) {
        auto nodes = list_nodes(c);
        auto procs = list_processes(c, "", "");
        std::sort(procs.mutable_processes()->begin(), procs.mutable_processes()->end(),
                  [](const v1::ProcessInfo& x, const v1::ProcessInfo& y) {
                    return x.usage().cpu_used_millis() > y.usage().cpu_used_millis();
                  });
        size_t running = 0;
        int64_t used = 0;
        for (const auto& p : procs.processes()) {
          running += p.state() == v1::RUNNING;
          used += p.usage().cpu_used_millis();
        }
        int64_t cap = 0;
        for (const auto& n : nodes.nodes()) cap += n.cpu_millis();
        std::time_t t = std::time(nullptr);
        char when[32];
        std::strftime(when, sizeof when, "%H:%M:%S", std::localtime(&t));
        if (tty) std::fputs("\033[H\033[2J", stdout);
        std::printf("rackos top — %s — %s — %d nodes, %zu/%d processes running, cpu used %s of %s\n\n", when,
                    c.addr.c_str(), nodes.nodes_size(), running, procs.processes_size(), format_cpu_millis(used).c_str(),
                    format_cpu_millis(cap).c_str());
        std::fputs(nodes_table(nodes).c_str(), stdout);
        std::printf("\n");
        std::fputs(ps_table(procs).c_str(), stdout);
        std::fflush(stdout);
        for (int64_t slept = 0; slept < *every && !g_interrupted; slept += 50) {
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
      }
    });
  }
  // logs
  {
    static std::string name;
    static bool follow = false, err = false;
    auto* cmd = app.add_subcommand("logs", "A service's or a process's output (stdout; --stderr)");
    cmd->add_option("name", name, "Service (web) or process (web-3)")->required();
    cmd->add_flag("-f,--follow", follow, "Keep printing new output");
    cmd->add_flag("--stderr", err, "stderr instead of stdout");
    add_controller_flag(cmd);
    cmd->callback([] {
      auto c = connect_controller(g_controller);
      auto read = [&](bool as_process) {
        v1::LogsRequest req;
        (as_process ? req.mutable_process() : req.mutable_service())->assign(name);
        req.set_follow(follow);
        req.set_stderr(err);
        grpc::ClientContext ctx;
        if (!follow) ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
        auto reader = c.stub->Logs(&ctx, req);
        v1::LogChunk chunk;
        std::map<std::string, std::string> partial;
        while (reader->Read(&chunk)) {
          std::string& buf = partial[chunk.process()];
          buf += chunk.data();
          size_t nl;
          while ((nl = buf.find('\n')) != std::string::npos) {
            std::printf("%s | %s\n", chunk.process().c_str(), buf.substr(0, nl).c_str());
            buf.erase(0, nl + 1);
          }
          std::fflush(stdout);
        }
        for (const auto& [p, rest] : partial) {
          if (!rest.empty()) std::printf("%s | %s\n", p.c_str(), rest.c_str());
        }
        return reader->Finish();
      };
      grpc::Status st = read(false);
      if (st.error_code() == grpc::StatusCode::NOT_FOUND && name.rfind('-') != std::string::npos) st = read(true);
      check(st, c, "logs " + name);
    });
  }
  // stop
  {
    static std::string name;
    auto* cmd = app.add_subcommand("stop", "Stop a service: every process, then the service is gone");
    cmd->add_option("name", name, "Service")->required();
    add_controller_flag(cmd);
    cmd->callback([] {
      auto c = connect_controller(g_controller);
      v1::StopRequest req;
      req.set_service(name);
      v1::StopResponse resp;
      check(call_active(c, [&](v1::ClusterService::Stub& s, grpc::ClientContext& ctx) { return s.Stop(&ctx, req, &resp); }), c,
            "stop " + name);
      std::printf("service %s: %u processes stopping\n", name.c_str(), resp.stopping());
    });
  }
  // scale
  {
    static std::string name, range;
    auto* cmd = app.add_subcommand("scale", "Change a service's instance range: rackos scale web 2:5");
    cmd->add_option("name", name, "Service")->required();
    cmd->add_option("instances", range, "A[:B]")->required();
    add_controller_flag(cmd);
    cmd->callback([] {
      auto r = parse_instance_range(range);
      if (!r) fail("scale " + name + ": " + r.error().message);
      auto c = connect_controller(g_controller);
      v1::ScaleRequest req;
      req.set_service(name);
      req.set_min(r->min);
      req.set_max(r->max);
      v1::ScaleResponse resp;
      check(call_active(c, [&](v1::ClusterService::Stub& s, grpc::ClientContext& ctx) { return s.Scale(&ctx, req, &resp); }), c,
            "scale " + name);
      std::printf("service %s: instances %u:%u\n", name.c_str(), r->min, r->max);
    });
  }
  // drain
  {
    static std::string node;
    static bool undo = false;
    auto* cmd = app.add_subcommand("drain", "Move everything off a node (hardware work); --undo to use it again");
    cmd->add_option("node", node, "Node")->required();
    cmd->add_flag("--undo", undo, "Accept work again");
    add_controller_flag(cmd);
    cmd->callback([] {
      auto c = connect_controller(g_controller);
      v1::DrainRequest req;
      req.set_node(node);
      req.set_undo(undo);
      v1::DrainResponse resp;
      check(call_active(c, [&](v1::ClusterService::Stub& s, grpc::ClientContext& ctx) { return s.Drain(&ctx, req, &resp); }), c,
            "drain " + node);
      if (undo) {
        std::printf("node %s: accepting work again\n", node.c_str());
        return;
      }
      std::printf("node %s: draining, %u processes moving\n", node.c_str(), resp.moving());
      // Progress until nothing is left on it.
      for (int i = 0; i < 600; ++i) {
        auto left = list_processes(c, "", node).processes_size();
        std::printf("\r  %d left on %s   ", left, node.c_str());
        std::fflush(stdout);
        if (left == 0) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      std::printf("\nnode %s: drained\n", node.c_str());
    });
  }
  // handover
  {
    static std::string to, binary;
    auto* cmd = app.add_subcommand(
        "handover", "The active controller of a pair stops, and a standby (named, or any) leads at once (no lease to wait out)");
    cmd->add_option("--to", to, "The standby to lead: its address (HOST:PORT) or id (HOST:PID); default any");
    cmd->add_option("--binary", binary,
                    "The old active re-executes this binary as a standby (an upgrade); default: the one it runs");
    add_controller_flag(cmd);
    cmd->callback([] {
      g_controller = resolve_target(g_controller, config_flag()).addresses;
      const auto t0 = std::chrono::steady_clock::now();
      auto c = connect_controller(g_controller);
      v1::HandoverRequest req;
      req.set_to(to);
      req.set_binary(binary);
      v1::HandoverResponse resp;
      auto ctx = call_context(10000);
      check(c.stub->Handover(ctx.get(), req, &resp), c, "handover");
      std::printf("%s (at %s) stopped after term %llu in %lld ms; handed to %s\n", resp.from().c_str(), c.addr.c_str(),
                  static_cast<unsigned long long>(resp.term()), static_cast<long long>(resp.stopped_ms()),
                  resp.to() == "*" ? "any standby" : resp.to().c_str());
      // Who answers now: the first controller that lists the nodes.
      for (int i = 0; i < 100; ++i) {
        auto n = connect_controller(g_controller);
        v1::ListNodesResponse nodes;
        auto lctx = call_context(500);
        if (n.stub->ListNodes(lctx.get(), v1::ListRequest{}, &nodes).ok()) {
          const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
          std::printf("%s leads now (answering %lld ms after the request)\n", n.addr.c_str(), static_cast<long long>(ms));
          return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      fail("handover: no other controller in " + g_controller + " answered within 5 s (is a standby running?)");
    });
  }
  // upgrade
  {
    static std::string binary;
    static bool skip_controllers = false, skip_nodes = false;
    auto* cmd = app.add_subcommand(
        "upgrade", "Rolling upgrade to BINARY: each controller of the pair, then each node's two shims, one at a time, "
                   "with no workload restart");
    cmd->add_option("--binary", binary, "The new rackos binary (an absolute path, present on every machine)")->required();
    cmd->add_flag("--skip-controllers", skip_controllers, "Only the nodes");
    cmd->add_flag("--skip-nodes", skip_nodes, "Only the controllers");
    add_controller_flag(cmd);
    cmd->callback([] {
      if (binary.empty() || binary.front() != '/') fail("upgrade: --binary must be an absolute path");
      if (::access(binary.c_str(), X_OK) != 0) fail("upgrade: " + binary + " is not an executable file here");
      g_controller = resolve_target(g_controller, config_flag()).addresses;
      const auto t0 = std::chrono::steady_clock::now();
      auto since = [&] {
        return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count()) + " ms";
      };
      // Who answers ListNodes now (the active), within `ms`.
      auto active = [&](int ms) -> std::optional<ControllerClient> {
        const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
        while (std::chrono::steady_clock::now() < end) {
          auto c = connect_controller(g_controller);
          v1::ListNodesResponse nodes;
          auto ctx = call_context(1000);
          if (c.stub->ListNodes(ctx.get(), v1::ListRequest{}, &nodes).ok()) return c;
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        return std::nullopt;
      };
      // 1. Controllers: each hands over and comes back on the binary as a standby.
      const size_t controllers = std::count(g_controller.begin(), g_controller.end(), ',') + 1;
      if (!skip_controllers) {
        if (controllers < 2) {
          std::printf("controllers: one address given (%s): not a pair, left alone (restart it on the new binary yourself)\n",
                      g_controller.c_str());
        }
        for (size_t round = 0; controllers >= 2 && round < controllers; ++round) {
          auto c = active(10000);
          if (!c) fail("upgrade: no controller in " + g_controller + " answers");
          v1::HandoverRequest req;
          req.set_binary(binary);
          v1::HandoverResponse resp;
          auto ctx = call_context(10000);
          check(c->stub->Handover(ctx.get(), req, &resp), *c, "upgrade: handover of " + c->addr);
          auto next = active(10000);
          if (!next) fail("upgrade: no controller leads after " + c->addr + " handed over");
          std::printf("controller %s: handed over (term %llu) and restarting on %s as a standby; %s leads  %s\n",
                      c->addr.c_str(), static_cast<unsigned long long>(resp.term()), binary.c_str(), next->addr.c_str(),
                      since().c_str());
          std::fflush(stdout);
          std::this_thread::sleep_for(std::chrono::milliseconds(300));  // it is back as a standby before the next round
        }
      }
      if (skip_nodes) return;
      // 2. Nodes, one at a time: the active shim hands over to the standby and
      //    comes back on the binary; then the same for the other one.
      auto c = active(10000);
      if (!c) fail("upgrade: no controller answers");
      v1::ListNodesResponse nodes;
      auto lctx = call_context();
      check(c->stub->ListNodes(lctx.get(), v1::ListRequest{}, &nodes), *c, "upgrade: list nodes");
      int upgraded = 0, restarted_total = 0;
      for (const auto& n : nodes.nodes()) {
        if (n.state() != v1::READY) {
          std::printf("node %s: %s, skipped\n", n.name().c_str(), v1::NodeState_Name(n.state()).c_str());
          continue;
        }
        auto pids = [&](ControllerClient& cc) {
          std::map<std::string, int64_t> out;
          v1::ListRequest req;
          req.set_node(n.name());
          v1::ListProcessesResponse ps;
          auto ctx = call_context();
          if (cc.stub->ListProcesses(ctx.get(), req, &ps).ok()) {
            for (const auto& p : ps.processes()) {
              if (p.state() == v1::RUNNING) out[p.id()] = p.pid();
            }
          }
          return out;
        };
        const auto before = pids(*c);
        for (int shim = 1; shim <= 2; ++shim) {
          c = active(10000);
          if (!c) fail("upgrade: no controller answers");
          v1::UpgradeNodeRequest req;
          req.set_node(n.name());
          req.set_binary(binary);
          v1::UpgradeNodeResponse resp;
          auto ctx = call_context();
          check(c->stub->UpgradeNode(ctx.get(), req, &resp), *c, "upgrade: node " + n.name());
          // Registered again (its standby took over) and ready.
          bool back = false;
          for (int i = 0; i < 200 && !back; ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            v1::ListRequest one;
            one.set_node(n.name());
            v1::ListNodesResponse now;
            auto nctx = call_context(1000);
            if (c->stub->ListNodes(nctx.get(), one, &now).ok() && now.nodes_size() == 1) {
              back = now.nodes(0).incarnation() > resp.incarnation() && now.nodes(0).state() == v1::READY;
            }
          }
          if (!back) fail("upgrade: node " + n.name() + " did not register again within 10 s (see its shim's log)");
          std::printf("node %s: shim %d of 2 handed over; the other leads, it comes back on the binary  %s\n",
                      n.name().c_str(), shim, since().c_str());
          std::fflush(stdout);
          std::this_thread::sleep_for(std::chrono::milliseconds(300));  // back as the standby before the next
        }
        const auto after = pids(*c);
        int restarted = 0;
        for (const auto& [id, pid] : before) {
          auto it = after.find(id);
          restarted += it == after.end() || it->second != pid;
        }
        restarted_total += restarted;
        ++upgraded;
        std::printf("node %s: upgraded; %zu workloads, %d restarted\n", n.name().c_str(), before.size(), restarted);
      }
      std::printf("upgraded %d nodes in %s; workloads restarted: %d\n", upgraded, since().c_str(), restarted_total);
      if (restarted_total > 0) std::exit(1);
    });
  }
  // node kill
  {
    static std::string node;
    auto* grp = app.add_subcommand("node", "Node fault injection");
    auto* cmd = grp->add_subcommand("kill", "Power-cut a node: its shims and every workload on it die at once");
    grp->require_subcommand(1);
    cmd->add_option("node", node, "Node")->required();
    add_controller_flag(cmd);
    cmd->callback([] {
      auto c = connect_controller(g_controller);
      v1::DrainRequest req;
      req.set_node(node);
      v1::DrainResponse resp;
      auto ctx = call_context();
      check(c.stub->KillNode(ctx.get(), req, &resp), c, "node kill " + node);
      std::printf("node %s: power cut; %u processes were on it\n", node.c_str(), resp.moving());
    });
  }
  // events
  {
    static bool follow = false;
    static uint64_t since = 0;
    auto* cmd = app.add_subcommand("events", "The controller's event log (node deaths, placements, restarts...)");
    cmd->add_flag("-f,--follow", follow, "Keep printing new events");
    cmd->add_option("--since", since, "Only events after this sequence number");
    add_controller_flag(cmd);
    cmd->callback([] {
      auto c = connect_controller(g_controller);
      v1::WatchRequest req;
      req.set_since(since);
      grpc::ClientContext ctx;
      if (!follow) ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(700));
      auto reader = c.stub->Watch(&ctx, req);
      v1::ClusterEvent e;
      while (reader->Read(&e)) {
        std::time_t t = static_cast<std::time_t>(e.time_ms() / 1000);
        char when[32];
        std::strftime(when, sizeof when, "%H:%M:%S", std::localtime(&t));
        std::printf("%6llu %s.%03lld %-18s %-16s %s\n", static_cast<unsigned long long>(e.seq()), when,
                    static_cast<long long>(e.time_ms() % 1000), e.kind().c_str(), e.subject().c_str(),
                    e.message().c_str());
        std::fflush(stdout);
      }
      auto st = reader->Finish();
      if (!follow && st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) return;  // printed what there was
      check(st, c, "events");
    });
  }
}

}  // namespace rackos::cli

// `rackos plan -f FILE --nodes N`: a dry run of the scheduler and the node
// allocator. Places every service's starting instances on N identical nodes
// (spread over two racks) and prints where each would run, with its envelope,
// and what could not be placed and why. Nothing is started.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "cli/commands.h"
#include "core/allocator.h"
#include "core/quantity.h"
#include "core/scheduler.h"
#include "core/spec_parse.h"

namespace rackos::cli {
namespace {

struct PlanArgs {
  std::string file;
  int nodes = 4;
  std::string node_cpu = "4";
  std::string node_memory = "8Gi";
};

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "rackos plan: %s\n", msg.c_str());
  std::exit(1);
}

void run_plan(const PlanArgs& a) {
  std::ifstream in(a.file);
  if (!in) die("cannot read " + a.file);
  std::stringstream text;
  text << in.rdbuf();
  auto specs = parse_services_yaml(text.str());
  if (!specs) {
    std::istringstream lines(specs.error().message);
    std::string line;
    while (std::getline(lines, line)) std::fprintf(stderr, "%s: %s\n", a.file.c_str(), line.c_str());
    std::exit(1);
  }
  auto cpu = parse_cpu_millis(a.node_cpu);
  if (!cpu) die("--node-cpu: " + cpu.error().message);
  auto mem = parse_memory_bytes(a.node_memory);
  if (!mem) die("--node-memory: " + mem.error().message);
  if (a.nodes < 1 || a.nodes > 10000) die("--nodes " + std::to_string(a.nodes) + " must be between 1 and 10000");

  ClusterState state;
  for (int i = 1; i <= a.nodes; ++i) {
    NodeSpec n{.name = "node-" + std::to_string(i), .cpu_millis = *cpu, .memory_bytes = *mem};
    n.labels["rack"] = "rack-" + std::to_string(1 + (i - 1) % 2);
    if (auto r = state.add_node(n, 0); !r) die(r.error().message);
  }
  std::vector<ProcessId> pending;
  for (const auto& spec : *specs) {
    auto sid = state.add_service(spec);
    if (!sid) die(sid.error().message);
    for (uint32_t i = 0; i < std::max<uint32_t>(spec.instances.min, 1); ++i) pending.push_back(state.create_process(*sid, 0));
  }
  auto plan = schedule(state, pending, {});

  std::printf("%-16s %-8s %-22s %-26s %s\n", "PROCESS", "NODE", "CPU min:max:burst", "MEMORY min:max:burst", "PRIORITY");
  for (const auto& p : plan.placements) {
    const auto& r = state.process(p.process);
    const auto& s = state.service(r.service).spec;
    const auto& c = s.envelope.cpu_millis;
    const auto& m = s.envelope.memory_bytes;
    std::string name = s.name + "-" + std::to_string(r.instance);
    std::string cpu_s = format_cpu_millis(c.min) + ":" + format_cpu_millis(c.max) + ":" + format_cpu_millis(c.burst);
    std::string mem_s = format_memory_bytes(m.min) + ":" + format_memory_bytes(m.max) + ":" + format_memory_bytes(m.burst);
    std::printf("%-16s %-8s %-22s %-26s %s\n", name.c_str(), state.node(p.node).name.c_str(), cpu_s.c_str(), mem_s.c_str(),
                std::string(to_string(s.priority)).c_str());
  }
  for (const auto& u : plan.unplaceable) {
    const auto& r = state.process(u.process);
    std::printf("%-16s %-8s %s\n", (state.service(r.service).spec.name + "-" + std::to_string(r.instance)).c_str(),
                "-", ("unplaceable: " + u.reason).c_str());
  }
  // Each node's share if every process wanted its whole max at once.
  std::printf("\n%-8s %-16s %-20s %s\n", "NODE", "CPU Σmin/cap", "MEMORY Σmin/cap", "CPU if all busy (target per process)");
  for (const Node& n : state.nodes()) {
    std::vector<AllocInput> ins;
    for (ProcessId p : n.processes) {
      const auto& r = state.process(p);
      const auto& s = state.service(r.service).spec;
      AllocInput ai{.id = p, .priority = s.priority, .envelope = s.envelope};
      ai.cpu_demand_millis = s.envelope.cpu_millis.burst;
      ins.push_back(ai);
    }
    auto alloc = allocate_node(n.capacity.cpu_millis, n.capacity.memory_bytes, ins, 0, {});
    std::string targets;
    for (const auto& al : alloc.processes) {
      const auto& r = state.process(al.id);
      targets += state.service(r.service).spec.name + "-" + std::to_string(r.instance) + "=" +
                 format_cpu_millis(al.cpu_target_millis) + " ";
    }
    std::string cpu_s = format_cpu_millis(n.reserved.cpu_millis) + "/" + format_cpu_millis(n.capacity.cpu_millis);
    std::string mem_s = format_memory_bytes(n.reserved.memory_bytes) + "/" + format_memory_bytes(n.capacity.memory_bytes);
    std::printf("%-8s %-16s %-20s %s\n", n.name.c_str(), cpu_s.c_str(), mem_s.c_str(), targets.c_str());
  }
  if (!plan.unplaceable.empty()) std::exit(3);
}

}  // namespace

void add_plan(CLI::App& app) {
  static PlanArgs args;
  auto* cmd = app.add_subcommand("plan", "Dry-run the scheduler and allocator: where services would run, nothing started");
  cmd->add_option("-f,--file", args.file, "YAML file with one or more services")->required();
  cmd->add_option("--nodes", args.nodes, "Number of identical nodes")->capture_default_str();
  cmd->add_option("--node-cpu", args.node_cpu, "CPU of each node (cores or millicores)")->capture_default_str();
  cmd->add_option("--node-memory", args.node_memory, "Memory of each node")->capture_default_str();
  cmd->callback([] { run_plan(args); });
}

}  // namespace rackos::cli

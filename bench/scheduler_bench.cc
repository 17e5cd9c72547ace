// Scheduler throughput: place 100,000 processes (1,000 services × 100
// instances, mixed envelopes and priorities) on 10,000 nodes in batches, on
// one core; then kill a loaded node and time the rescheduling of its processes.
// Last line: scheduler_placements_per_s: N
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "bench/bench_cluster.h"
#include "core/reschedule_order.h"
#include "core/scheduler.h"

using namespace rackos;
using Clock = std::chrono::steady_clock;

static double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

int main(int argc, char** argv) {
  int nodes = argc > 1 ? std::atoi(argv[1]) : 10'000;
  int services = argc > 2 ? std::atoi(argv[2]) : 1'000;
  int instances = argc > 3 ? std::atoi(argv[3]) : 100;
  size_t batch = argc > 4 ? static_cast<size_t>(std::atoi(argv[4])) : 1'000;

  ClusterState state;
  bench::add_nodes(state, {.nodes = nodes});
  auto procs = bench::add_services(state, {.services = services, .instances = instances});
  std::printf("cluster: %d nodes, %zu processes, batch %zu\n", nodes, procs.size(), batch);

  SchedulerConfig cfg;
  std::vector<double> batch_ms;
  size_t placed = 0, unplaced = 0;
  auto t0 = Clock::now();
  for (size_t i = 0; i < procs.size(); i += batch) {
    auto b0 = Clock::now();
    size_t n = std::min(batch, procs.size() - i);
    auto plan = schedule(state, std::span<const ProcessId>(procs.data() + i, n), cfg);
    batch_ms.push_back(seconds_since(b0) * 1000.0);
    placed += plan.placements.size();
    unplaced += plan.unplaceable.size();
  }
  double total_s = seconds_since(t0);
  std::sort(batch_ms.begin(), batch_ms.end());
  std::printf("placed %zu, unplaceable %zu in %.3f s\n", placed, unplaced, total_s);
  std::printf("batch of %zu: p50 %.2f ms, p99 %.2f ms\n", batch, batch_ms[batch_ms.size() / 2],
              batch_ms[batch_ms.size() * 99 / 100]);

  // Spread check: how many services have two instances on one node.
  size_t doubled = 0;
  for (size_t s = 0; s < state.service_count(); ++s) {
    for (const auto& [node, count] : state.service(static_cast<ServiceId>(s)).per_node) doubled += count > 1;
  }
  std::printf("service instances sharing a node: %zu\n", doubled);

  // A node dies: its processes are rescheduled at once.
  NodeId victim = 0;
  for (const Node& n : state.nodes()) {
    if (n.processes.size() > state.node(victim).processes.size()) victim = n.id;
  }
  NodeHealth dead = state.node(victim).health;
  dead.liveness = NodeState::dead;
  state.update_health(victim, dead);
  auto lost = take_lost_processes(state, victim, 1);
  auto r0 = Clock::now();
  auto plan = schedule(state, lost, cfg);
  std::printf("node death: %zu lost processes rescheduled in %.3f ms (%zu placed, %zu preemptions)\n", lost.size(),
              seconds_since(r0) * 1000.0, plan.placements.size(), plan.preemptions.size());

  std::string broken = state.check_invariants();
  if (!broken.empty()) {
    std::fprintf(stderr, "invariant broken: %s\n", broken.c_str());
    return 1;
  }
  std::printf("scheduler_placements_per_s: %.0f\n", static_cast<double>(placed) / total_s);
  return 0;
}

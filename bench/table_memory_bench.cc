// Controller memory per process: 10,000 nodes and 1,000,000 processes placed
// (10,000 services × 100 instances), counting every heap byte the cluster
// state holds for them: records, per-node and per-service lists, spread counts.
// Measured with mallinfo2 before and after. Last line: table_bytes_per_process: N
#include <malloc.h>

#include <cstdio>
#include <cstdlib>

#include "bench/bench_cluster.h"
#include "core/scheduler.h"

using namespace rackos;

// In-use heap: small blocks from the arenas plus large blocks mapped on their own.
static size_t heap_bytes() {
  struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

int main(int argc, char** argv) {
  int services = argc > 1 ? std::atoi(argv[1]) : 10'000;
  int instances = argc > 2 ? std::atoi(argv[2]) : 100;

  ClusterState state;
  bench::add_nodes(state, {.nodes = 10'000});
  const size_t before = heap_bytes();
  auto procs = bench::add_services(state, {.services = services,
                                           .instances = instances,
                                           .cpu_min_lo = 50,
                                           .cpu_min_hi = 300,
                                           .mem_min_lo = 64ll << 20,
                                           .mem_min_hi = 1ll << 30});
  SchedulerConfig cfg;
  size_t placed = 0;
  for (size_t i = 0; i < procs.size(); i += 10'000) {
    size_t n = std::min<size_t>(10'000, procs.size() - i);
    placed += schedule(state, std::span<const ProcessId>(procs.data() + i, n), cfg).placements.size();
  }
  procs.clear();
  procs.shrink_to_fit();
  const size_t after = heap_bytes();
  const size_t count = state.processes().size();
  std::printf("processes in table: %zu (placed %zu) on %zu nodes, %zu services\n", count, placed, state.node_count(),
              state.service_count());
  std::printf("heap for processes and services: %.1f MiB (table records alone %.1f MiB)\n",
              static_cast<double>(after - before) / (1 << 20),
              static_cast<double>(state.processes().bytes_used()) / (1 << 20));
  std::printf("table_bytes_per_process: %zu\n", (after - before) / count);
  return 0;
}

// Synthetic cluster generation for benchmarks (see bench_cluster.h).
#include "bench/bench_cluster.h"

#include <cstdio>
#include <cstdlib>
#include <random>

namespace rackos::bench {

void add_nodes(ClusterState& state, const ClusterShape& shape) {
  std::mt19937_64 rng(shape.seed);
  const int64_t cores[] = {16, 32, 64, 96};
  const int64_t gib[] = {64, 128, 256, 512};
  for (int i = 0; i < shape.nodes; ++i) {
    NodeSpec n;
    n.name = "n" + std::to_string(i);
    size_t k = rng() % 4;
    n.cpu_millis = cores[k] * 1000;
    n.memory_bytes = gib[k] << 30;
    int rack = i / shape.nodes_per_rack;
    n.labels["rack"] = "r" + std::to_string(rack);
    n.labels["zone"] = "z" + std::to_string(rack / shape.racks_per_zone);
    auto r = state.add_node(n, 0);
    if (!r) {
      std::fprintf(stderr, "bench: %s\n", r.error().message.c_str());
      std::exit(1);
    }
  }
}

std::vector<ProcessId> add_services(ClusterState& state, const ServiceShape& shape) {
  std::mt19937_64 rng(shape.seed);
  std::vector<ProcessId> procs;
  procs.reserve(static_cast<size_t>(shape.services) * static_cast<size_t>(shape.instances));
  const PriorityClass classes[] = {PriorityClass::batch, PriorityClass::normal, PriorityClass::normal, PriorityClass::high};
  for (int s = 0; s < shape.services; ++s) {
    ServiceSpec spec;
    spec.name = "svc-" + std::to_string(s);
    spec.command = {"/bin/true"};
    int64_t cpu = shape.cpu_min_lo + static_cast<int64_t>(rng() % static_cast<uint64_t>(shape.cpu_min_hi - shape.cpu_min_lo + 1));
    int64_t mem = shape.mem_min_lo + static_cast<int64_t>(rng() % static_cast<uint64_t>(shape.mem_min_hi - shape.mem_min_lo + 1));
    spec.envelope.cpu_millis = {cpu, cpu * 2, cpu * 4};
    spec.envelope.memory_bytes = {mem, mem * 2, mem * 2};
    spec.instances = {static_cast<uint32_t>(shape.instances), static_cast<uint32_t>(shape.instances)};
    spec.priority = classes[rng() % 4];
    auto id = state.add_service(spec);
    if (!id) {
      std::fprintf(stderr, "bench: %s\n", id.error().message.c_str());
      std::exit(1);
    }
    for (int i = 0; i < shape.instances; ++i) procs.push_back(state.create_process(*id, s * 1000 + i));
  }
  return procs;
}

}  // namespace rackos::bench

// Synthetic clusters for the benchmarks: N nodes of mixed sizes in racks and
// zones, and services of mixed envelopes, from a fixed seed.
#pragma once

#include <cstdint>
#include <vector>

#include "core/cluster_state.h"

namespace rackos::bench {

struct ClusterShape {
  int nodes = 10'000;
  int nodes_per_rack = 40;
  int racks_per_zone = 25;
  uint64_t seed = 42;
};

void add_nodes(ClusterState& state, const ClusterShape& shape);

struct ServiceShape {
  int services = 1'000;
  int instances = 100;
  int64_t cpu_min_lo = 100, cpu_min_hi = 2'000;                      // millicores
  int64_t mem_min_lo = 128ll << 20, mem_min_hi = 4ll << 30;          // bytes
  uint64_t seed = 7;
};

// Adds the services and creates (unplaced) their processes; returns them.
std::vector<ProcessId> add_services(ClusterState& state, const ServiceShape& shape);

}  // namespace rackos::bench

// How a trace task becomes a rackos service and a demand over time. Every
// choice is a flag (MappingConfig) and written down in docs/simulator.md:
//   priority   QoS LS and Guaranteed → high, Burstable → normal, BE → batch
//   envelope   min learned (min: auto, the controller's recommender; the
//              default) or request × min_fraction; Guaranteed: min = request;
//              max = request, burst = request × burst_factor
//   CPU demand = request × usage(t) × demand_scale, usage from the PlanetLab
//              series picked for the task from the seed, linearly interpolated
//   memory use = request × (memory_base + (1 − memory_base) × usage(t))
//   GPUs       a countable resource "gpu_milli": a node declares gpus × 1000,
//              a task asks num_gpu × gpu_milli (a share of one GPU is < 1000);
//              ignore_gpus sets the requests aside (where CPU and memory bind)
//   load scale each task replicated K times, copy k named "<name>-k<k>" and so
//              drawing its own usage series
// The static baseline (the way Kubernetes sizes it) is the same task fixed at
// its request: min = max = burst = request, no elasticity.
#pragma once

#include <cstdint>
#include <string>

#include "core/service_spec.h"
#include "sim/traces.h"

namespace rackos::sim {

struct MappingConfig {
  bool learned_min = true;     // min: auto (else min_fraction)
  bool ignore_gpus = false;
  double min_fraction = 0.25;
  double burst_factor = 2.0;
  double demand_scale = 1.0;
  double memory_base = 0.5;
};

ServiceSpec map_pod(const TracePod& pod, const MappingConfig& cfg, bool baseline);

// Each task K times (K ≥ 1), the copies after the first named "<name>-k<k>".
std::vector<TracePod> scale_load(const std::vector<TracePod>& pods, int k);

// The usage series for a task: a deterministic pick from the seed and its name.
size_t series_for(const std::string& pod_name, uint64_t seed, size_t series_count);

// Utilization in [0, 1] of `series` at time t (seconds from the series' start),
// linear between samples, wrapping around the series' length.
double usage_at(const UsageSeries& series, int64_t interval_s, double t_s);

}  // namespace rackos::sim

// Trace task → service and demand (see workload_map.h).
#include "sim/workload_map.h"

#include <algorithm>
#include <cmath>

#include "core/recommender.h"

namespace rackos::sim {

ServiceSpec map_pod(const TracePod& pod, const MappingConfig& cfg, bool baseline) {
  ServiceSpec s;
  s.name = pod.name;
  s.command = {"/bin/true"};
  if (pod.qos == "LS" || pod.qos == "Guaranteed") s.priority = PriorityClass::high;
  else if (pod.qos == "BE") s.priority = PriorityClass::batch;
  else s.priority = PriorityClass::normal;
  // The smallest envelope the controller admits (10m CPU, 4Mi memory).
  const int64_t cpu = std::max<int64_t>(pod.cpu_millis, 10);
  const int64_t mem = std::max<int64_t>(pod.memory_bytes, int64_t{4} << 20);
  if (baseline) {
    s.envelope.cpu_millis = {cpu, cpu, cpu};
    s.envelope.memory_bytes = {mem, mem, mem};
  } else {
    const bool guaranteed = pod.qos == "Guaranteed";
    auto frac = [&](int64_t v, double f) { return std::max<int64_t>(1, static_cast<int64_t>(std::llround(static_cast<double>(v) * f))); };
    s.envelope.cpu_millis = {guaranteed ? cpu : std::min(cpu, frac(cpu, cfg.min_fraction)), cpu,
                             std::max(cpu, frac(cpu, cfg.burst_factor))};
    s.envelope.memory_bytes = {guaranteed ? mem : std::min(mem, frac(mem, cfg.min_fraction)), mem,
                               std::max(mem, frac(mem, cfg.burst_factor))};
    if (cfg.learned_min && !guaranteed) {
      s.auto_cpu = LearnedMin{true, 0, 0};
      s.auto_memory = LearnedMin{true, 0, 0};
      s.envelope.cpu_millis.min = initial_learned_min(s.auto_cpu, cpu);
      s.envelope.memory_bytes.min = initial_learned_min(s.auto_memory, mem);
    }
  }
  if (pod.num_gpu > 0 && !cfg.ignore_gpus) s.resources["gpu_milli"] = pod.num_gpu * (pod.gpu_milli > 0 ? std::min<int64_t>(pod.gpu_milli, 1000) : 1000);
  s.instances = {1, 1};
  return s;
}

std::vector<TracePod> scale_load(const std::vector<TracePod>& pods, int k) {
  if (k <= 1) return pods;
  std::vector<TracePod> out;
  out.reserve(pods.size() * static_cast<size_t>(k));
  for (const auto& p : pods) {
    for (int c = 0; c < k; ++c) {
      TracePod copy = p;
      if (c > 0) copy.name += "-k" + std::to_string(c);
      out.push_back(std::move(copy));
    }
  }
  return out;
}

size_t series_for(const std::string& pod_name, uint64_t seed, size_t series_count) {
  // FNV-1a over the name, mixed with the seed (splitmix64 finish).
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : pod_name) {
    h ^= c;
    h *= 1099511628211ull;
  }
  uint64_t z = h + seed * 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return static_cast<size_t>(z % series_count);
}

double usage_at(const UsageSeries& series, int64_t interval_s, double t_s) {
  const size_t n = series.percent.size();
  if (n == 0) return 0;
  double pos = t_s / static_cast<double>(interval_s);
  double wrapped = std::fmod(pos, static_cast<double>(n));
  if (wrapped < 0) wrapped += static_cast<double>(n);
  size_t i = static_cast<size_t>(wrapped);
  double frac = wrapped - static_cast<double>(i);
  double a = series.percent[i % n], b = series.percent[(i + 1) % n];
  return (a + (b - a) * frac) / 100.0;
}

}  // namespace rackos::sim

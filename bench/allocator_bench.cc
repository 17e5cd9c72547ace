// Google Benchmark of the node allocator: one run over N processes on a node,
// as the shim does every loop.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "core/allocator.h"

using namespace rackos;

static void BM_AllocateNode(benchmark::State& st) {
  const size_t n = static_cast<size_t>(st.range(0));
  std::mt19937_64 rng(1);
  std::vector<AllocInput> in(n);
  int64_t cpu_min_total = 0;
  for (size_t i = 0; i < n; ++i) {
    auto& p = in[i];
    p.id = ProcessId::make(static_cast<uint32_t>(i), 1);
    p.priority = static_cast<PriorityClass>(rng() % 4);
    int64_t mn = 10 + static_cast<int64_t>(rng() % 50);
    cpu_min_total += mn;
    p.envelope.cpu_millis = {mn, mn * 4, mn * 8};
    p.envelope.memory_bytes = {64 << 20, 256 << 20, 512 << 20};
    p.cpu_demand_millis = static_cast<int64_t>(rng() % 400);
    p.cpu_used_millis = p.cpu_demand_millis;
    p.memory_used_bytes = static_cast<int64_t>(rng() % (300 << 20));
  }
  int64_t now = 0;
  for (auto _ : st) {
    now += 50;
    auto out = allocate_node(cpu_min_total + 8000, int64_t{256} << 30, in, now, AllocatorConfig{});
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_AllocateNode)->Arg(10)->Arg(100)->Arg(1000);

BENCHMARK_MAIN();

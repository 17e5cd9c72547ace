// The trace formats the simulator reads (see ../shared/traces/README.md):
//   machines  sn, cpu_milli, memory_mib, gpu, model          (Alibaba openb nodes.csv)
//   pods      name, cpu_milli, memory_mib, num_gpu, gpu_milli, gpu_spec, qos,
//             pod_phase, creation_time, deletion_time, scheduled_time (pods.csv)
//   usage     vm, s0..sN: CPU utilization in percent, one sample every 5 minutes
//             (PlanetLab 20110303.csv)
// Any file in these formats is accepted; every bad cell is one error naming the
// file, the line and the column. Columns are found by name, not position.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"

namespace rackos::sim {

struct TraceMachine {
  std::string name;
  int64_t cpu_millis = 0;
  int64_t memory_bytes = 0;
  int64_t gpus = 0;
  std::string gpu_model;
};

struct TracePod {
  std::string name;
  int64_t cpu_millis = 0;          // requested
  int64_t memory_bytes = 0;        // requested
  int64_t num_gpu = 0;
  int64_t gpu_milli = 0;           // < 1000: a share of one GPU
  std::string qos;                 // LS, BE, Burstable, Guaranteed
  int64_t creation_s = 0;
  int64_t deletion_s = 0;          // 0 or missing: still running at the trace's end
};

struct UsageSeries {
  std::string name;
  std::vector<uint8_t> percent;    // one sample per interval
};

struct UsageTable {
  int64_t interval_s = 300;
  std::vector<UsageSeries> series;
};

Result<std::vector<TraceMachine>> read_machines(const std::string& path);
Result<std::vector<TracePod>> read_pods(const std::string& path);
Result<UsageTable> read_usage(const std::string& path);

// The same from text in memory (tests).
Result<std::vector<TraceMachine>> parse_machines(const std::string& name, const std::string& text);
Result<std::vector<TracePod>> parse_pods(const std::string& name, const std::string& text);
Result<UsageTable> parse_usage(const std::string& name, const std::string& text);

}  // namespace rackos::sim

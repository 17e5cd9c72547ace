// The learned-min rule's flags (core/recommender.h), shared by `rackos
// controller`, `rackos up` (which passes them on) and `rackos sim`, so that
// the simulator runs the controller's rule with the controller's defaults.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "core/recommender.h"

namespace rackos::cli {

struct LearnFlags {
  std::string half_life = "30m", lower_after = "5m", warmup = "10m";
  double cpu_percentile = 50, memory_percentile = 99, margin = 10;

  void add_to(CLI::App* cmd);
  // Fills `cfg`; an error names the flag (empty: fine).
  std::string apply(RecommenderConfig& cfg) const;
  // The same flags as arguments (for a controller started by `rackos up`).
  std::vector<std::string> args() const;
};

}  // namespace rackos::cli

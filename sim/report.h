// Reporting a simulation: the JSON document (every figure, deterministic:
// sorted keys, no wall-clock values), the human summary table, and an SVG plot
// of capacity, allocation, use and demand over time with the fault events.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "sim/simulator.h"

namespace rackos::sim {

nlohmann::json figures_json(const SimResult& r, std::optional<int> nodes_needed);
// The figures of a run at the fewest machines (--find-min-nodes): the contended run.
nlohmann::json contended_json(const SimResult& r);
std::string summary_table(const SimResult& rackos, const SimResult& baseline, std::optional<int> nodes_rackos,
                          std::optional<int> nodes_baseline);
std::string plot_svg(const SimResult& rackos, const SimResult& baseline);

}  // namespace rackos::sim

// Prometheus text exposition for the controller's /metrics: counters and
// histograms with fixed buckets, rendered in the text format (version 0.0.4).
// Plain values; the controller's loop owns them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace rackos::controller {

struct Histogram {
  std::vector<double> bounds;         // upper bounds, ascending (le)
  std::vector<uint64_t> counts;       // per bucket (not cumulative), size bounds+1
  double sum = 0;
  uint64_t count = 0;

  explicit Histogram(std::vector<double> b) : bounds(std::move(b)), counts(bounds.size() + 1, 0) {}
  void observe(double v);
  // The value under which `q` (0..1) of observations fall, read from buckets.
  double quantile(double q) const;
};

// Appends "# HELP", "# TYPE" and the sample lines of one metric.
void render_counter(std::string& out, const std::string& name, const std::string& help, double value);
void render_gauge_family(std::string& out, const std::string& name, const std::string& help, const std::string& label,
                         const std::vector<std::pair<std::string, double>>& values);
void render_histogram(std::string& out, const std::string& name, const std::string& help, const Histogram& h);

}  // namespace rackos::controller

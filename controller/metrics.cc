// Prometheus text rendering (see metrics.h).
#include "controller/metrics.h"

#include <cstdio>

namespace rackos::controller {

namespace {
std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}
}  // namespace

void Histogram::observe(double v) {
  size_t i = 0;
  while (i < bounds.size() && v > bounds[i]) ++i;
  ++counts[i];
  sum += v;
  ++count;
}

double Histogram::quantile(double q) const {
  if (count == 0) return 0;
  const double want = q * static_cast<double>(count);
  uint64_t seen = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    seen += counts[i];
    if (static_cast<double>(seen) >= want) return i < bounds.size() ? bounds[i] : bounds.back();
  }
  return bounds.back();
}

void render_counter(std::string& out, const std::string& name, const std::string& help, double value) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " counter\n" + name + " " + num(value) + "\n";
}

void render_gauge_family(std::string& out, const std::string& name, const std::string& help, const std::string& label,
                         const std::vector<std::pair<std::string, double>>& values) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " gauge\n";
  for (const auto& [l, v] : values) out += name + "{" + label + "=\"" + l + "\"} " + num(v) + "\n";
}

void render_histogram(std::string& out, const std::string& name, const std::string& help, const Histogram& h) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " histogram\n";
  uint64_t cum = 0;
  for (size_t i = 0; i < h.bounds.size(); ++i) {
    cum += h.counts[i];
    out += name + "_bucket{le=\"" + num(h.bounds[i]) + "\"} " + std::to_string(cum) + "\n";
  }
  cum += h.counts.back();
  out += name + "_bucket{le=\"+Inf\"} " + std::to_string(cum) + "\n";
  out += name + "_sum " + num(h.sum) + "\n" + name + "_count " + std::to_string(h.count) + "\n";
}

}  // namespace rackos::controller

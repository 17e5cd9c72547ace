// Simulation reports (see report.h).
#include "sim/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace rackos::sim {

namespace {
double round3(double v) { return std::round(v * 1000.0) / 1000.0; }
}  // namespace

nlohmann::json figures_json(const SimResult& r, std::optional<int> nodes_needed) {
  nlohmann::json j{
      {"nodes", r.nodes},
      {"tasks", r.tasks},
      {"tasks_placed", r.placed},
      {"tasks_unplaceable", r.unplaceable},
      {"lost_processes", r.lost},
      {"lost_rescheduled", r.rescheduled},
      {"lost_unplaceable", r.lost_unplaceable},
      {"failed_nodes_recovered", r.recovery_ms.size()},
      {"false_deaths", r.false_deaths},
      {"fenced_stops", r.fenced_stops},
      {"frozen_processes", r.frozen_ms.size()},
      {"frozen_ms_p99", round3(percentile(r.frozen_ms, 99))},
      {"controller_restarts", r.controller_restarts},
      {"processes_doubled", r.processes_doubled},
      {"processes_lost", r.processes_lost},
      {"store_commits", r.store_commits},
      {"moves", r.moves},
      {"recovery_p50_ms", round3(percentile(r.recovery_ms, 50))},
      {"recovery_p99_ms", round3(percentile(r.recovery_ms, 99))},
      {"recovery_max_ms", round3(percentile(r.recovery_ms, 100))},
      {"scheduling_latency_p50_ms", round3(percentile(r.sched_ms, 50))},
      {"scheduling_latency_p99_ms", round3(percentile(r.sched_ms, 99))},
      {"slack_percent", round3(r.slack_percent)},
      {"unserved_percent", round3(r.unserved_percent)},
      {"utilization_percent", round3(r.utilization_percent)},
      {"allocation_percent", round3(r.allocation_percent)},
      {"memory_overcommit_percent", round3(r.memory_overcommit_percent)},
      {"slack_learned_percent", round3(r.slack_learned_percent)},
      {"slack_fixed_percent", round3(r.slack_fixed_percent)},
      {"fixed_share_percent", round3(r.fixed_share_percent)},
      {"learned_min_raises", r.learned_raises},
      {"learned_min_lowers", r.learned_lowers},
      {"learned_min_moves", r.learned_moves},
      {"invariant_violations", r.violations},
      {"unplaceable_reasons", r.unplaceable_reasons},
  };
  if (nodes_needed) j["nodes_needed"] = *nodes_needed;
  return j;
}

nlohmann::json contended_json(const SimResult& r) {
  const nlohmann::json all = figures_json(r, std::nullopt);
  nlohmann::json j;
  for (const char* k : {"nodes", "slack_percent", "unserved_percent", "utilization_percent", "allocation_percent",
                        "memory_overcommit_percent", "slack_learned_percent", "slack_fixed_percent", "fixed_share_percent",
                        "tasks_unplaceable", "moves", "learned_min_raises", "learned_min_lowers", "learned_min_moves"}) {
    j[k] = all.at(k);
  }
  return j;
}

std::string summary_table(const SimResult& a, const SimResult& b, std::optional<int> na, std::optional<int> nb) {
  std::ostringstream o;
  char line[256];
  auto row = [&](const char* name, const std::string& x, const std::string& y) {
    std::snprintf(line, sizeof line, "%-34s %16s %16s\n", name, x.c_str(), y.c_str());
    o << line;
  };
  auto f = [](double v, const char* unit = "") {
    char b2[64];
    std::snprintf(b2, sizeof b2, "%.1f%s", v, unit);
    return std::string(b2);
  };
  auto n = [](size_t v) { return std::to_string(v); };
  row("", "rackos", "static baseline");
  row("nodes", std::to_string(a.nodes), std::to_string(b.nodes));
  row("tasks in window", n(a.tasks), n(b.tasks));
  row("tasks never placed", n(a.unplaceable), n(b.unplaceable));
  row("CPU slack (allocated - used)", f(a.slack_percent, " %"), f(b.slack_percent, " %"));
  row("  of learned mins / fixed sizes", f(a.slack_learned_percent, " %") + " / " + f(a.slack_fixed_percent, " %"),
      f(b.slack_learned_percent, " %") + " / " + f(b.slack_fixed_percent, " %"));
  row("CPU demand not served", f(a.unserved_percent, " %"), f(b.unserved_percent, " %"));
  row("cluster CPU utilization", f(a.utilization_percent, " %"), f(b.utilization_percent, " %"));
  row("cluster CPU allocated", f(a.allocation_percent, " %"), f(b.allocation_percent, " %"));
  row("memory in use above node capacity", f(a.memory_overcommit_percent, " %"), f(b.memory_overcommit_percent, " %"));
  row("learned mins raised / lowered", n(a.learned_raises) + " / " + n(a.learned_lowers), n(b.learned_raises) + " / " + n(b.learned_lowers));
  row("processes lost to faults", n(a.lost), n(b.lost));
  row("  running again / unplaceable", n(a.rescheduled) + " / " + n(a.lost_unplaceable), n(b.rescheduled) + " / " + n(b.lost_unplaceable));
  row("moved to a node with room", n(a.moves), n(b.moves));
  row("live nodes declared dead", n(a.false_deaths), n(b.false_deaths));
  row("processes killed by self-fence", n(a.fenced_stops), n(b.fenced_stops));
  row("at-most-one frozen / p99 frozen", n(a.frozen_ms.size()) + " / " + f(percentile(a.frozen_ms, 99), " ms"),
      n(b.frozen_ms.size()) + " / " + f(percentile(b.frozen_ms, 99), " ms"));
  row("controller restarts", n(static_cast<size_t>(a.controller_restarts)), n(static_cast<size_t>(b.controller_restarts)));
  row("at-most-one processes run twice", n(static_cast<size_t>(a.processes_doubled)), n(static_cast<size_t>(b.processes_doubled)));
  row("processes lost (gone, never rerun)", n(static_cast<size_t>(a.processes_lost)), n(static_cast<size_t>(b.processes_lost)));
  row("recovery p50 (death -> running)", f(percentile(a.recovery_ms, 50), " ms"), f(percentile(b.recovery_ms, 50), " ms"));
  row("recovery p99", f(percentile(a.recovery_ms, 99), " ms"), f(percentile(b.recovery_ms, 99), " ms"));
  row("recovery max", f(percentile(a.recovery_ms, 100), " ms"), f(percentile(b.recovery_ms, 100), " ms"));
  row("controller step p99 (modelled)", f(percentile(a.sched_ms, 99), " ms"), f(percentile(b.sched_ms, 99), " ms"));
  if (na || nb) row("nodes needed (<= 1 % unserved)", na ? std::to_string(*na) : "-", nb ? std::to_string(*nb) : "-");
  row("invariant violations", n(a.violations.size()), n(b.violations.size()));
  for (const auto& [why, count] : a.unplaceable_reasons) o << "rackos: " << count << " task(s) never placed: " << why << "\n";
  for (const auto& [why, count] : b.unplaceable_reasons) o << "baseline: " << count << " task(s) never placed: " << why << "\n";
  return o.str();
}

std::string plot_svg(const SimResult& a, const SimResult& b) {
  const double W = 960, H = 420, L = 70, R = 20, T = 30, B = 50;
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  o << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  if (a.series.empty()) {
    o << "<text x=\"20\" y=\"40\">no samples</text></svg>\n";
    return o.str();
  }
  double t0 = a.series.front().t_s, t1 = a.series.back().t_s;
  if (t1 <= t0) t1 = t0 + 1;
  double ymax = 1;
  for (const auto& s : a.series) ymax = std::max({ymax, s.capacity_cpu, s.allocated_cpu, s.demand_cpu});
  for (const auto& s : b.series) ymax = std::max(ymax, s.allocated_cpu);
  auto X = [&](double t) { return L + (t - t0) / (t1 - t0) * (W - L - R); };
  auto Y = [&](double v) { return H - B - v / ymax * (H - T - B); };
  o << "<text x=\"" << L << "\" y=\"18\" font-size=\"14\">CPU over time (cores): capacity, allocated, used, demand — rackos vs static baseline</text>\n";
  o << "<line x1=\"" << L << "\" y1=\"" << H - B << "\" x2=\"" << W - R << "\" y2=\"" << H - B << "\" stroke=\"#333\"/>\n";
  o << "<line x1=\"" << L << "\" y1=\"" << T << "\" x2=\"" << L << "\" y2=\"" << H - B << "\" stroke=\"#333\"/>\n";
  for (int k = 0; k <= 4; ++k) {
    double v = ymax * k / 4;
    char lbl[32];
    std::snprintf(lbl, sizeof lbl, "%.0f", v / 1000.0);
    o << "<text x=\"" << L - 8 << "\" y=\"" << Y(v) + 4 << "\" text-anchor=\"end\">" << lbl << "</text>\n";
    o << "<line x1=\"" << L << "\" y1=\"" << Y(v) << "\" x2=\"" << W - R << "\" y2=\"" << Y(v) << "\" stroke=\"#eee\"/>\n";
  }
  for (int k = 0; k <= 4; ++k) {
    double t = t0 + (t1 - t0) * k / 4;
    char lbl[32];
    std::snprintf(lbl, sizeof lbl, "%.1f h", (t - t0) / 3600.0);
    o << "<text x=\"" << X(t) << "\" y=\"" << H - B + 18 << "\" text-anchor=\"middle\">" << lbl << "</text>\n";
  }
  auto line = [&](const std::vector<SimSample>& ss, double SimSample::*field, const char* color, const char* dash) {
    o << "<polyline fill=\"none\" stroke=\"" << color << "\" stroke-width=\"1.5\"" << (dash[0] ? std::string(" stroke-dasharray=\"") + dash + "\"" : "") << " points=\"";
    for (const auto& s : ss) o << X(s.t_s) << "," << Y(s.*field) << " ";
    o << "\"/>\n";
  };
  line(a.series, &SimSample::capacity_cpu, "#555", "2,2");
  line(b.series, &SimSample::allocated_cpu, "#d62728", "6,3");
  line(a.series, &SimSample::allocated_cpu, "#1f77b4", "");
  line(a.series, &SimSample::demand_cpu, "#ff7f0e", "");
  line(a.series, &SimSample::used_cpu, "#2ca02c", "");
  for (const auto& e : a.events) {
    o << "<line x1=\"" << X(e.t_s) << "\" y1=\"" << T << "\" x2=\"" << X(e.t_s) << "\" y2=\"" << H - B << "\" stroke=\"#9467bd\" stroke-dasharray=\"3,3\"/>\n";
  }
  const char* names[] = {"capacity (live nodes)", "baseline allocated", "rackos allocated", "demand", "rackos used"};
  const char* colors[] = {"#555", "#d62728", "#1f77b4", "#ff7f0e", "#2ca02c"};
  for (int k = 0; k < 5; ++k) {
    double x = L + 10 + k * 170;
    o << "<rect x=\"" << x << "\" y=\"" << H - 22 << "\" width=\"12\" height=\"4\" fill=\"" << colors[k] << "\"/>";
    o << "<text x=\"" << x + 16 << "\" y=\"" << H - 16 << "\">" << names[k] << "</text>\n";
  }
  if (!a.events.empty()) {
    o << "<text x=\"" << X(a.events.front().t_s) + 4 << "\" y=\"" << T + 12 << "\" fill=\"#9467bd\">" << a.events.front().what << "</text>\n";
  }
  o << "</svg>\n";
  return o.str();
}

}  // namespace rackos::sim

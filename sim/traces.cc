// Reading machine, pod and usage traces (see traces.h).
#include "sim/traces.h"

#include <cmath>

#include "sim/csv_table.h"

namespace rackos::sim {
namespace {

constexpr int64_t kMiB = 1 << 20;

Result<std::vector<TraceMachine>> machines_from(const Result<CsvTable>& t) {
  if (!t) return t.error();
  std::vector<TraceMachine> out;
  const bool has_gpu = t->column("gpu") >= 0;
  const bool has_model = t->column("model") >= 0;
  for (size_t r = 0; r < t->rows(); ++r) {
    TraceMachine m;
    m.name = *t->text(r, "sn");
    auto cpu = t->size(r, "cpu_milli");
    if (!cpu) return cpu.error();
    auto mem = t->size(r, "memory_mib");
    if (!mem) return mem.error();
    if (*cpu == 0) return Error{t->name() + " line " + std::to_string(t->line_of(r)) + ", column cpu_milli: a machine needs CPU"};
    if (*mem == 0) return Error{t->name() + " line " + std::to_string(t->line_of(r)) + ", column memory_mib: a machine needs memory"};
    m.cpu_millis = *cpu;
    m.memory_bytes = *mem * kMiB;
    if (has_gpu) {
      auto g = t->size(r, "gpu");
      if (!g) return g.error();
      m.gpus = *g;
    }
    if (has_model) m.gpu_model = *t->text(r, "model");
    out.push_back(std::move(m));
  }
  if (out.empty()) return Error{t->name() + ": no machines"};
  return out;
}

Result<std::vector<TracePod>> pods_from(const Result<CsvTable>& t) {
  if (!t) return t.error();
  std::vector<TracePod> out;
  const bool has_gpu = t->column("num_gpu") >= 0;
  const bool has_gpu_milli = t->column("gpu_milli") >= 0;
  const bool has_deletion = t->column("deletion_time") >= 0;
  for (size_t r = 0; r < t->rows(); ++r) {
    TracePod p;
    p.name = *t->text(r, "name");
    auto cpu = t->size(r, "cpu_milli");
    if (!cpu) return cpu.error();
    auto mem = t->size(r, "memory_mib");
    if (!mem) return mem.error();
    auto created = t->size(r, "creation_time");
    if (!created) return created.error();
    p.cpu_millis = *cpu;
    p.memory_bytes = *mem * kMiB;
    p.creation_s = *created;
    p.qos = *t->text(r, "qos");
    if (has_gpu) {
      auto g = t->size(r, "num_gpu");
      if (!g) return g.error();
      p.num_gpu = *g;
    }
    if (has_gpu_milli) {
      auto gm = t->size(r, "gpu_milli");
      if (!gm) return gm.error();
      p.gpu_milli = *gm;
    }
    if (has_deletion && !t->cell(r, t->column("deletion_time")).empty()) {
      auto d = t->size(r, "deletion_time");
      if (!d) return d.error();
      p.deletion_s = *d;
      if (p.deletion_s != 0 && p.deletion_s < p.creation_s) {
        return Error{t->name() + " line " + std::to_string(t->line_of(r)) + ", column deletion_time: " +
                     std::to_string(p.deletion_s) + " is before creation_time " + std::to_string(p.creation_s)};
      }
    }
    out.push_back(std::move(p));
  }
  return out;
}

Result<UsageTable> usage_from(const Result<CsvTable>& t) {
  if (!t) return t.error();
  UsageTable u;
  std::vector<int> cols;
  for (size_t c = 0; c < t->header().size(); ++c) {
    const std::string& h = t->header()[c];
    if (h.size() > 1 && h[0] == 's' && h.find_first_not_of("0123456789", 1) == std::string::npos) cols.push_back(static_cast<int>(c));
  }
  if (cols.empty()) return Error{t->name() + " line 1: no sample columns (s0, s1, ...)"};
  for (size_t r = 0; r < t->rows(); ++r) {
    UsageSeries s;
    s.name = t->column("vm") >= 0 ? t->cell(r, t->column("vm")) : std::to_string(r);
    for (int c : cols) {
      auto v = t->number(r, t->header()[static_cast<size_t>(c)]);
      if (!v) return v.error();
      if (*v < 0 || *v > 100) {
        return Error{t->name() + " line " + std::to_string(t->line_of(r)) + ", column " + t->header()[static_cast<size_t>(c)] +
                     ": " + std::to_string(*v) + " is not a percentage (0-100)"};
      }
      s.percent.push_back(static_cast<uint8_t>(std::lround(*v)));
    }
    u.series.push_back(std::move(s));
  }
  if (u.series.empty()) return Error{t->name() + ": no usage series"};
  return u;
}

const std::vector<std::string> kMachineCols = {"sn", "cpu_milli", "memory_mib"};
const std::vector<std::string> kPodCols = {"name", "cpu_milli", "memory_mib", "qos", "creation_time"};
const std::vector<std::string> kUsageCols = {};

}  // namespace

Result<std::vector<TraceMachine>> read_machines(const std::string& path) { return machines_from(CsvTable::read(path, kMachineCols)); }
Result<std::vector<TracePod>> read_pods(const std::string& path) { return pods_from(CsvTable::read(path, kPodCols)); }
Result<UsageTable> read_usage(const std::string& path) { return usage_from(CsvTable::read(path, kUsageCols)); }

Result<std::vector<TraceMachine>> parse_machines(const std::string& name, const std::string& text) {
  return machines_from(CsvTable::parse(name, text, kMachineCols));
}
Result<std::vector<TracePod>> parse_pods(const std::string& name, const std::string& text) {
  return pods_from(CsvTable::parse(name, text, kPodCols));
}
Result<UsageTable> parse_usage(const std::string& name, const std::string& text) {
  return usage_from(CsvTable::parse(name, text, kUsageCols));
}

}  // namespace rackos::sim

// cgroup v2: one unified hierarchy. cpu.weight (from the allocator's shares),
// cpu.max, cpu.max.burst, memory.low, memory.high, memory.max; usage from
// cpu.stat and memory.current, OOM kills from memory.events, CPU pressure
// from cpu.pressure (PSI) where the kernel has it.
#include <cstdio>

#include "core/allocator.h"
#include "shim/cgroup_files.h"
#include "shim/cgroups.h"

namespace rackos::shim {
namespace {

std::string max_or(int64_t v) { return v < 0 ? "max" : std::to_string(v); }

class CgroupV2 final : public Cgroups {
 public:
  explicit CgroupV2(std::string root) : root_(std::move(root)) {}

  std::string name() const override { return "cgroup v2"; }

  Result<CgroupPath> create_node(const std::string& node, int64_t cpu_millis, int64_t memory_bytes) override {
    const std::string rackos = root_ + "/rackos";
    const std::string dir = rackos + "/" + node;
    // Controllers must be enabled on every level above a cgroup that uses them.
    if (auto r = write_file(root_ + "/cgroup.subtree_control", "+cpu +memory"); !r) return r.error();
    if (auto r = make_dir(rackos); !r) return r.error();
    if (auto r = write_file(rackos + "/cgroup.subtree_control", "+cpu +memory"); !r) return r.error();
    if (auto r = make_dir(dir); !r) return r.error();
    if (auto r = write_file(dir + "/cgroup.subtree_control", "+cpu +memory"); !r) return r.error();
    if (auto r = write_file(dir + "/cpu.max", std::to_string(cpu_millis * kCfsPeriodUs / 1000) + " " +
                                                  std::to_string(kCfsPeriodUs));
        !r) {
      return r.error();
    }
    if (auto r = write_file(dir + "/memory.max", std::to_string(memory_bytes)); !r) return r.error();
    return CgroupPath{{dir}};
  }

  Result<CgroupPath> create_child(const CgroupPath& parent, const std::string& child) override {
    std::string dir = parent.dirs.at(0) + "/" + child;
    if (auto r = make_dir(dir); !r) return r.error();
    return CgroupPath{{dir}};
  }

  std::vector<std::string> procs_files(const CgroupPath& cg) const override { return {cg.dirs.at(0) + "/cgroup.procs"}; }

  Result<bool> apply(const CgroupPath& cg, const CgroupLimits& l, const std::optional<CgroupLimits>& prev) override {
    auto changed = [&](auto field) { return !prev || (*prev).*field != l.*field; };
    const std::string& d = cg.dirs.at(0);
    if (changed(&CgroupLimits::cpu_shares)) {
      if (auto r = write_file(d + "/cpu.weight", std::to_string(shares_to_weight(l.cpu_shares))); !r) return r;
    }
    if (changed(&CgroupLimits::cpu_quota_millis) || changed(&CgroupLimits::cpu_burst_millis)) {
      int64_t quota_us = l.cpu_quota_millis < 0 ? -1 : std::max<int64_t>(1000, l.cpu_quota_millis * kCfsPeriodUs / 1000);
      int64_t burst_us = quota_us < 0 ? 0 : std::min(quota_us, l.cpu_burst_millis * kCfsPeriodUs / 1000);
      (void)write_file(d + "/cpu.max.burst", "0");  // optional (kernels before 5.14 lack it)
      if (auto r = write_file(d + "/cpu.max", max_or(quota_us) + " " + std::to_string(kCfsPeriodUs)); !r) return r;
      if (burst_us > 0) (void)write_file(d + "/cpu.max.burst", std::to_string(burst_us));  // optional, as above
    }
    if (changed(&CgroupLimits::memory_low_bytes)) {
      if (auto r = write_file(d + "/memory.low", std::to_string(l.memory_low_bytes)); !r) return r;
    }
    if (changed(&CgroupLimits::memory_max_bytes)) {
      if (auto r = write_file(d + "/memory.max", max_or(l.memory_max_bytes)); !r) return r;
    }
    if (changed(&CgroupLimits::memory_high_bytes)) {
      if (auto r = write_file(d + "/memory.high", max_or(l.memory_high_bytes)); !r) return r;
    }
    return true;
  }

  Result<CgroupStats> read_stats(const CgroupPath& cg) const override {
    const std::string& d = cg.dirs.at(0);
    CgroupStats s;
    auto stat = cache_.read(d + "/cpu.stat");
    if (!stat) return stat.error();
    auto keyed = parse_keyed(*stat);
    s.cpu_usage_ns = value_of(keyed, "usage_usec") * 1000;
    s.cpu_throttled_ns = value_of(keyed, "throttled_usec") * 1000;
    auto mem_text = cache_.read(d + "/memory.current");
    if (!mem_text) return mem_text.error();
    auto mem = parse_int(d + "/memory.current", *mem_text);
    if (!mem) return mem.error();
    s.memory_bytes = *mem;
    if (auto psi = cache_.read(d + "/cpu.pressure")) {
      double avg10 = 0;
      if (std::sscanf(psi->c_str(), "some avg10=%lf", &avg10) == 1) s.cpu_pressure_some_avg10 = avg10;
    }
    return s;
  }

  std::string oom_file(const CgroupPath& cg) const override { return cg.dirs.at(0) + "/memory.events"; }
  std::string freeze_file(const CgroupPath& cg) const override { return cg.dirs.at(0) + "/cgroup.freeze"; }

  Result<bool> remove(const CgroupPath& cg) override {
    cache_.forget_dir(cg.dirs.at(0));
    return remove_dir(cg.dirs.at(0));
  }

 private:
  std::string root_;
  mutable FileCache cache_;
};

}  // namespace

std::unique_ptr<Cgroups> make_cgroup_v2(std::string root) { return std::make_unique<CgroupV2>(std::move(root)); }

}  // namespace rackos::shim

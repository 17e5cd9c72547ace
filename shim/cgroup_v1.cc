// cgroup v1: cpu (shares, CFS quota/period/burst), cpuacct (usage) and memory
// (soft limit, limit, usage, oom_control), each its own hierarchy (or co-mounted),
// and the freezer when it is mounted (freezer.state: a lapsed lease freezes).
// v1 has no memory.high: the soft limit carries `min` (reclaim prefers groups
// above it) and the limit carries `burst`; a squeeze below use is reported by
// the allocator as an eviction instead of being throttled by the kernel.
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/allocator.h"
#include "shim/cgroup_files.h"
#include "shim/cgroups.h"

namespace rackos::shim {
namespace {

class CgroupV1 final : public Cgroups {
 public:
  CgroupV1(std::string cpu, std::string cpuacct, std::string memory, std::string freezer)
      : cpu_(std::move(cpu)), cpuacct_(std::move(cpuacct)), memory_(std::move(memory)), freezer_(std::move(freezer)) {}

  std::string name() const override { return "cgroup v1"; }

  Result<CgroupPath> create_node(const std::string& node, int64_t cpu_millis, int64_t memory_bytes) override {
    CgroupPath cg;
    for (const auto& root : roots()) cg.dirs.push_back(root + "/rackos/" + node);
    for (const auto& d : cg.dirs) {
      if (auto r = make_dir(d); !r) return r.error();
    }
    if (auto r = write_file(cpu_dir(cg) + "/cpu.cfs_period_us", std::to_string(kCfsPeriodUs)); !r) return r.error();
    if (auto r = write_file(cpu_dir(cg) + "/cpu.cfs_quota_us", std::to_string(cpu_millis * kCfsPeriodUs / 1000)); !r) {
      return r.error();
    }
    if (auto r = write_file(mem_dir(cg) + "/memory.limit_in_bytes", std::to_string(memory_bytes)); !r) return r.error();
    return cg;
  }

  Result<CgroupPath> create_child(const CgroupPath& parent, const std::string& child) override {
    CgroupPath cg;
    for (const auto& d : parent.dirs) cg.dirs.push_back(d + "/" + child);
    for (const auto& d : cg.dirs) {
      if (auto r = make_dir(d); !r) return r.error();
    }
    if (auto r = write_file(cpu_dir(cg) + "/cpu.cfs_period_us", std::to_string(kCfsPeriodUs)); !r) return r.error();
    return cg;
  }

  std::vector<std::string> procs_files(const CgroupPath& cg) const override {
    std::vector<std::string> out;
    for (const auto& d : cg.dirs) out.push_back(d + "/cgroup.procs");
    return out;
  }

  Result<bool> apply(const CgroupPath& cg, const CgroupLimits& l, const std::optional<CgroupLimits>& prev) override {
    auto changed = [&](auto field) { return !prev || (*prev).*field != l.*field; };
    const std::string cpu = cpu_dir(cg), mem = mem_dir(cg);
    if (changed(&CgroupLimits::cpu_shares)) {
      if (auto r = write_file(cpu + "/cpu.shares", std::to_string(l.cpu_shares)); !r) return r;
    }
    if (changed(&CgroupLimits::cpu_quota_millis) || changed(&CgroupLimits::cpu_burst_millis)) {
      // The kernel wants burst ≤ quota at every step: clear burst, set quota, set burst.
      int64_t quota_us = l.cpu_quota_millis < 0 ? -1 : std::max<int64_t>(1000, l.cpu_quota_millis * kCfsPeriodUs / 1000);
      int64_t burst_us = quota_us < 0 ? 0 : std::min(quota_us, l.cpu_burst_millis * kCfsPeriodUs / 1000);
      if (has_burst_) (void)write_file(cpu + "/cpu.cfs_burst_us", "0");  // best effort: a fresh cgroup has 0
      if (auto r = write_file(cpu + "/cpu.cfs_quota_us", std::to_string(quota_us)); !r) return r;
      if (has_burst_ && burst_us > 0) {
        if (auto r = write_file(cpu + "/cpu.cfs_burst_us", std::to_string(burst_us)); !r) has_burst_ = false;
      }
    }
    if (changed(&CgroupLimits::memory_low_bytes)) {
      if (auto r = write_file(mem + "/memory.soft_limit_in_bytes", std::to_string(l.memory_low_bytes)); !r) return r;
    }
    if (changed(&CgroupLimits::memory_max_bytes)) {
      std::string v = l.memory_max_bytes < 0 ? "-1" : std::to_string(l.memory_max_bytes);
      if (auto r = write_file(mem + "/memory.limit_in_bytes", v); !r) return r;
    }
    return true;
  }

  Result<CgroupStats> read_stats(const CgroupPath& cg) const override {
    CgroupStats s;
    const std::string usage_path = acct_dir(cg) + "/cpuacct.usage";
    auto usage_text = cache_.read(usage_path);
    if (!usage_text) return usage_text.error();
    auto usage = parse_int(usage_path, *usage_text);
    if (!usage) return usage.error();
    s.cpu_usage_ns = *usage;
    auto stat = cache_.read(cpu_dir(cg) + "/cpu.stat");
    if (!stat) return stat.error();
    s.cpu_throttled_ns = value_of(parse_keyed(*stat), "throttled_time");
    const std::string mem_path = mem_dir(cg) + "/memory.usage_in_bytes";
    auto mem_text = cache_.read(mem_path);
    if (!mem_text) return mem_text.error();
    auto mem = parse_int(mem_path, *mem_text);
    if (!mem) return mem.error();
    s.memory_bytes = *mem;
    return s;
  }

  std::string oom_file(const CgroupPath& cg) const override { return mem_dir(cg) + "/memory.oom_control"; }

  std::string freeze_file(const CgroupPath& cg) const override {
    if (freezer_.empty()) return {};
    const size_t i = index_of(freezer_);
    return i < cg.dirs.size() ? cg.dirs[i] + "/freezer.state" : std::string();  // a cgroup made before the freezer was used
  }

  Result<bool> remove(const CgroupPath& cg) override {
    for (const auto& d : cg.dirs) cache_.forget_dir(d);
    for (const auto& d : cg.dirs) {
      if (auto r = remove_dir(d); !r) return r;
    }
    return true;
  }

 private:
  // Hierarchies in a fixed order, co-mounted ones once: cpu, cpuacct, memory.
  std::vector<std::string> roots() const {
    std::vector<std::string> r{cpu_};
    if (cpuacct_ != cpu_) r.push_back(cpuacct_);
    if (memory_ != cpu_ && memory_ != cpuacct_) r.push_back(memory_);
    if (!freezer_.empty() && freezer_ != cpu_ && freezer_ != cpuacct_ && freezer_ != memory_) r.push_back(freezer_);
    return r;
  }
  size_t index_of(const std::string& root) const {
    auto r = roots();
    return static_cast<size_t>(std::find(r.begin(), r.end(), root) - r.begin());
  }
  std::string cpu_dir(const CgroupPath& cg) const { return cg.dirs[index_of(cpu_)]; }
  std::string acct_dir(const CgroupPath& cg) const { return cg.dirs[index_of(cpuacct_)]; }
  std::string mem_dir(const CgroupPath& cg) const { return cg.dirs[index_of(memory_)]; }

  std::string cpu_, cpuacct_, memory_, freezer_;  // freezer_ empty: not mounted
  mutable FileCache cache_;
  bool has_burst_ = true;  // cpu.cfs_burst_us exists on kernels ≥ 5.14
};

}  // namespace

std::unique_ptr<Cgroups> make_cgroup_v1(std::string cpu_root, std::string cpuacct_root, std::string memory_root,
                                        std::string freezer_root) {
  return std::make_unique<CgroupV1>(std::move(cpu_root), std::move(cpuacct_root), std::move(memory_root),
                                    std::move(freezer_root));
}

}  // namespace rackos::shim

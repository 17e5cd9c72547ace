// Finding the cgroup hierarchies from /proc/self/mountinfo and choosing the
// implementation (see cgroups.h).
#include <unistd.h>

#include <algorithm>
#include <sstream>

#include "shim/cgroup_files.h"
#include "shim/cgroups.h"

namespace rackos::shim {

std::vector<CgroupMount> parse_cgroup_mounts(const std::string& mountinfo) {
  // Line: id parent maj:min root mount_point mount_opts [optional...] - fstype source super_opts
  std::vector<CgroupMount> out;
  std::istringstream lines(mountinfo);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream f(line);
    std::vector<std::string> fields;
    std::string w;
    while (f >> w) fields.push_back(w);
    auto dash = std::find(fields.begin(), fields.end(), "-");
    if (fields.size() < 6 || dash == fields.end()) continue;
    size_t di = static_cast<size_t>(dash - fields.begin());
    if (di + 1 >= fields.size()) continue;
    const std::string& fstype = fields[di + 1];
    if (fstype != "cgroup" && fstype != "cgroup2") continue;
    CgroupMount m;
    m.mount_point = fields[4];
    m.v2 = fstype == "cgroup2";
    m.read_only = fields[5].rfind("ro", 0) == 0 && (fields[5].size() == 2 || fields[5][2] == ',');
    if (!m.v2 && di + 3 < fields.size()) {
      std::istringstream opts(fields[di + 3]);
      std::string o;
      while (std::getline(opts, o, ',')) {
        if (o != "rw" && o != "ro" && o.find('=') == std::string::npos) m.controllers.push_back(o);
      }
    }
    out.push_back(std::move(m));
  }
  return out;
}

namespace {

bool has(const std::vector<std::string>& v, const std::string& x) { return std::find(v.begin(), v.end(), x) != v.end(); }

bool writable(const std::string& dir) {
  if (::access(dir.c_str(), W_OK) != 0) return false;
  return static_cast<bool>(make_dir(dir + "/rackos"));
}

}  // namespace

DetectedCgroups detect_cgroups(const std::string& mountinfo_path) {
  DetectedCgroups d;
  auto text = read_file(mountinfo_path);
  if (!text) {
    d.description = "enforcement off: " + text.error().message;
    return d;
  }
  auto mounts = parse_cgroup_mounts(*text);
  std::string notes;
  for (const auto& m : mounts) {
    if (!m.v2) continue;
    auto ctl = read_file(m.mount_point + "/cgroup.controllers");
    std::string c = ctl ? *ctl : "";
    if (c.find("cpu") != std::string::npos && c.find("memory") != std::string::npos) {
      if (!m.read_only && writable(m.mount_point)) {
        d.cgroups = make_cgroup_v2(m.mount_point);
        d.description = "cgroup v2 at " + m.mount_point;
        return d;
      }
      notes += "cgroup v2 at " + m.mount_point + " is not writable; ";
    }
  }
  const CgroupMount *cpu = nullptr, *acct = nullptr, *mem = nullptr, *freezer = nullptr;
  for (const auto& m : mounts) {
    if (m.v2) continue;
    if (has(m.controllers, "freezer")) freezer = &m;
    if (has(m.controllers, "cpu")) cpu = &m;
    if (has(m.controllers, "cpuacct")) acct = &m;
    if (has(m.controllers, "memory")) mem = &m;
  }
  if (cpu && acct && mem) {
    if (!cpu->read_only && !acct->read_only && !mem->read_only && writable(cpu->mount_point) &&
        writable(acct->mount_point) && writable(mem->mount_point)) {
      const bool use_freezer = freezer != nullptr && !freezer->read_only && writable(freezer->mount_point);
      d.cgroups = make_cgroup_v1(cpu->mount_point, acct->mount_point, mem->mount_point,
                                 use_freezer ? freezer->mount_point : std::string());
      d.description = "cgroup v1 (cpu " + cpu->mount_point + ", cpuacct " + acct->mount_point + ", memory " +
                      mem->mount_point + (use_freezer ? ", freezer " + freezer->mount_point : std::string(", no freezer")) + ")";
      return d;
    }
    notes += "cgroup v1 is mounted but not writable; ";
  } else {
    notes += "no cgroup v1 hierarchies with cpu, cpuacct and memory; ";
  }
  d.description = "enforcement off: " + notes + "processes run without envelope limits";
  return d;
}

}  // namespace rackos::shim

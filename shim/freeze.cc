// Freeze, thaw and kill a workload's cgroup (see freeze.h).
#include "shim/freeze.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <sstream>
#include <vector>

#include "shim/cgroup_files.h"

namespace rackos::shim {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::vector<pid_t> members(const FreezeTarget& t) {
  std::vector<pid_t> out;
  if (t.pid > 0) out.push_back(t.pid);
  if (t.members_file.empty()) return out;
  auto text = read_file(t.members_file);
  if (!text) return out;
  std::istringstream in(*text);
  pid_t pid;
  while (in >> pid) {
    if (pid != t.pid) out.push_back(pid);
  }
  return out;
}

void signal_all(const FreezeTarget& t, int sig) {
  // Twice: a member may fork between the listing and its signal.
  for (int round = 0; round < 2; ++round) {
    for (pid_t pid : members(t)) ::kill(pid, sig);
  }
}

void write_marker(const std::string& marker) {
  if (marker.empty()) return;
  int fd = ::open(marker.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd >= 0) ::close(fd);
}

}  // namespace

std::string freeze_value(const std::string& freeze_file, bool on) {
  if (ends_with(freeze_file, "freezer.state")) return on ? "FROZEN" : "THAWED";
  return on ? "1" : "0";
}

std::string set_frozen(const FreezeTarget& t, bool on) {
  // The marker first when freezing, last when thawing: whoever reads it may
  // over-state "frozen", never under-state it.
  if (on) write_marker(t.marker);
  std::string how;
  if (!t.freeze_file.empty() && write_file(t.freeze_file, freeze_value(t.freeze_file, on))) {
    how = "freezer";
  } else {
    signal_all(t, on ? SIGSTOP : SIGCONT);
    how = on ? "SIGSTOP" : "SIGCONT";
  }
  if (!on && !t.marker.empty()) ::unlink(t.marker.c_str());
  return how;
}

void kill_frozen(const FreezeTarget& t) {
  signal_all(t, SIGKILL);
  if (!t.freeze_file.empty()) (void)write_file(t.freeze_file, freeze_value(t.freeze_file, false));
  signal_all(t, SIGCONT);  // stopped by signal: SIGKILL already ends them; harmless
  if (!t.marker.empty()) ::unlink(t.marker.c_str());
}

void thaw_cgroup_of(pid_t pid) {
  auto groups = read_file("/proc/" + std::to_string(pid) + "/cgroup");
  if (groups) {
    std::istringstream in(*groups);
    std::string line;
    while (std::getline(in, line)) {
      const size_t a = line.find(':'), b = line.find(':', a == std::string::npos ? a : a + 1);
      if (a == std::string::npos || b == std::string::npos) continue;
      const std::string ctl = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
      if (ctl == "freezer") (void)write_file("/sys/fs/cgroup/freezer" + path + "/freezer.state", "THAWED");
      if (ctl.empty()) {
        for (const char* root : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"}) {
          const std::string f = root + path + "/cgroup.freeze";
          if (::access(f.c_str(), F_OK) == 0) (void)write_file(f, "0");
        }
      }
    }
  }
  ::kill(pid, SIGCONT);
}

bool marked_frozen(const std::string& marker) { return !marker.empty() && ::access(marker.c_str(), F_OK) == 0; }

}  // namespace rackos::shim

// Node cleanup by path and pid (see node_cleanup.h).
#include "shim/node_cleanup.h"

#include "shim/freeze.h"

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <thread>
#include <vector>

#include "shim/cgroup_files.h"
#include "shim/launch_spec.h"

namespace rackos::shim {

namespace {
std::vector<std::string> subdirs(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (e->d_type == DT_DIR && name != "." && name != "..") out.push_back(dir + "/" + name);
    }
    ::closedir(d);
  }
  return out;
}
}  // namespace

size_t remove_node_cgroups(const std::string& node) {
  if (node.empty() || node.find('/') != std::string::npos || node == "." || node == "..") return 0;
  size_t removed = 0;
  for (const char* root : {"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpuacct", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/freezer",
                           "/sys/fs/cgroup/unified", "/sys/fs/cgroup"}) {
    const std::string node_dir = std::string(root) + "/rackos/" + node;
    if (::access(node_dir.c_str(), F_OK) != 0) continue;
    for (const auto& kid : subdirs(node_dir)) {
      // A frozen cgroup keeps even SIGKILLed tasks (v1): thaw it so they end.
      if (::access((kid + "/freezer.state").c_str(), F_OK) == 0) (void)write_file(kid + "/freezer.state", "THAWED");
      if (::access((kid + "/cgroup.freeze").c_str(), F_OK) == 0) (void)write_file(kid + "/cgroup.freeze", "0");
      for (int i = 0; i < 50; ++i) {
        if (::rmdir(kid.c_str()) == 0) {
          ++removed;
          break;
        }
        if (errno != EBUSY) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
    if (::rmdir(node_dir.c_str()) == 0) ++removed;
  }
  return removed;
}

size_t kill_recorded_processes(const std::string& state_dir) {
  size_t killed = 0;
  for (const auto& dir : subdirs(state_dir + "/procs")) {
    auto text = read_file(dir + "/pid.json");
    if (!text) continue;
    auto rec = pid_from_json(*text);
    if (!rec) continue;
    if (rec->pid > 0 && rec->start_ticks != 0 && process_start_ticks(rec->pid) == rec->start_ticks) {
      ::kill(rec->pid, SIGKILL);
      thaw_cgroup_of(rec->pid);  // frozen (a lapsed lease): it cannot die until thawed
      ++killed;
    }
  }
  return killed;
}

}  // namespace rackos::shim

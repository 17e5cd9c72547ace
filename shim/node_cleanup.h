// Removing what a node left behind, by path and by pid (never by name): its
// cgroup subtree (rackos/<node> under every mounted hierarchy, children
// first) and any workload still recorded in its state dir. Used by `rackos
// up` on Ctrl-C and by the end-to-end tests.
#pragma once

#include <cstddef>
#include <string>

namespace rackos::shim {

// rmdir rackos/<node>/* then rackos/<node> in each hierarchy; returns how many went.
size_t remove_node_cgroups(const std::string& node);
// SIGKILLs every workload recorded in <state_dir>/procs/*/pid.json whose pid
// still belongs to it (start time matches); its monitor then records the exit
// and leaves by itself. Returns how many.
size_t kill_recorded_processes(const std::string& state_dir);

}  // namespace rackos::shim

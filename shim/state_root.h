// Where node-local state should live when the caller may choose: a tmpfs. The
// state dir only has to outlive a shim crash (not a reboot), and creating the
// few files of each process start on a disk filesystem (ext4 inode
// allocation) cost more CPU than the start itself.
#pragma once

#include <sys/statfs.h>

#include <string>

namespace rackos::shim {

inline bool is_tmpfs(const std::string& path) {
  struct statfs st {};
  return ::statfs(path.c_str(), &st) == 0 && st.f_type == 0x01021994;  // TMPFS_MAGIC
}

// /run when it is a tmpfs, else /dev/shm, else "" (no tmpfs: use your own dir).
inline std::string tmpfs_state_root() {
  if (is_tmpfs("/run")) return "/run";
  if (is_tmpfs("/dev/shm")) return "/dev/shm";
  return "";
}

}  // namespace rackos::shim

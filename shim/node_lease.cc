// The node lease file shared by the shim and its monitors (see node_lease.h).
#include "shim/node_lease.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>

namespace rackos::shim {

int64_t lease_clock_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

namespace {
constexpr size_t kSize = 4096;

Result<int64_t*> map_file(const std::string& path, bool write) {
  int fd = ::open(path.c_str(), (write ? O_RDWR | O_CREAT : O_RDONLY) | O_CLOEXEC, 0644);
  if (fd < 0) return Error{"lease " + path + ": " + std::strerror(errno)};
  struct stat st {};
  if (::fstat(fd, &st) != 0 || (st.st_size < static_cast<off_t>(kSize) && (!write || ::ftruncate(fd, kSize) != 0))) {
    const std::string why = std::strerror(errno);
    ::close(fd);
    return Error{"lease " + path + ": " + (write ? why : "too short")};
  }
  void* p = ::mmap(nullptr, kSize, write ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) return Error{"lease " + path + ": mmap: " + std::strerror(errno)};
  return static_cast<int64_t*>(p);
}
}  // namespace

NodeLease::~NodeLease() {
  if (slot_ != nullptr) ::munmap(slot_, kSize);
}

Result<bool> NodeLease::open_writer(const std::string& path, NodeLease& out) {
  auto p = map_file(path, true);
  if (!p) return p.error();
  out.slot_ = *p;
  return true;
}

Result<bool> NodeLease::open_reader(const std::string& path, NodeLease& out) {
  auto p = map_file(path, false);
  if (!p) return p.error();
  out.slot_ = *p;
  return true;
}

void NodeLease::renew(int64_t deadline_ms) {
  if (slot_ == nullptr) return;
  std::atomic_ref<int64_t> d(*slot_);
  int64_t cur = d.load();
  while (deadline_ms > cur && !d.compare_exchange_weak(cur, deadline_ms)) {
  }
}

void NodeLease::unarm_if_after(int64_t latest_ms) {
  if (slot_ != nullptr && deadline() > latest_ms) std::atomic_ref<int64_t>(*slot_).store(0);
}

int64_t NodeLease::deadline() const {
  if (slot_ == nullptr) return 0;
  return std::atomic_ref<int64_t>(*slot_).load();
}

}  // namespace rackos::shim

// Cgroup control-file I/O with plain syscalls (see cgroup_files.h).
#include "shim/cgroup_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

namespace rackos::shim {

Result<std::string> read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error{"cannot open " + path + ": " + std::strerror(errno)};
  std::string out;
  char buf[4096];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      return Error{"cannot read " + path + ": " + std::strerror(e)};
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

Result<int64_t> parse_int(const std::string& path, const std::string& s) {
  if (s.rfind("max", 0) == 0) return int64_t{-1};
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (end == s.c_str() || errno != 0) return Error{path + ": \"" + s + "\" is not a number"};
  return static_cast<int64_t>(v);
}

std::map<std::string, int64_t> parse_keyed(const std::string& text) {
  std::map<std::string, int64_t> out;
  std::istringstream in(text);
  std::string key;
  long long v;
  while (in >> key >> v) out[key] = v;
  return out;
}

Result<int64_t> read_int(const std::string& path) {
  auto text = read_file(path);
  if (!text) return text.error();
  return parse_int(path, *text);
}

Result<std::map<std::string, int64_t>> read_keyed(const std::string& path) {
  auto text = read_file(path);
  if (!text) return text.error();
  return parse_keyed(*text);
}

FileCache::~FileCache() {
  for (auto& [path, fd] : fds_) ::close(fd);
}

Result<std::string> FileCache::read(const std::string& path) {
  auto it = fds_.find(path);
  if (it == fds_.end()) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE) return read_file(path);
      return Error{"cannot open " + path + ": " + std::strerror(errno)};
    }
    it = fds_.emplace(path, fd).first;
    by_dir_[path.substr(0, path.rfind('/'))].push_back(path);
  }
  char buf[4096];
  ssize_t n = ::pread(it->second, buf, sizeof buf, 0);
  if (n < 0) {
    int e = errno;
    ::close(it->second);
    fds_.erase(it);  // its by_dir_ entry is skipped by forget_dir
    return Error{"cannot read " + path + ": " + std::strerror(e)};
  }
  return std::string(buf, static_cast<size_t>(n));
}

void FileCache::forget_dir(const std::string& dir) {
  auto d = by_dir_.find(dir);
  if (d == by_dir_.end()) return;
  for (const auto& path : d->second) {
    auto it = fds_.find(path);
    if (it == fds_.end()) continue;
    ::close(it->second);
    fds_.erase(it);
  }
  by_dir_.erase(d);
}

Result<bool> write_file(const std::string& path, const std::string& value) {
  // O_TRUNC as runc does: ignored by cgroupfs, right for plain files.
  int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) return Error{"cannot open " + path + ": " + std::strerror(errno)};
  ssize_t n;
  do {
    n = ::write(fd, value.data(), value.size());
  } while (n < 0 && errno == EINTR);
  int e = errno;
  ::close(fd);
  if (n < 0) return Error{"cannot write \"" + value + "\" to " + path + ": " + std::strerror(e)};
  return true;
}

Result<bool> make_dir(const std::string& path) {
  std::string partial;
  for (size_t i = 0; i <= path.size(); ++i) {
    if (i == path.size() || (path[i] == '/' && i > 0)) {
      partial = path.substr(0, i);
      if (::mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST) {
        return Error{"cannot create " + partial + ": " + std::strerror(errno)};
      }
    }
  }
  return true;
}

Result<bool> remove_dir(const std::string& path) {
  if (::rmdir(path.c_str()) != 0 && errno != ENOENT) {
    return Error{"cannot remove " + path + ": " + std::strerror(errno)};
  }
  return true;
}

}  // namespace rackos::shim

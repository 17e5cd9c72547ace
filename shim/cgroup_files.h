// Small helpers to read and write cgroup control files: one value per call,
// errors naming the file and the errno text.
#pragma once

#include <cstdint>
#include <map>
#include <unordered_map>
#include <vector>
#include <string>

#include "core/result.h"

namespace rackos::shim {

Result<std::string> read_file(const std::string& path);
Result<int64_t> read_int(const std::string& path);
// "key value" lines (cpu.stat, memory.stat, memory.events) → map.
Result<std::map<std::string, int64_t>> read_keyed(const std::string& path);
// The value of `key` in a keyed file's map, 0 when absent.
inline int64_t value_of(const std::map<std::string, int64_t>& m, const std::string& key) {
  auto it = m.find(key);
  return it == m.end() ? 0 : it->second;
}
Result<bool> write_file(const std::string& path, const std::string& value);
Result<bool> make_dir(const std::string& path);  // mkdir -p; exists is fine
Result<bool> remove_dir(const std::string& path);  // rmdir; missing is fine

// Control files kept open and re-read with pread: a shim reading thousands of
// cgroups a second would otherwise spend most of its time walking paths.
// Falls back to open/read/close when out of descriptors.
class FileCache {
 public:
  FileCache() = default;
  FileCache(const FileCache&) = delete;
  FileCache& operator=(const FileCache&) = delete;
  ~FileCache();
  Result<std::string> read(const std::string& path);
  // Closes every cached file under `dir` (before the directory is removed).
  void forget_dir(const std::string& dir);

 private:
  std::unordered_map<std::string, int> fds_;
  std::unordered_map<std::string, std::vector<std::string>> by_dir_;  // dir → cached paths in it
};

Result<int64_t> parse_int(const std::string& path, const std::string& text);
std::map<std::string, int64_t> parse_keyed(const std::string& text);

}  // namespace rackos::shim

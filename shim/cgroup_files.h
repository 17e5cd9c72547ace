// Small helpers to read and write cgroup control files: one value per call,
// errors naming the file and the errno text.
#pragma once

#include <cstdint>
#include <map>
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

}  // namespace rackos::shim

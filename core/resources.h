// Resource amounts: CPU in millicores, memory in bytes, and a few named
// countable resources (like Kubernetes extended resources: "gpu") held by slot.
// The slot of a name is decided by ResourceNames, owned by the cluster state.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rackos {

inline constexpr int kMaxExtendedResources = 4;

struct Resources {
  int64_t cpu_millis = 0;
  int64_t memory_bytes = 0;
  std::array<int64_t, kMaxExtendedResources> extended{};

  Resources& operator+=(const Resources& o) {
    cpu_millis += o.cpu_millis;
    memory_bytes += o.memory_bytes;
    for (int i = 0; i < kMaxExtendedResources; ++i) extended[i] += o.extended[i];
    return *this;
  }
  Resources& operator-=(const Resources& o) {
    cpu_millis -= o.cpu_millis;
    memory_bytes -= o.memory_bytes;
    for (int i = 0; i < kMaxExtendedResources; ++i) extended[i] -= o.extended[i];
    return *this;
  }
  friend bool operator==(const Resources&, const Resources&) = default;
};

// True when `want` fits in `free` in every dimension.
inline bool fits(const Resources& want, const Resources& free) {
  if (want.cpu_millis > free.cpu_millis || want.memory_bytes > free.memory_bytes) return false;
  for (int i = 0; i < kMaxExtendedResources; ++i) {
    if (want.extended[i] > free.extended[i]) return false;
  }
  return true;
}

inline bool any_extended(const Resources& r) {
  for (auto v : r.extended) {
    if (v != 0) return true;
  }
  return false;
}

// Names of countable resources ("gpu", "fpga") mapped to slots, first come first
// served, at most kMaxExtendedResources of them in one cluster.
class ResourceNames {
 public:
  // The slot of `name`, adding it when there is room; nullopt when full.
  std::optional<int> intern(std::string_view name);
  std::optional<int> find(std::string_view name) const;
  const std::string& name(int slot) const { return names_[static_cast<size_t>(slot)]; }
  int size() const { return static_cast<int>(names_.size()); }

 private:
  std::vector<std::string> names_;
};

}  // namespace rackos

// ResourceNames: the slot table of countable resources (see resources.h).
#include "core/resources.h"

namespace rackos {

std::optional<int> ResourceNames::find(std::string_view name) const {
  for (size_t i = 0; i < names_.size(); ++i) {
    if (names_[i] == name) return static_cast<int>(i);
  }
  return std::nullopt;
}

std::optional<int> ResourceNames::intern(std::string_view name) {
  if (auto slot = find(name)) return slot;
  if (names_.size() >= kMaxExtendedResources) return std::nullopt;
  names_.emplace_back(name);
  return static_cast<int>(names_.size() - 1);
}

}  // namespace rackos

// Files only their owner may read (keys, certificates with their key, client
// configs, join tokens): written to PATH.tmp with mode 0600, synced, then
// renamed over PATH, so a reader never sees half of one.
#pragma once

#include <string>

namespace rackos::auth {

bool write_private_file(const std::string& path, const std::string& text);

}  // namespace rackos::auth

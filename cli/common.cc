// Helpers the subcommands share: the binary's own path, the join token file.
#include <unistd.h>

#include <climits>
#include <fstream>
#include <sstream>

#include "cli/commands.h"

namespace rackos::cli {

std::string self_exe() {
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "rackos";
  buf[n] = 0;
  return buf;
}

Result<std::string> read_token(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error{"cannot read the token file " + path};
  std::stringstream ss;
  ss << in.rdbuf();
  std::string t = ss.str();
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.pop_back();
  if (t.empty()) return Error{"the token file " + path + " is empty"};
  return t;
}

}  // namespace rackos::cli

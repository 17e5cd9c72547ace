// Helpers the subcommands share: the binary's own path, the join token file, the --controller/--config flags.
#include <unistd.h>

#include <climits>
#include <fstream>
#include <sstream>

#include "cli/client.h"
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

std::string& controller_flag() {
  static std::string flag;
  return flag;
}

void add_controller_flag(CLI::App* cmd) {
  cmd->add_option("--controller", controller_flag(),
                  "Controller address HOST:PORT[,HOST:PORT] or unix:PATH (default: $RACKOS_CONTROLLER, the client "
                  "config's, the local root-only socket, 127.0.0.1:7400)");
  cmd->add_flag("--insecure-no-tls", insecure_flag(), "Plaintext, for a controller started with --insecure-no-tls");
  cmd->add_option("--config", config_flag(),
                  "Client config (default: $RACKOS_CONFIG, ~/.rackos/config, /var/lib/rackos/admin.conf)");
}

}  // namespace rackos::cli

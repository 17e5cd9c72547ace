// Client configs (see client_config.h).
#include "auth/client_config.h"

#include "auth/private_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace rackos::auth {

Result<ClientConfig> read_client_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error{"cannot read the client config " + path};
  std::stringstream ss;
  ss << in.rdbuf();
  if (ss.str().size() > (1 << 20)) return Error{"the client config " + path + " is over 1 MiB"};
  auto j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Error{"the client config " + path + " is not JSON"};
  ClientConfig c;
  auto field = [&](const char* k) { return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : std::string(); };
  c.controllers = field("controllers");
  c.user = field("user");
  c.role = field("role");
  c.identity.ca_pem = field("ca");
  c.identity.cert_pem = field("cert");
  c.identity.key_pem = field("key");
  if (c.controllers.empty() || c.identity.ca_pem.empty() || c.identity.cert_pem.empty() || c.identity.key_pem.empty()) {
    return Error{"the client config " + path + " lacks one of controllers, ca, cert, key"};
  }
  return c;
}

Result<bool> write_client_config(const std::string& path, const ClientConfig& c) {
  nlohmann::json j = {{"controllers", c.controllers}, {"user", c.user},           {"role", c.role},
                      {"ca", c.identity.ca_pem},       {"cert", c.identity.cert_pem}, {"key", c.identity.key_pem}};
  if (!write_private_file(path, j.dump(2) + "\n")) return Error{"cannot write " + path};
  return true;
}

std::string find_client_config(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* e = std::getenv("RACKOS_CONFIG"); e && *e) return e;
  if (const char* home = std::getenv("HOME"); home && *home) {
    const std::string p = std::string(home) + "/.rackos/config";
    if (::access(p.c_str(), R_OK) == 0) return p;
  }
  for (const char* p : {"/var/lib/rackos/admin.conf", kUpAdminConfig}) {
    if (::access(p, R_OK) == 0) return p;
  }
  return "";
}

}  // namespace rackos::auth

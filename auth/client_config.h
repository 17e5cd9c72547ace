// A client config: what `rackos user add` writes for a person and the
// controller writes for its local admin (admin.conf) — the controllers'
// addresses, the CA, a client certificate and its key — and how the CLI finds
// one: --config, else $RACKOS_CONFIG, else ~/.rackos/config, else
// /var/lib/rackos/admin.conf, else what `rackos up` writes by default
// (/tmp/rackos-up/controller/admin.conf), when readable. JSON, mode 0600.
#pragma once

#include <string>

#include "auth/grpc_tls.h"
#include "core/result.h"

namespace rackos::auth {

inline constexpr const char* kUpAdminConfig = "/tmp/rackos-up/controller/admin.conf";

struct ClientConfig {
  std::string controllers;  // host:port[,host:port]
  std::string user;
  std::string role;
  TlsIdentity identity;
};

Result<ClientConfig> read_client_config(const std::string& path);
// Written to path.tmp (0600) then renamed.
Result<bool> write_client_config(const std::string& path, const ClientConfig& c);
// The first of the places above that exists; empty when none does.
std::string find_client_config(const std::string& flag);

}  // namespace rackos::auth

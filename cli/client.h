// The CLI's connection to the controller (gRPC ClusterService) and the one
// way it reports a failed call: a single line naming the controller and what
// went wrong, exit code 1.
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <string>

#include "auth/grpc_tls.h"
#include "rackos/v1/cluster.grpc.pb.h"

namespace rackos::cli {

struct ControllerClient {
  std::string all;   // every address given (comma-separated)
  std::string addr;  // the one in use
  auth::TlsIdentity id;  // what it presents (empty on the Unix socket)
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::ClusterService::Stub> stub;
};

// Where the CLI connects and as whom. The address: --controller, else
// $RACKOS_CONTROLLER, else the client config's, else the root-only socket
// /var/lib/rackos/rackos.sock when this user can open it, else 127.0.0.1:7400.
// The credentials: the client config (auth/client_config.h: --config,
// $RACKOS_CONFIG, ~/.rackos/config, /var/lib/rackos/admin.conf); a Unix socket
// needs none. A TCP address without a client config is one clear error.
struct Target {
  std::string addresses;
  auth::TlsIdentity id;
};
Target resolve_target(const std::string& controller_flag, const std::string& config_flag);
// Connects to `addr` as resolve_target(addr, the --config in use) says.
ControllerClient connect_controller(const std::string& addr);
// The --config flag's value (set by the subcommands that take it).
std::string& config_flag();
// --insecure-no-tls: plaintext to a TCP address, no client config needed.
bool& insecure_flag();
std::unique_ptr<grpc::ClientContext> call_context(int timeout_ms = 15000);
[[noreturn]] void fail(const std::string& msg);
// Runs `call` against the active controller. When several addresses were
// given (a pair) and the call failed because the controller it reached went
// away or stopped acting (a handover, a failover), finds the active again and
// sends the same request, for up to `timeout_ms`. Every write in the API sets
// a state (apply a spec, scale to a range, stop a service, drain a node), so a
// request that had already been applied before its answer was lost changes
// nothing the second time. `c` is left on the controller that answered.
using StubCall = std::function<grpc::Status(v1::ClusterService::Stub&, grpc::ClientContext&)>;
grpc::Status call_active(ControllerClient& c, const StubCall& call, int timeout_ms = 15000);
// Dies with one clear line unless `st` is OK.
void check(const grpc::Status& st, const ControllerClient& c, const std::string& what);

}  // namespace rackos::cli

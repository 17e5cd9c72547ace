// The CLI's connection to the controller (gRPC ClusterService) and the one
// way it reports a failed call: a single line naming the controller and what
// went wrong, exit code 1.
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <string>

#include "rackos/v1/cluster.grpc.pb.h"

namespace rackos::cli {

struct ControllerClient {
  std::string all;   // every address given (comma-separated)
  std::string addr;  // the one in use
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::ClusterService::Stub> stub;
};

// RACKOS_CONTROLLER, else 127.0.0.1:7400 (where `rackos up` listens).
std::string default_controller();
ControllerClient connect_controller(const std::string& addr);
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

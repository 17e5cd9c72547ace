// The CLI's connection to the controller (gRPC ClusterService) and the one
// way it reports a failed call: a single line naming the controller and what
// went wrong, exit code 1.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "rackos/v1/cluster.grpc.pb.h"

namespace rackos::cli {

struct ControllerClient {
  std::string addr;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::ClusterService::Stub> stub;
};

// RACKOS_CONTROLLER, else 127.0.0.1:7400 (where `rackos up` listens).
std::string default_controller();
ControllerClient connect_controller(const std::string& addr);
std::unique_ptr<grpc::ClientContext> call_context(int timeout_ms = 15000);
[[noreturn]] void fail(const std::string& msg);
// Dies with one clear line unless `st` is OK.
void check(const grpc::Status& st, const ControllerClient& c, const std::string& what);

}  // namespace rackos::cli

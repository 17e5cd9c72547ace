// The CLI's controller connection (see client.h).
#include "cli/client.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace rackos::cli {

std::string default_controller() {
  const char* env = std::getenv("RACKOS_CONTROLLER");
  return env && *env ? env : "127.0.0.1:7400";
}

ControllerClient connect_controller(const std::string& addr) {
  ControllerClient c;
  c.addr = addr;
  c.channel = grpc::CreateChannel(addr, grpc::InsecureChannelCredentials());
  c.stub = v1::ClusterService::NewStub(c.channel);
  return c;
}

std::unique_ptr<grpc::ClientContext> call_context(int timeout_ms) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
  return ctx;
}

void fail(const std::string& msg) {
  std::fprintf(stderr, "rackos: %s\n", msg.c_str());
  std::exit(1);
}

void check(const grpc::Status& st, const ControllerClient& c, const std::string& what) {
  if (st.ok()) return;
  if (st.error_code() == grpc::StatusCode::UNAVAILABLE && st.error_message().find("store") != 0) {
    fail(what + ": cannot reach the controller at " + c.addr +
         " (is `rackos up` or `rackos controller` running? set --controller or RACKOS_CONTROLLER)");
  }
  if (st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) fail(what + ": the controller at " + c.addr + " did not answer in time");
  fail(what + ": " + st.error_message());
}

}  // namespace rackos::cli

// The CLI's controller connection (see client.h).
#include "cli/client.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace rackos::cli {

std::string default_controller() {
  const char* env = std::getenv("RACKOS_CONTROLLER");
  return env && *env ? env : "127.0.0.1:7400";
}

ControllerClient connect_controller(const std::string& addr) {
  ControllerClient c;
  c.addr = addr;
  if (addr.find(',') != std::string::npos) {
    // A controller pair: only the active listens; the first that accepts a
    // connection is it.
    std::vector<std::string> all;
    for (size_t start = 0; start <= addr.size();) {
      size_t comma = addr.find(',', start);
      std::string a = addr.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (!a.empty()) all.push_back(a);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    for (const auto& a : all) {
      auto ch = grpc::CreateChannel(a, grpc::InsecureChannelCredentials());
      if (ch->WaitForConnected(std::chrono::system_clock::now() + std::chrono::milliseconds(500))) {
        c.addr = a;
        c.channel = ch;
        c.stub = v1::ClusterService::NewStub(c.channel);
        return c;
      }
    }
  }
  c.channel = grpc::CreateChannel(c.addr, grpc::InsecureChannelCredentials());
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

// The CLI's controller connection (see client.h).
#include "cli/client.h"

#include <cerrno>
#include <chrono>
#include <thread>
#include <cstdio>
#include <cstdlib>
#include <vector>
#include <optional>
#include <unistd.h>

#include "auth/client_config.h"

namespace rackos::cli {

std::string& config_flag() {
  static std::string flag;
  return flag;
}

bool& insecure_flag() {
  static bool flag = false;
  return flag;
}

Target resolve_target(const std::string& controller_flag, const std::string& config_flag_value) {
  Target t;
  t.addresses = controller_flag;
  if (t.addresses.empty()) {
    if (const char* env = std::getenv("RACKOS_CONTROLLER"); env && *env) t.addresses = env;
  }
  // A Unix socket needs no credentials (its permissions are the check).
  const bool unix_socket = t.addresses.rfind("unix:", 0) == 0;
  const std::string path = insecure_flag() || unix_socket ? std::string() : auth::find_client_config(config_flag_value);
  std::optional<auth::ClientConfig> cfg;
  if (!path.empty()) {
    auto r = auth::read_client_config(path);
    if (!r) fail(r.error().message + (::access(path.c_str(), R_OK) != 0 ? " (permission denied: it belongs to another user)" : ""));
    cfg = *r;
  }
  if (t.addresses.empty() && cfg) t.addresses = cfg->controllers;
  if (t.addresses.empty()) {
    const char* sock = "/var/lib/rackos/rackos.sock";
    t.addresses = ::access(sock, W_OK) == 0 ? std::string("unix:") + sock : "127.0.0.1:7400";
  }
  if (t.addresses.rfind("unix:", 0) == 0) {
    const std::string sock = t.addresses.substr(5);
    if (::access(sock.c_str(), W_OK) != 0 && errno == EACCES) {
      fail("permission denied: only root may use the controller's socket " + sock +
           "; ask an admin for a client config (rackos user add NAME --role view|operator|admin)");
    }
    return t;
  }
  if (insecure_flag()) return t;
  if (!cfg) {
    fail("no credentials for the controller at " + t.addresses +
         ": give a client config (--config FILE or RACKOS_CONFIG; `rackos user add NAME --role ROLE` on the controller "
         "writes one), or run as root on the controller's machine (its Unix socket)");
  }
  t.id = cfg->identity;
  return t;
}

namespace {

// A channel that retries a refused connection within tens of milliseconds
// (gRPC's default first backoff is a second): a standby that has just taken
// over starts listening in milliseconds.
std::shared_ptr<grpc::Channel> make_channel(const std::string& addr, const auth::TlsIdentity& id) {
  grpc::ChannelArguments args;
  // Its own subchannel: one shared with an earlier failed attempt would wait
  // out that attempt's backoff and re-resolution (about a second).
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 20);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 1000);  // gRPC's connect timeout too: not short
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 200);
  // Whole tables of a large cluster (`ps --limit 0` of 500,000 processes is ~60 MiB); the server sends at most 64 MiB.
  args.SetMaxReceiveMessageSize(64 << 20);
  auto creds = auth::channel_credentials(addr, id, args);
  return grpc::CreateCustomChannel(addr, creds, args);
}

std::vector<std::string> split_addresses(const std::string& addr) {
  std::vector<std::string> all;
  for (size_t start = 0; start <= addr.size();) {
    size_t comma = addr.find(',', start);
    std::string a = addr.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!a.empty()) all.push_back(a);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return all;
}

}  // namespace

ControllerClient connect_controller(const std::string& flag) {
  const Target t = resolve_target(flag, config_flag());
  const std::string& addr = t.addresses;
  ControllerClient c;
  c.all = addr;
  c.addr = addr;
  c.id = t.id;
  const auto all = split_addresses(addr);
  if (all.size() > 1) {
    // A controller pair: only the active listens; the first that accepts a
    // connection is it. Tried in rounds for up to 3 s: during a failover or
    // a handover none may listen for a moment.
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (std::chrono::steady_clock::now() < end) {
      for (size_t i = 0; i < all.size(); ++i) {
        auto ch = make_channel(all[i], c.id);  // fresh each round (see make_channel)
        if (ch->WaitForConnected(std::chrono::system_clock::now() + std::chrono::milliseconds(100))) {
          c.addr = all[i];
          c.channel = ch;
          c.stub = v1::ClusterService::NewStub(c.channel);
          return c;
        }
      }
    }
  }
  // One address, or none of several answers (the call then fails naming them all).
  c.channel = make_channel(all.empty() ? addr : all.front(), c.id);
  c.stub = v1::ClusterService::NewStub(c.channel);
  return c;
}

grpc::Status call_active(ControllerClient& c, const StubCall& call, int timeout_ms) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now()));
    grpc::Status st = call(*c.stub, ctx);
    const bool moved = st.error_code() == grpc::StatusCode::CANCELLED ||
                       (st.error_code() == grpc::StatusCode::UNAVAILABLE && st.error_message().rfind("store", 0) != 0);
    if (st.ok() || !moved || c.all.find(',') == std::string::npos || std::chrono::steady_clock::now() >= end) return st;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    c = connect_controller(c.all);  // the active, wherever it is now
  }
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

// The controller daemon (`rackos controller`): the ClusterController behind a
// single writer loop, the gRPC services (NodeService for shims, ClusterService
// for clients) and HTTP (/metrics, /state) on loopback. RPC threads never
// touch the cluster state: they post work to the loop and wait; the loop
// applies a batch of work, settles, commits once, then answers and sends.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "controller/cluster_controller.h"

namespace rackos::controller {

struct ServerConfig {
  std::string listen = "127.0.0.1:7400";       // gRPC; port 0 picks one
  std::string http_listen = "127.0.0.1:7401";  // /metrics (and /state with insecure); empty: no HTTP; port 0 picks one
  std::string https_listen = "127.0.0.1:7402"; // /state and /metrics to client certificates; empty: none
  std::string data_dir = "/var/lib/rackos";    // state.db; controller.addr and http.addr are written here
  std::string store;                           // empty: SQLite in data_dir; etcd://HOST:PORT[,...][/PREFIX/]
  bool durable = true;                         // fsync each commit (SQLite)
  int64_t tick_ms = 20;
  int64_t leader_lease_ms = 600;               // etcd: a standby takes over after this long without a renewal
  ControllerConfig controller;
  std::vector<std::string> argv;               // how it was started: re-executed as a standby after a handover
  // Plaintext gRPC and every caller an admin (benchmarks comparing TLS on and
  // off; never on a network). Default: mutual TLS on `listen`, the cluster CA
  // in the store, admin.conf and the root-only socket in data_dir.
  bool insecure = false;
  int64_t node_cert_ttl_s = 30LL * 86400;      // shims renew at two thirds of it
};

// Runs until SIGTERM or SIGINT; returns the exit code. Errors at start (store,
// port in use) are one line on stderr and exit code 1.
int run_controller(const ServerConfig& cfg);

}  // namespace rackos::controller

// The shim daemon: one per node role (active or standby). It takes the node's
// lock (flock on <state-dir>/shim.lock); while another shim holds it, it waits
// as the hot standby and takes over the moment the lock is released — when the
// active shim dies, the kernel releases its lock at once. The active shim
// re-adopts every workload from the state dir, serves the node API on
// <state-dir>/shim.sock, runs the enforcement loop every tick, and self-fences
// when its controller has been silent for a whole lease.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "shim/enforcer.h"

namespace rackos::shim {

struct ShimConfig {
  std::string node;
  std::string state_dir;
  int64_t cpu_millis = 0;
  int64_t memory_bytes = 0;
  int64_t tick_ms = 50;
  int64_t node_lease_ms = 500;
  int64_t fence_grace_ms = 3000;     // frozen at-most-one workloads are killed this long after the lease lapses
  int64_t log_max_bytes = 10 << 20;  // per log file, before rotation
  int log_keep = 3;
  int64_t retained_log_bytes = 256 << 20;  // logs of exited processes kept per node, oldest dropped first
  bool enforce = true;              // false: never touch cgroups (enforcement off)
  std::string monitor_path;
  EnforcerConfig enforcer;
  std::vector<std::string> argv;    // how this shim was started (for upgrades)
  // The controller (empty: none; the node is driven through its local API only).
  std::string controller;           // host:port
  std::string token;                // the cluster's join token (K1<ca sha256>::<id>.<secret>)
  std::string cert_dir;              // the node's key, certificate and CA; empty: <state_dir>/pki
  bool insecure = false;            // plaintext to a controller started with --insecure-no-tls
  std::string workload_user = "rackos-workload";  // processes whose spec names no user run as it
  int64_t heartbeat_ms = 100;
  std::map<std::string, std::string> labels;
};

// Runs until SIGTERM/SIGINT or a handover request; returns the exit code.
// Workloads are never stopped by the shim exiting.
int run_shim(const ShimConfig& cfg);

}  // namespace rackos::shim

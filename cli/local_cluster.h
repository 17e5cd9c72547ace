// How a cluster on one machine is started: the same command lines and the
// same way of spawning for `rackos up` and for the end-to-end tests, so the
// tests run what users run — `rackos controller` with the embedded SQLite
// store, and per node `rackos shim` (active and standby) with its declared
// capacity, state dir, rack label and the cluster's join token.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace rackos::local {

struct ControllerLaunch {
  std::string exe;                    // the rackos binary
  std::string listen = "127.0.0.1:0";
  std::string http = "127.0.0.1:0";
  std::string data_dir;               // the store; controller.addr and http.addr are written here
  std::string token_file;
  std::string lease = "500ms";
  std::vector<std::string> extra;     // e.g. --adopt
  bool insecure = false;              // --insecure-no-tls (benchmarks: TLS off)
  std::string https = "127.0.0.1:0";  // /state to client certificates
};
std::vector<std::string> controller_argv(const ControllerLaunch& c);

struct NodeLaunch {
  std::string exe;
  std::string node;
  std::string cpu, memory;            // declared capacity
  std::string state_dir;
  std::string controller;             // host:port
  std::string token_file;             // a join token (DATA_DIR/join-token); the bare secret with insecure
  std::string lease = "500ms";
  std::string rack;                   // label rack=<rack>
  bool enforce = true;
  bool insecure = false;
};
std::vector<std::string> shim_argv(const NodeLaunch& n);

// Starts a daemon: its own process group (a Ctrl-C reaches only its starter,
// which stops things in order), told to go (SIGTERM) when its starter dies,
// stdin /dev/null, stdout and stderr appended to `log`. Returns its pid (-1:
// fork failed).
pid_t spawn_daemon(const std::vector<std::string>& argv, const std::string& log);

// Where node state dirs go: <tmpfs>/<name> on a tmpfs (/run, else /dev/shm),
// as on a real node (state only has to outlive a shim crash, and file
// creation there is cheap); `fallback` when there is none.
std::string node_state_root(const std::string& name, const std::string& fallback);

}  // namespace rackos::local

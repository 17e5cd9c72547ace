// etcd members as child processes on loopback: what the tests (and later
// `rackos up --store etcd`) start — a data dir each, free ports, limits
// large enough for a controller's transactions — and how they are stopped
// (by pid), killed and started again (fault tests).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "core/result.h"

namespace rackos::controller {

struct EtcdMember {
  std::string name;
  std::string data_dir;
  int client_port = 0;
  int peer_port = 0;
  pid_t pid = 0;  // 0: not running
};

struct EtcdCluster {
  std::string dir;       // holds each member's data dir and log
  std::string binary = "etcd";  // its full path once started
  std::string token;     // initial-cluster-token
  bool die_with_parent = true;
  std::vector<EtcdMember> members;
  // etcd://127.0.0.1:C1,127.0.0.1:C2,... (every member).
  std::string url() const;
};

// A TCP port on 127.0.0.1 free right now (0 if none): bound, read, released.
int free_loopback_port();

// Starts `members` members under `dir` and waits (up to 15 s) until the
// cluster answers a read. One clear error (with the tail of a member's log)
// when etcd is missing or does not come up. `die_with_parent`: the members
// are killed when this process dies (tests); otherwise they outlive it, and
// each member's pid is in <dir>/<name>.pid for whoever cleans up.
Result<EtcdCluster> start_etcd(const std::string& dir, int members, const std::string& binary = "etcd",
                               bool die_with_parent = true);
// The command line of member i (`fresh`: the cluster's first start; else it
// rejoins with its data dir), for a supervisor that restarts it.
std::vector<std::string> etcd_member_argv(const EtcdCluster& c, size_t i, bool fresh);
// Kills (SIGKILL) the members an earlier start under `dir` left running, by
// the pids in <dir>/*.pid — each only if its command line still names its
// data dir under `dir` (a reused pid is left alone). Returns how many.
size_t kill_recorded_etcd(const std::string& dir);
// Starts one stopped member again (its data dir kept).
Result<bool> restart_member(EtcdCluster& c, size_t i);
// SIGKILL one member (by pid) and reap it.
void kill_member(EtcdCluster& c, size_t i);
// Every member killed and reaped; the data dirs removed.
void stop_etcd(EtcdCluster& c);

}  // namespace rackos::controller

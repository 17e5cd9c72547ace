// `rackos controller`: run the controller daemon (gRPC for shims and clients,
// HTTP /metrics and /state, the embedded SQLite store or etcd).
#include <cstdio>
#include <cstdlib>

#include "auth/join_token.h"
#include "cli/commands.h"
#include "cli/learn_flags.h"
#include "controller/server.h"
#include "core/quantity.h"

namespace rackos::cli {

void add_controller(CLI::App& app, int argc, char** argv) {
  static std::vector<std::string> original(argv, argv + argc);
  struct Args {
    std::string listen = "127.0.0.1:7400";
    std::string http = "127.0.0.1:7401";
    std::string https = "127.0.0.1:7402";
    std::string data_dir = "/var/lib/rackos";
    std::string store;
    std::string token_file;
    std::string lease = "500ms";
    std::string heartbeat = "100ms";
    std::string grace = "2s";
    std::string leader_lease = "600ms";
    bool allow_faults = false;
    bool no_fsync = false;
    bool adopt = false;
    bool insecure = false;
    std::string node_cert_ttl = "30d";
    LearnFlags learn;
  };
  static Args a;
  auto* cmd = app.add_subcommand("controller", "Run the controller (the cluster's single writer)");
  cmd->add_option("--listen", a.listen, "gRPC address for shims and clients (port 0: any)")->capture_default_str();
  cmd->add_option("--http", a.http, "Plain HTTP address for /metrics (and /state with --insecure-no-tls); empty: off")
      ->capture_default_str();
  cmd->add_option("--https", a.https, "HTTPS address for /state and /metrics, to client certificates (view role); empty: off")
      ->capture_default_str();
  cmd->add_option("--data-dir", a.data_dir, "Where the SQLite store lives (and the address files)")->capture_default_str();
  cmd->add_option("--store", a.store,
                  "Keep the cluster in etcd instead of SQLite: etcd://HOST:PORT[,HOST:PORT...][/PREFIX/] "
                  "(etcd started with --max-txn-ops and --max-request-bytes large enough for a step)");
  cmd->add_option("--token-file", a.token_file,
                  "A bootstrap join secret (8-256 of letters, digits, . _ -): nodes join with the token written to "
                  "DATA_DIR/join-token, which never expires (prefer `rackos token create --ttl`)");
  cmd->add_flag("--insecure-no-tls", a.insecure,
                "Plaintext gRPC, every caller an admin, the join token sent in the clear (benchmarks on loopback only)");
  cmd->add_option("--node-cert-ttl", a.node_cert_ttl, "Lifetime of the certificates given to nodes (renewed at 2/3)")
      ->capture_default_str();
  cmd->add_option("--node-lease", a.lease, "A node is dead this long after its last heartbeat")->capture_default_str();
  cmd->add_option("--heartbeat", a.heartbeat, "Expected shim heartbeat period (3 missed: suspect)")->capture_default_str();
  cmd->add_option("--reconnect-grace", a.grace, "After a restart, how long nodes have to reconnect")->capture_default_str();
  cmd->add_option("--leader-lease", a.leader_lease,
                  "With --store etcd: a standby controller takes over after this long without a renewal by the active")
      ->capture_default_str();
  cmd->add_flag("--allow-fault-injection", a.allow_faults, "Allow `rackos node kill` (tests and demos)");
  cmd->add_flag("--adopt", a.adopt,
                "Take over what nodes run even if their cluster id or store revision does not match this store "
                "(after losing or restoring the store); without it such nodes are refused and keep their work");
  a.learn.add_to(cmd);
  cmd->add_flag("--no-fsync", a.no_fsync, "Do not fsync each commit (survives a killed controller, not a power cut)");
  cmd->callback([] {
    auto die = [](const std::string& m) {
      std::fprintf(stderr, "rackos controller: %s\n", m.c_str());
      std::exit(1);
    };
    controller::ServerConfig cfg;
    cfg.listen = a.listen;
    cfg.http_listen = a.http;
    cfg.https_listen = a.https;
    cfg.data_dir = a.data_dir;
    cfg.store = a.store;
    cfg.durable = !a.no_fsync;
    cfg.controller.adopt = a.adopt;
    if (auto err = a.learn.apply(cfg.controller.recommender); !err.empty()) die(err);
    auto lease = parse_duration_ms(a.lease);
    auto hb = parse_duration_ms(a.heartbeat);
    auto grace = parse_duration_ms(a.grace);
    if (!lease) die("--node-lease: " + lease.error().message);
    if (!hb) die("--heartbeat: " + hb.error().message);
    if (!grace) die("--reconnect-grace: " + grace.error().message);
    auto leader_lease = parse_duration_ms(a.leader_lease);
    if (!leader_lease) die("--leader-lease: " + leader_lease.error().message);
    if (*leader_lease < 200) die("--leader-lease must be at least 200ms (renewals go every 100 ms)");
    cfg.leader_lease_ms = *leader_lease;
    if (*hb * 2 > *lease) die("--heartbeat must be at most half of --node-lease");
    cfg.controller.health.node_lease_ms = *lease;
    cfg.controller.health.heartbeat_ms = *hb;
    cfg.controller.reconnect_grace_ms = std::max(*grace, *lease);
    cfg.controller.allow_fault_injection = a.allow_faults;
    if (!a.token_file.empty()) {
      auto t = read_token(a.token_file);
      if (!t) die(t.error().message);
      cfg.controller.token = *t;
      if (!a.insecure) {
        std::string fp(64, '0');
        if (auto j = auth::parse_join_token("K1" + fp + "::boot." + *t); !j) die("--token-file " + a.token_file + ": " + j.error().message);
      }
    }
    cfg.insecure = a.insecure;
    cfg.controller.insecure = a.insecure;
    auto ttl = parse_duration_ms(a.node_cert_ttl);
    if (!ttl || *ttl < 10'000) die("--node-cert-ttl " + a.node_cert_ttl + ": expected a duration of at least 10s");
    cfg.node_cert_ttl_s = *ttl / 1000;
    cfg.argv = original;
    std::exit(controller::run_controller(cfg));
  });
}

}  // namespace rackos::cli

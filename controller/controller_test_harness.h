// The controller's test harness: a ClusterController on a real SQLite store
// in a temporary file, with fake shims (messages in, outbox out), shared by
// the controller's step-by-step tests.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "controller/cluster_controller.h"

namespace rackos::controller {

struct Harness {
  std::string path;
  std::unique_ptr<Store> store;
  EventLog events;
  std::unique_ptr<ClusterController> c;
  ControllerConfig cfg;
  bool cleanup = true;  // remove the database when done

  explicit Harness(std::string p, ControllerConfig config = {}) : path(std::move(p)), cfg(std::move(config)) { open(); }
  ~Harness() {
    c.reset();
    store.reset();
    if (!cleanup) return;
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
  }
  void open() {
    c.reset();  // a reopen (a controller restart): the old one goes first, then its store
    store.reset();
    store = std::move(open_sqlite_store(path, false).value());
    c = std::make_unique<ClusterController>(cfg, store.get(), &events);
  }
  std::vector<Outgoing> step(int64_t now) {
    c->settle(now);
    EXPECT_TRUE(c->commit().ok());
    return c->take_outbox();
  }
  // A node of 4 cpu / 8 GiB registering.
  static v1::ShimMessage register_message(const std::string& node) {
    v1::ShimMessage m;
    auto* r = m.mutable_register_();
    r->set_wire_version(1);
    r->set_node(node);
    r->set_cpu_millis(4000);
    r->set_memory_bytes(8ll << 30);
    return m;
  }
  void reg(ConnId conn, const std::string& node, int64_t now, const std::vector<v1::ProcessInfo>& running = {},
           const std::string& token = "") {
    v1::ShimMessage m = register_message(node);
    m.mutable_register_()->set_token(token);
    for (const auto& p : running) *m.mutable_register_()->add_running() = p;
    c->on_shim_message(conn, m, now);
  }
  void heartbeat(ConnId conn, int64_t now) {
    v1::ShimMessage m;
    m.mutable_heartbeat()->set_seq(1);
    m.mutable_heartbeat()->set_sent_ms(now);
    c->on_shim_message(conn, m, now);
  }
  void event(ConnId conn, const std::string& id, const std::string& kind, int64_t now, int exit_code = 0) {
    v1::ShimMessage m;
    m.mutable_event()->set_id(id);
    m.mutable_event()->set_kind(kind);
    m.mutable_event()->set_pid(1234);
    m.mutable_event()->mutable_exit()->set_exit_code(exit_code);
    c->on_shim_message(conn, m, now);
  }
};

inline std::string temp_db() {
  static int n = 0;
  auto p = std::filesystem::temp_directory_path() /
           ("rackos-ctl-test-" + std::to_string(::getpid()) + "-" + std::to_string(n++) + ".db");
  std::filesystem::remove(p);
  return p.string();
}

}  // namespace rackos::controller

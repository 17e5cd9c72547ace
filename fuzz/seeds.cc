// Writes seed inputs for the node-stream fuzzer (well-formed messages a
// shim sends: registers with processes, heartbeats with usage, events, log
// data) into a directory: `fuzz_seeds DIR`. The spec seeds are examples/*.yaml.
#include <cstdio>
#include <fstream>
#include <string>

#include "rackos/v1/node.pb.h"

namespace {

void record(std::string& out, int conn, const rackos::v1::ShimMessage& m) {
  const std::string bytes = m.SerializeAsString();
  out.push_back(static_cast<char>(conn));
  out.push_back(static_cast<char>(bytes.size() & 0xff));
  out.push_back(static_cast<char>(bytes.size() >> 8));
  out += bytes;
}

rackos::v1::ShimMessage reg(const std::string& node, int processes) {
  rackos::v1::ShimMessage m;
  auto* r = m.mutable_register_();
  r->set_wire_version(1);
  r->set_node(node);
  r->set_cpu_millis(4000);
  r->set_memory_bytes(8ll << 30);
  (*r->mutable_labels())["rack"] = "r1";
  for (int i = 0; i < processes; ++i) {
    auto* p = r->add_running();
    p->set_id("web-" + std::to_string(i));
    p->set_launch("web-" + std::to_string(i) + ".1");
    p->set_service("web");
    p->set_pid(100 + i);
    p->set_state(rackos::v1::RUNNING);
  }
  return m;
}

rackos::v1::ShimMessage heartbeat(uint64_t seq) {
  rackos::v1::ShimMessage m;
  auto* h = m.mutable_heartbeat();
  h->set_seq(seq);
  h->set_sent_ms(static_cast<int64_t>(seq) * 100);
  auto* p = h->add_processes();
  p->set_id("web-0");
  p->set_launch("web-0.1");
  p->mutable_usage()->set_cpu_used_millis(150);
  return m;
}

rackos::v1::ShimMessage event(const std::string& id, const std::string& kind) {
  rackos::v1::ShimMessage m;
  auto* e = m.mutable_event();
  e->set_id(id);
  e->set_kind(kind);
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_seeds DIR\n");
    return 2;
  }
  const std::string dir = argv[1];
  std::string a, b, c;
  record(a, 1, reg("n1", 0));
  record(a, 2, reg("n2", 2));
  for (uint64_t s = 1; s < 6; ++s) record(a, 1 + s % 2, heartbeat(s));
  record(b, 1, reg("n1", 3));
  record(b, 1, event("web-0.1", "started"));
  record(b, 1, event("web-0.1", "exited"));
  record(b, 1, event("one-0.1", "oom"));
  b += std::string("\x01\x00\x00", 3);  // a disconnect
  record(b, 1, reg("n1", 1));
  record(c, 3, reg("n3", 0));
  rackos::v1::ShimMessage log;
  log.mutable_log_data()->set_request(1);
  log.mutable_log_data()->set_data("hello");
  record(c, 3, log);
  std::ofstream(dir + "/seed-register-heartbeats", std::ios::binary) << a;
  std::ofstream(dir + "/seed-events-reconnect", std::ios::binary) << b;
  std::ofstream(dir + "/seed-log-data", std::ios::binary) << c;
  return 0;
}

// Fuzz target: the controller's handling of what nodes send on their streams
// (a node may be compromised, buggy, or an old version). The input is a
// sequence of records — [connection: 1 byte][length: 2 bytes LE][a
// ShimMessage in protobuf wire format] — fed to a real ClusterController on
// an in-memory store, with the clock moving, client writes now and then, and
// every step settled and committed as the server's loop does. Any input must
// leave it standing: no crash, no hang, no undefined behaviour.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "controller/cluster_controller.h"
#include "controller/memory_store.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rackos;
  using namespace rackos::controller;
  if (size > (1 << 20)) return 0;
  auto store = open_memory_store(std::make_shared<MemoryStoreData>());
  EventLog events(100);
  ControllerConfig cfg;
  cfg.insecure = true;  // no CA to make for each input: the stream handling is what is fuzzed
  ClusterController ctl(cfg, store.get(), &events);
  int64_t now = 1'000'000;
  if (!ctl.load(now)) return 0;
  ctl.apply("name: web\ncommand: [sleep, '60']\ncpu: 100m:1\nmemory: 16Mi:64Mi\ninstances: 3\n---\n"
            "name: one\ncommand: [sleep, '60']\ncpu: 100m:1\nmemory: 16Mi:64Mi\n",
            now);
  size_t at = 0, steps = 0;
  while (at + 3 <= size && steps < 2000) {
    const ConnId conn = 1 + data[at] % 4;
    const size_t len = static_cast<size_t>(data[at + 1]) | (static_cast<size_t>(data[at + 2]) << 8);
    at += 3;
    if (len > size - at) break;
    v1::ShimMessage m;
    if (m.ParseFromArray(data + at, static_cast<int>(len))) {
      ctl.on_shim_message(conn, m, now);
    } else if (len == 0) {
      ctl.on_disconnect(conn, now);
    }
    at += len;
    now += 1 + (conn * 37) % 400;  // sometimes past a lease: deaths, reschedules
    if (++steps % 8 == 0) ctl.tick(now);
    if (steps % 50 == 0) (void)ctl.scale("web", 1, static_cast<uint32_t>(1 + steps % 7), now);
    ctl.settle(now);
    (void)ctl.commit();
    ctl.take_outbox();
    ctl.take_log_data();
  }
  return 0;
}

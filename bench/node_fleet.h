// A fleet of generated nodes: N node streams to a real `rackos controller`
// from one process, speaking the real node protocol (bench/controller_scale).
// Each node has its own gRPC channel (its own TCP connection, as real shims
// do), registers, heartbeats every 100 ms (its processes' usage on every 10th),
// answers starts and stops with events at once, and can be cut silently (a
// power cut: it stops sending and answering, its connection stays open).
// What the fleet measures is what the nodes saw: heartbeat → ack latency,
// refusals and stop orders (false deaths), and when the processes of a cut
// node were started again elsewhere.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace rackos::bench {

struct FleetConfig {
  std::string target;          // host:port of the controller (plaintext gRPC)
  int nodes = 1000;
  int64_t node_cpu_millis = 8000;
  int64_t node_memory_bytes = int64_t{64} << 30;
  int heartbeat_ms = 100;
  int usage_every = 10;        // every Nth heartbeat carries the processes' usage
  int sender_threads = 2;
  int connections = 0;         // 0: one TCP connection a node (as shims connect); K: the nodes' streams over K
                               // connections (as they would reach the active through link shards)
  std::string name_prefix = "gen-";
};

// Counts since the fleet started (or since reset_window for the latency).
struct FleetCounts {
  int64_t registered = 0;      // nodes that got Registered
  int64_t streams_ended = 0;   // streams the controller closed (or that failed)
  int64_t heartbeats = 0;      // sent
  int64_t acks = 0;            // received
  int64_t starts = 0;          // start orders received
  int64_t stops = 0;           // stop orders received
  int64_t refused = 0;         // refusals received (a node declared dead, ...)
  int64_t running = 0;         // processes the fleet runs now
};

class NodeFleet {
 public:
  explicit NodeFleet(FleetConfig cfg);
  ~NodeFleet();  // cancels every stream and waits for them
  NodeFleet(const NodeFleet&) = delete;
  NodeFleet& operator=(const NodeFleet&) = delete;

  // Opens every stream and registers; heartbeats start once registered.
  void start();
  FleetCounts counts() const;
  // Heartbeat → ack latencies (µs) seen since the last reset.
  void reset_latency();
  double ack_latency_us(double quantile) const;
  int64_t max_ack_gap_ms() const;  // the longest any node went without an ack since reset

  // Cuts node `index` silently and returns the processes it ran.
  std::vector<std::string> cut(int index);
  // For each process of the cut node: ms from the node's last heartbeat to
  // the start order for it on another node; empty optional while waiting.
  std::vector<double> restart_ms() const;
  size_t restarted() const;
  int64_t processes_on(int index) const;

  struct Node;  // one generated node's stream (node_fleet.cc)

 private:
  void send_loop(int thread);
  friend struct Node;
  void on_restart(const std::string& process, int node);
  void record_latency(int64_t us);

  FleetConfig cfg_;
  struct Counters {
    std::atomic<int64_t> registered{0}, ended{0}, heartbeats{0}, acks{0}, starts{0}, stops{0}, refused{0}, running{0};
  };
  Counters counters_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<std::thread> senders_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::vector<int64_t> latency_buckets_;  // 50 µs wide, up to 10 s
  int64_t latency_total_ = 0;
  std::atomic<int64_t> max_gap_ms_{0};
  int64_t started_us_ = 0;
  int cut_ = -1;
  int64_t cut_last_heartbeat_us_ = 0;
  std::vector<std::string> cut_processes_;
  std::vector<double> restart_ms_;
  std::vector<bool> restarted_;
};

}  // namespace rackos::bench

// The controller's brain: the cluster state (core), what each node's shim is
// connected on, and every decision — registration and leases, placement,
// restarts with backoff, lost-process rescheduling, drain, scaling — with each
// change written to the Store as one commit. No threads, no sockets, no
// clock: the server (server.h) feeds it messages and the time, commits, and
// delivers what it wants sent. That keeps it testable step by step.
//
// Names: a process is "<service>-<instance>" (web-3) for life; each run of it
// on a node is a launch, "<name>.<n>" (web-3.2), the id the shim knows. A
// launch is never reused, so a start sent twice is harmless and a stale copy
// on a node that came back is told apart from the current one.
//
// Order of a step: handlers change the state and queue messages → settle()
// places what waits → commit() writes one transaction → take_outbox() is
// sent. Nothing reaches a shim before it is durable, so a controller killed
// at any point restarts into a state no shim is ahead of.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "controller/auth_registry.h"
#include "controller/event_log.h"
#include "controller/metrics.h"
#include "controller/node_beats.h"
#include "controller/store.h"
#include "core/cluster_state.h"
#include "core/instance_scaling.h"
#include "core/node_health.h"
#include "core/recommender.h"
#include "core/restart_policy.h"
#include "proto/convert.h"
#include "rackos/v1/cluster.pb.h"
#include "rackos/v1/node.pb.h"

namespace rackos::controller {

using ConnId = uint64_t;

struct ControllerConfig {
  HealthConfig health;
  ScalingConfig scaling;
  int score_window = 32;
  // The bootstrap join secret (--token-file): with TLS, the join token with id
  // "boot"; with --insecure-no-tls, what every shim's Register must carry.
  std::string token;
  bool insecure = false;               // no TLS: no CA, no tokens, no users; the Register token is the only check
  auth::CertAuthority fallback_ca;     // the data dir's copy of the CA, for a store that holds none
  int64_t stop_grace_ms = 5'000;
  bool allow_fault_injection = false;  // `rackos node kill`
  int64_t reconnect_grace_ms = 2'000;  // after a controller restart, nodes have this long to reconnect
  int64_t retry_unplaceable_ms = 1'000;
  int64_t scaling_every_ms = 1'000;
  // Learned minimums (min: auto): the rule's parameters, how often it runs,
  // and how many processes' envelopes it may change a second (raises first).
  RecommenderConfig recommender;
  int64_t learn_every_ms = 1'000;
  int64_t learned_updates_per_s = 200;
  // Take over what nodes run even when their cluster id or store revision
  // does not match the store (an empty, lost or restored store): rebuild the
  // services from the launches the nodes report, and give the nodes this
  // store's cluster id. Without it such nodes are refused and keep their work.
  bool adopt = false;
};

// The largest message a node's stream carries (the shim's gRPC limit is
// larger; this leaves room).
inline constexpr size_t kMaxNodeMessageBytes = 4 << 20;

struct Outgoing {
  ConnId conn = 0;
  v1::ControllerMessage msg;
  bool close = false;  // end the stream after this message
};

struct ControllerCounters {
  uint64_t placements = 0;
  uint64_t reschedules = 0;
  uint64_t preemptions = 0;
  uint64_t restarts = 0;
  uint64_t exits = 0;
  uint64_t commits = 0;
  uint64_t commit_errors = 0;
  uint64_t refused_shims = 0;
  uint64_t moves = 0;  // processes moved off a node that could not give them enough
  uint64_t learned_raises = 0;   // learned mins raised (per service and resource)
  uint64_t learned_lowers = 0;
  uint64_t learned_moves = 0;    // processes moved because a raised min no longer fit their node
};

class ClusterController {
 public:
  ClusterController(ControllerConfig cfg, Store* store, EventLog* events);

  // Loads what the store holds (a restart): services, nodes, processes.
  // Nodes get reconnect_grace_ms to come back before they are declared dead.
  Result<size_t> load(int64_t now_ms);
  // After a failed commit: forget every change since the last good one and
  // load the store again (counters kept). Every connected node is asked to
  // register again (its stream closed), so what it reported meanwhile —
  // starts, exits — is heard again rather than lost.
  Result<size_t> reset_to_store(int64_t now_ms);

  // --- node streams ---
  // `acked`: a heartbeat its stream's thread already took and acknowledged
  // (NodeBeats); only what it carries (process usage and states) is left.
  void on_shim_message(ConnId conn, const v1::ShimMessage& m, int64_t now_ms, bool acked = false);
  void on_disconnect(ConnId conn, int64_t now_ms);
  // Last-heard times shared with the stream threads, and who to tell when a
  // stream starts or stops speaking for a node (slot) or for none (nullptr).
  NodeBeats& beats() { return *beats_; }
  void set_conn_binder(std::function<void(ConnId, NodeBeats::Slot*)> f) { bind_ = std::move(f); }
  uint64_t store_revision() const;

  // --- time ---
  // Leases, backoffs, scaling; call every few ms.
  void tick(int64_t now_ms);

  // --- clients (each returns one clear error, and then changed nothing) ---
  // `root_refusal`: when not empty, a spec that runs as root is refused with
  // this line (the caller is not an admin).
  v1::ApplyResponse apply(const std::string& yaml, int64_t now_ms, const std::string& root_refusal = "");
  // The CA, join tokens and users (committed with everything else).
  AuthRegistry& auth() { return auth_; }
  // The same for specs already parsed (the simulator's clients); each is
  // admitted (admission_errors) as the YAML path does.
  v1::ApplyResponse apply_specs(const std::vector<ServiceSpec>& specs, int64_t now_ms);
  Result<uint32_t> stop_service(const std::string& name, int64_t now_ms);
  Result<bool> scale(const std::string& name, uint32_t min, uint32_t max, int64_t now_ms);
  Result<uint32_t> drain(const std::string& node, bool undo, int64_t now_ms);
  Result<uint32_t> kill_node(const std::string& node, int64_t now_ms);
  // Orders the node's active shim to hand over and re-execute `binary` as its
  // standby (a rolling upgrade, one shim at a time); returns its incarnation.
  Result<uint64_t> upgrade_node(const std::string& node, const std::string& binary, int64_t now_ms);
  v1::ListServicesResponse list_services(const v1::ListRequest& req) const;
  v1::ListProcessesResponse list_processes(const v1::ListRequest& req) const;
  v1::ListNodesResponse list_nodes(const v1::ListRequest& req) const;
  // A service's learned mins: bounds, the min now, the histogram, and why.
  Result<v1::ExplainResponse> explain(const std::string& service, int64_t now_ms) const;
  // Where a process's logs are: (conn, launch id) of each matching process
  // whose node is connected; an error names what is unknown.
  struct LogSource {
    std::string process;
    ConnId conn = 0;
    std::string launch;
  };
  Result<std::vector<LogSource>> log_sources(const std::string& service, const std::string& process) const;
  // Sends a ReadLog to a node; the answer comes back as a LogData message.
  void send_read_log(ConnId conn, const v1::ReadLog& req);
  // LogData answers from shims, handed to the server (which routes them).
  std::vector<v1::LogData> take_log_data();

  // --- step end ---
  // Places what waits (pending, lost, backoff that is due).
  void settle(int64_t now_ms);
  // Writes every change since the last commit in one transaction.
  Result<uint64_t> commit();
  std::vector<Outgoing> take_outbox();
  // A planned handover, once this controller has stopped acting: one last
  // acknowledgement to every connected node granting a whole lease from when
  // it arrives (its send time is "now" on the node's clock), so nodes keep
  // their work running while they move to the new active — which gives them
  // the reconnect grace (longer than a lease) before it counts their leases.
  void ack_all_for_handover();

  // --- views ---
  std::string metrics_text() const;
  std::string state_json() const;
  const ClusterState& state() const { return state_; }
  const ControllerCounters& counters() const { return counters_; }
  const Histogram& failover_histogram() const { return failover_; }
  const std::string& cluster_id() const { return cluster_id_; }
  std::string process_name(ProcessId id) const;
  std::string launch_id(ProcessId id) const;

 private:
  struct ProcExtra {
    uint32_t launch = 0;        // runs so far; the current one is name.launch
    int32_t pid = 0;
    bool stop_wanted = false;   // remove it once it has stopped (stop, scale down, replace)
    int64_t lost_at_ms = -1;    // its node died at (failover timing)
    NodeId lost_from = kNoNode;
    NodeId last_node = kNoNode; // where its last launch ran (logs of exited processes)
    std::string reason;         // pending: why unplaced; backoff: what happened
    v1::Allocation allocation;
    v1::Usage usage;
  };
  struct NodeLink {
    ConnId conn = 0;            // 0: no stream
    std::string enforcement;
    std::set<std::string> stale;  // launches a fenced node must stop before it is ready
    int64_t died_at_ms = -1;    // failover timing: last heartbeat before it died
    size_t lost_outstanding = 0;
  };
  struct ServiceExtra {
    uint32_t desired = 0;       // instances wanted now, within [min, max]
    bool stopping = false;
    ScalingState scaling;
    ServiceLearning learning;   // min: auto (not stored: a new controller learns afresh, keeping the mins)
  };

  void on_register(ConnId conn, const v1::Register& reg, int64_t now_ms);
  // Why this node must not join (another cluster's, or ahead of the store),
  // or empty. Nodes refused so keep their work; --adopt takes them over.
  std::string identity_mismatch(const v1::Register& reg) const;
  // --adopt: a live launch the cluster does not know becomes one of its
  // processes (its service rebuilt from the launch if needed). False when it
  // cannot be adopted (then it is left running and reported).
  bool adopt_launch(NodeId node, const v1::ProcessInfo& p, const v1::StartProcess* launch, int64_t now_ms);
  void on_heartbeat(ConnId conn, NodeId node, const v1::Heartbeat& hb, int64_t now_ms, bool acked);
  void on_heartbeat_processes(NodeId node, const v1::Heartbeat& hb, int64_t now_ms);
  void bind(ConnId conn, NodeId node);  // kNoNode: the stream speaks for no node now
  void on_event(ConnId conn, NodeId node, const v1::ProcessEvent& ev, int64_t now_ms);
  void handle_exit(ProcessId id, const v1::ExitStatus& exit, int64_t now_ms);
  void node_died(NodeId node, int64_t now_ms);
  void mark_running(ProcessId id, int32_t pid, int64_t now_ms);
  void send(ConnId conn, v1::ControllerMessage msg, bool close = false);
  void send_start(ProcessId id);
  void send_stop(ProcessId id, int64_t grace_ms);
  // Stops a bound process's current launch and frees its node; the process
  // goes back to pending (drain, moves). An at-most-one process waits, bound
  // and `stopping`, until its launch has exited (break before make).
  void move_off(ProcessId id, int64_t now_ms);
  void remove_process(ProcessId id, int64_t now_ms);
  // Stops it for good (stop, scale down, replace): removed once it has stopped.
  void stop_for_good(ProcessId id, int64_t now_ms);
  void clear_lost(ProcessId id, int64_t now_ms, bool running);
  void check_reconciled(NodeId node, int64_t now_ms);
  void reconcile_instances(ServiceId sid, int64_t now_ms);
  void finish_stopping(ServiceId sid, int64_t now_ms);
  void scale_services(int64_t now_ms);
  // Learned mins (cluster_controller_learning.cc): samples in, mins changed
  // in place within the rate budget.
  void observe_usage(ProcessId id, const v1::Usage& u, const v1::Allocation& a, int64_t now_ms);
  void learn_mins(int64_t now_ms);
  // Changes a service's mins in place. A raise that does not fit: replicas
  // that no longer fit their node are moved; an at-most-one process is raised
  // only as far as its node has room (the values are lowered to what was
  // set). False: nothing changed (no room at all, or an instance must first
  // leave its node: tried again on the next pass).
  bool set_learned_mins(ServiceId sid, int64_t& cpu_min, int64_t& memory_min, int64_t now_ms);
  void set_health(NodeId node, const NodeHealth& h);
  void mark_dirty(ProcessId id);
  std::string process_key(ProcessId id) const;
  v1::ProcessInfo process_info(const ProcessRecord& r) const;
  ServiceExtra& sx(ServiceId id);
  // The service's spec as YAML (formatted when written or shown: a cache of
  // it cost ~0.5 KB per service, a third of what the simulator held at scale).
  std::string yaml_of(ServiceId id) const;

  ControllerConfig cfg_;
  AuthRegistry auth_;
  std::string cluster_id_;
  bool cluster_dirty_ = false;  // the identity record is to be written
  bool store_was_empty_ = false;
  uint64_t revision_seen_ = 0;  // the store's revision as this controller last loaded or committed it
  Store* store_;
  EventLog* events_;
  std::shared_ptr<NodeBeats> beats_ = std::make_shared<NodeBeats>();
  std::function<void(ConnId, NodeBeats::Slot*)> bind_;
  ClusterState state_;
  std::unordered_map<uint64_t, ProcExtra> pextra_;
  std::unordered_map<std::string, ProcessId> by_launch_;  // current launches only
  std::unordered_map<NodeId, NodeLink> links_;
  std::unordered_map<ConnId, NodeId> conn_node_;
  std::unordered_map<ServiceId, ServiceExtra> sextra_;
  std::set<uint64_t> waiting_;                              // unbound, wanting a node
  std::vector<std::pair<ProcessId, NodeId>> avoid_;          // moves: not back onto this node
  bool capacity_changed_ = true;
  bool cut_off_ = false;        // more than half of the nodes silent: no deaths declared (tick)
  int64_t last_retry_ms_ = 0;
  int64_t last_scaling_ms_ = 0;
  int64_t last_learn_ms_ = 0;
  double learn_budget_ = 0;     // process envelope updates allowed now (token bucket)

  // Dirty since the last commit.
  std::set<uint64_t> dirty_procs_;
  std::set<ServiceId> dirty_services_;
  std::set<NodeId> dirty_nodes_;
  std::vector<std::pair<std::string, std::string>> deletes_;

  std::vector<Outgoing> outbox_;
  std::vector<std::pair<ProcessId, std::string>> start_too_big_;  // starts refused before sending
  std::vector<v1::LogData> log_data_;
  ControllerCounters counters_;
  Histogram failover_{{50, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 1500, 2000, 5000, 10000}};
  Histogram store_latency_{{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250}};
};

}  // namespace rackos::controller

// Generated nodes for the controller load bench (see node_fleet.h).
#include "bench/node_fleet.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cstdio>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <set>

#include "rackos/v1/node.grpc.pb.h"
#include "rackos_version.h"

namespace rackos::bench {
namespace {

int64_t steady_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}
constexpr int64_t kBucketUs = 50;
constexpr size_t kBuckets = 200000;  // 10 s

}  // namespace

struct NodeFleet::Node final : grpc::ClientBidiReactor<v1::ShimMessage, v1::ControllerMessage> {
  NodeFleet& fleet;
  int index;
  std::string name;
  std::unique_ptr<v1::NodeService::Stub> stub;
  grpc::ClientContext ctx;
  v1::ControllerMessage in;

  std::mutex mu;
  std::deque<v1::ShimMessage> q;
  v1::ShimMessage writing_msg;
  bool writing = false;
  bool registered = false;
  bool silent = false;
  bool done = false;
  uint64_t seq = 0;
  std::array<int64_t, 32> sent_us{};       // by seq % 32
  int64_t last_ack_us = 0;
  int64_t last_heartbeat_us = 0;
  int64_t register_sent_us = 0;
  std::map<std::string, std::string> running;  // launch id → service
  int pid = 1000;
  std::condition_variable done_cv;

  Node(NodeFleet& f, int i, const std::shared_ptr<grpc::Channel>& ch)
      : fleet(f), index(i), name(f.cfg_.name_prefix + std::to_string(i)), stub(v1::NodeService::NewStub(ch)) {}

  void open() {
    stub->async()->Connect(&ctx, this);
    StartRead(&in);
    v1::ShimMessage m;
    auto* r = m.mutable_register_();
    r->set_wire_version(RACKOS_WIRE_VERSION);
    r->set_node(name);
    r->set_cpu_millis(fleet.cfg_.node_cpu_millis);
    r->set_memory_bytes(fleet.cfg_.node_memory_bytes);
    r->set_enforcement("none (generated)");
    register_sent_us = steady_us();
    {
      std::lock_guard lock(mu);
      push(std::move(m));
    }
    StartCall();
    flush();
  }

  // Under mu: queued, written by flush() (never call StartWrite holding mu: its
  // completion may run on this very thread).
  void push(v1::ShimMessage m) {
    if (silent || done) return;
    q.push_back(std::move(m));
  }

  void flush() {
    std::unique_lock lock(mu);
    if (writing || q.empty() || silent || done) return;
    writing = true;
    writing_msg = std::move(q.front());
    q.pop_front();
    lock.unlock();
    StartWrite(&writing_msg);
  }

  void OnWriteDone(bool ok) override {
    {
      std::lock_guard lock(mu);
      writing = false;
      if (!ok) {
        q.clear();
        return;
      }
    }
    flush();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows
    handle(in);
    in.Clear();
    StartRead(&in);
  }

  void OnDone(const grpc::Status&) override {
    std::lock_guard lock(mu);
    done = true;
    fleet.counters_.ended.fetch_add(1);
    done_cv.notify_all();
  }

  void heartbeat(bool with_usage) {
    beat(with_usage);
    flush();
  }

  void beat(bool with_usage) {
    std::lock_guard lock(mu);
    if (!registered || silent || done) return;
    v1::ShimMessage m;
    auto* hb = m.mutable_heartbeat();
    hb->set_seq(++seq);
    hb->set_sent_ms(wall_ms());
    const int64_t now = steady_us();
    if (last_ack_us > 0) {
      const int64_t gap = (now - last_ack_us) / 1000;
      int64_t cur = fleet.max_gap_ms_.load();
      while (gap > cur && !fleet.max_gap_ms_.compare_exchange_weak(cur, gap)) {
      }
    }
    sent_us[seq % sent_us.size()] = now;
    last_heartbeat_us = now;
    if (with_usage) {
      int k = 0;
      for (const auto& [id, service] : running) {
        auto* p = hb->add_processes();
        p->set_id(id);
        p->set_service(service);
        p->set_state(v1::RUNNING);
        p->set_pid(2000 + k);
        auto* a = p->mutable_allocation();
        a->set_cpu_target_millis(100);
        a->set_cpu_quota_millis(100);
        a->set_memory_high_bytes(16 << 20);
        a->set_memory_max_bytes(16 << 20);
        auto* u = p->mutable_usage();
        u->set_cpu_used_millis(5 + (seq / 10 + k) % 7);  // a little movement, as real use has
        u->set_cpu_demand_millis(5 + (seq / 10 + k) % 7);
        u->set_memory_bytes((4 << 20) + ((seq / 10 + k) % 5) * 4096);
        ++k;
      }
    }
    fleet.counters_.heartbeats.fetch_add(1);
    push(std::move(m));
  }

  void handle(const v1::ControllerMessage& m) {
    std::string restarted;
    {
      std::lock_guard lock(mu);
      if (silent) return;
      if (m.has_registered()) {
        if (!registered) fleet.counters_.registered.fetch_add(1);
        registered = true;
        last_ack_us = steady_us();
      } else if (m.has_ack()) {
        const int64_t now = steady_us();
        last_ack_us = now;
        fleet.counters_.acks.fetch_add(1);
        if (m.ack().seq() > 0 && m.ack().seq() + sent_us.size() > seq) {
          fleet.record_latency(now - sent_us[m.ack().seq() % sent_us.size()]);
        }
      } else if (m.has_start()) {
        fleet.counters_.starts.fetch_add(1);
        if (running.emplace(m.start().id(), m.start().service()).second) fleet.counters_.running.fetch_add(1);
        v1::ShimMessage e;
        e.mutable_event()->set_id(m.start().id());
        e.mutable_event()->set_kind("started");
        e.mutable_event()->set_pid(++pid);
        push(std::move(e));
        restarted = m.start().id().substr(0, m.start().id().rfind('.'));
      } else if (m.has_stop()) {
        fleet.counters_.stops.fetch_add(1);
        if (running.erase(m.stop().id())) fleet.counters_.running.fetch_sub(1);
        v1::ShimMessage e;
        e.mutable_event()->set_id(m.stop().id());
        e.mutable_event()->set_kind("exited");
        e.mutable_event()->mutable_exit()->set_signal(15);
        e.mutable_event()->mutable_exit()->set_stop_requested(true);
        e.mutable_event()->mutable_exit()->set_ended_ms(wall_ms());
        push(std::move(e));
      } else if (m.has_refused()) {
        // The first few refusals say why (a node declared dead: how long since its last ack and heartbeat).
        if (fleet.counters_.refused.fetch_add(1) < 3) {
          const int64_t now = steady_us();
          std::fprintf(stderr, "%s refused at %lld ms (last ack %lld ms before, last heartbeat %lld ms before): %s\n",
                       name.c_str(), static_cast<long long>((now - fleet.started_us_) / 1000),
                       static_cast<long long>((now - last_ack_us) / 1000),
                       static_cast<long long>((now - last_heartbeat_us) / 1000), m.refused().c_str());
        }
      } else if (m.has_read_log()) {
        v1::ShimMessage l;
        l.mutable_log_data()->set_request(m.read_log().request());
        l.mutable_log_data()->set_error("a generated node keeps no logs");
        push(std::move(l));
      }
    }
    flush();
    if (!restarted.empty()) fleet.on_restart(restarted, index);
  }
};

NodeFleet::NodeFleet(FleetConfig cfg) : cfg_(std::move(cfg)), latency_buckets_(kBuckets, 0) {
}

NodeFleet::~NodeFleet() {
  stop_ = true;
  for (auto& t : senders_) t.join();
  for (auto& n : nodes_) n->ctx.TryCancel();
  // A node is freed only once gRPC is done with it; one still in use after a
  // minute (an overloaded machine) is left allocated rather than freed under it.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (auto& n : nodes_) {
    std::unique_lock lock(n->mu);
    if (!n->done_cv.wait_until(lock, until, [&] { return n->done; })) {
      lock.unlock();
      (void)n.release();
    }
  }
}

void NodeFleet::start() {
  started_us_ = steady_us();
  std::vector<std::shared_ptr<grpc::Channel>> shared;
  for (int i = 0; i < cfg_.nodes; ++i) {
    if (cfg_.connections > 0 && static_cast<int>(shared.size()) == cfg_.connections) {
      nodes_.push_back(std::make_unique<Node>(*this, i, shared[i % cfg_.connections]));
      continue;
    }
    grpc::ChannelArguments args;
    // Its own connection: channels to one address share a subchannel otherwise.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetMaxReceiveMessageSize(64 << 20);
    args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);  // as the shim's link
    auto ch = grpc::CreateCustomChannel(cfg_.target, grpc::InsecureChannelCredentials(), args);
    if (cfg_.connections > 0) shared.push_back(ch);
    nodes_.push_back(std::make_unique<Node>(*this, i, ch));
  }
  // Heartbeats from the first registration on, as a real shim's (opening
  // thousands of channels takes a while).
  for (int t = 0; t < cfg_.sender_threads; ++t) senders_.emplace_back([this, t] { send_loop(t); });
  for (auto& n : nodes_) n->open();
}

// Node i heartbeats at phase i % period within each period, so that the
// fleet's heartbeats are spread evenly over time, as independent nodes' are.
void NodeFleet::send_loop(int thread) {
  const int period = cfg_.heartbeat_ms;
  std::vector<std::vector<Node*>> by_slot(period);
  for (int i = thread; i < cfg_.nodes; i += cfg_.sender_threads) by_slot[i % period].push_back(nodes_[i].get());
  std::vector<uint64_t> rounds(cfg_.nodes, 0);
  auto next = std::chrono::steady_clock::now();
  int slot = 0;
  while (!stop_) {
    for (Node* n : by_slot[slot]) n->heartbeat(++rounds[n->index] % cfg_.usage_every == 0);
    slot = (slot + 1) % period;
    next += std::chrono::milliseconds(1);
    std::this_thread::sleep_until(next);
  }
}

void NodeFleet::record_latency(int64_t us) {
  std::lock_guard lock(mu_);
  latency_buckets_[std::min<size_t>(kBuckets - 1, static_cast<size_t>(std::max<int64_t>(0, us) / kBucketUs))]++;
  ++latency_total_;
}

FleetCounts NodeFleet::counts() const {
  return {counters_.registered.load(), counters_.ended.load(), counters_.heartbeats.load(), counters_.acks.load(),
          counters_.starts.load(),     counters_.stops.load(), counters_.refused.load(),   counters_.running.load()};
}

void NodeFleet::reset_latency() {
  std::lock_guard lock(mu_);
  std::fill(latency_buckets_.begin(), latency_buckets_.end(), 0);
  latency_total_ = 0;
  max_gap_ms_ = 0;
}

double NodeFleet::ack_latency_us(double quantile) const {
  std::lock_guard lock(mu_);
  if (latency_total_ == 0) return 0;
  const auto want = static_cast<int64_t>(quantile * static_cast<double>(latency_total_));
  int64_t seen = 0;
  for (size_t b = 0; b < kBuckets; ++b) {
    seen += latency_buckets_[b];
    if (seen > want) return static_cast<double>((b + 1) * kBucketUs);
  }
  return static_cast<double>(kBuckets * kBucketUs);
}

int64_t NodeFleet::max_ack_gap_ms() const { return max_gap_ms_.load(); }

int64_t NodeFleet::processes_on(int index) const {
  std::lock_guard lock(nodes_[index]->mu);
  return static_cast<int64_t>(nodes_[index]->running.size());
}

std::vector<std::string> NodeFleet::cut(int index) {
  Node& n = *nodes_[index];
  std::vector<std::string> lost;
  int64_t last = 0;
  {
    std::lock_guard lock(n.mu);
    n.silent = true;
    n.q.clear();
    last = n.last_heartbeat_us;
    for (const auto& [id, service] : n.running) lost.push_back(id.substr(0, id.rfind('.')));
  }
  std::lock_guard lock(mu_);
  cut_ = index;
  cut_last_heartbeat_us_ = last;
  cut_processes_ = lost;
  restart_ms_.assign(lost.size(), -1);
  restarted_.assign(lost.size(), false);
  return lost;
}

void NodeFleet::on_restart(const std::string& process, int node) {
  const int64_t now = steady_us();
  std::lock_guard lock(mu_);
  if (cut_ < 0 || node == cut_) return;
  for (size_t i = 0; i < cut_processes_.size(); ++i) {
    if (!restarted_[i] && cut_processes_[i] == process) {
      restarted_[i] = true;
      restart_ms_[i] = static_cast<double>(now - cut_last_heartbeat_us_) / 1000.0;
      return;
    }
  }
}

std::vector<double> NodeFleet::restart_ms() const {
  std::lock_guard lock(mu_);
  return restart_ms_;
}

size_t NodeFleet::restarted() const {
  std::lock_guard lock(mu_);
  return static_cast<size_t>(std::count(restarted_.begin(), restarted_.end(), true));
}

}  // namespace rackos::bench

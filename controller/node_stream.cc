// One shim's stream on the controller (see node_stream.h).
#include "controller/node_stream.h"

#include <chrono>

namespace rackos::controller {
namespace {

using grpc::Status;
using grpc::StatusCode;

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}
double steady_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// A stream refused before it began: finished at once.
class Refused final : public grpc::ServerBidiReactor<v1::ShimMessage, v1::ControllerMessage> {
 public:
  explicit Refused(Status st) { Finish(std::move(st)); }
  void OnDone() override { delete this; }
};

}  // namespace

std::shared_ptr<NodeStream> NodeStream::open(grpc::CallbackServerContext* ctx, NodeStreamShared& shared, ConnId conn,
                                             std::string cert_node, bool check_name) {
  auto s = std::make_shared<NodeStream>(ctx, shared, conn, std::move(cert_node), check_name);
  s->self_ = s;
  return s;
}

grpc::ServerBidiReactor<v1::ShimMessage, v1::ControllerMessage>* NodeStream::refuse(Status why) {
  return new Refused(std::move(why));
}

NodeStream::NodeStream(grpc::CallbackServerContext* ctx, NodeStreamShared& shared, ConnId conn, std::string cert_node,
                       bool check_name)
    : ctx_(ctx),
      shared_(shared),
      conn_(conn),
      cert_node_(std::move(cert_node)),
      check_name_(check_name),
      tokens_(shared.burst),
      tokens_at_(steady_s()) {}

void NodeStream::begin() { StartRead(&in_); }

void NodeStream::OnReadDone(bool ok) {
  if (!ok) {  // the shim went away (or the stream was cancelled)
    end(Status::OK);
    return;
  }
  // A node speaks only for itself.
  if (check_name_ && in_.has_register_() && in_.register_().node() != cert_node_) {
    const std::string line = "permission denied: the certificate of node " + cert_node_ + " cannot register node " +
                             in_.register_().node();
    shared_.refused(in_.register_().node().substr(0, 63), line);
    end(Status(StatusCode::PERMISSION_DENIED, line));
    return;
  }
  // And no node may flood the loop.
  const double t = steady_s();
  tokens_ = std::min<double>(shared_.burst, tokens_ + (t - tokens_at_) * shared_.messages_per_second);
  tokens_at_ = t;
  if (tokens_ < 1) {
    const std::string who = cert_node_.empty() ? "a node" : "node " + cert_node_;
    const std::string line = who + " sent more than " + std::to_string(shared_.messages_per_second) +
                             " messages a second (burst " + std::to_string(shared_.burst) + "): stream closed";
    shared_.refused(cert_node_.empty() ? ctx_->peer() : cert_node_, line);
    end(Status(StatusCode::RESOURCE_EXHAUSTED, line));
    return;
  }
  tokens_ -= 1;
  if (in_.has_heartbeat() && take_heartbeat(in_.heartbeat())) {
    if (in_.heartbeat().processes_size() > 0) {
      shared_.post(conn_, std::make_shared<const v1::ShimMessage>(std::move(in_)), true);
    }
  } else {
    shared_.post(conn_, std::make_shared<const v1::ShimMessage>(std::move(in_)), false);
  }
  in_.Clear();
  StartRead(&in_);
}

// Taken here when the node is bound to this stream, the loop holds it ready or suspect,
// and this controller may act; otherwise the loop answers it.
bool NodeStream::take_heartbeat(const v1::Heartbeat& hb) {
  NodeBeats::Slot* slot = slot_.load(std::memory_order_acquire);
  if (slot == nullptr || !shared_.acking.load(std::memory_order_acquire)) return false;
  if (shared_.leader_ok && !shared_.leader_ok()) return false;
  if (!NodeBeats::beat(*slot, wall_ms())) return false;
  v1::ControllerMessage ack;
  ack.mutable_ack()->set_seq(hb.seq());
  ack.mutable_ack()->set_sent_ms(hb.sent_ms());
  ack.mutable_ack()->set_store_revision(shared_.revision.load(std::memory_order_acquire));
  queue(std::move(ack), false);
  kick();
  return true;
}

void NodeStream::queue(v1::ControllerMessage m, bool close) {
  std::lock_guard lock(mu_);
  if (closing_ || finished_ || done_) return;
  q_.emplace_back(std::move(m), close);
  if (close) closing_ = true;  // nothing after it is written
}

void NodeStream::kick() {
  std::unique_lock lock(mu_);
  if (writing_ || finished_ || q_.empty()) return;
  writing_ = true;
  out_ = std::move(q_.front().first);
  out_close_ = q_.front().second;
  q_.pop_front();
  grpc::WriteOptions opts;
  // A burst (hundreds of starts after a node died) goes out coalesced: the
  // last message of what is queued flushes the ones before it.
  if (!q_.empty() && !out_close_) opts.set_buffer_hint();
  lock.unlock();
  StartWrite(&out_, opts);
}

void NodeStream::OnWriteDone(bool ok) {
  bool finish = false;
  Status st;
  {
    std::lock_guard lock(mu_);
    writing_ = false;
    if (!ok || out_close_) {
      q_.clear();
      closing_ = true;
      if (!end_wanted_) {
        end_wanted_ = true;
        end_status_ = Status::OK;
      }
    }
    if (end_wanted_ && !finished_) {
      finished_ = true;
      finish = true;
      st = end_status_;
    }
  }
  if (finish) {
    Finish(st);
    return;
  }
  kick();
}

void NodeStream::end(Status st) {
  {
    std::lock_guard lock(mu_);
    if (finished_ || end_wanted_) return;
    q_.clear();
    closing_ = true;
    if (writing_) {  // finished once the write in flight is done
      end_wanted_ = true;
      end_status_ = std::move(st);
      return;
    }
    finished_ = true;
  }
  Finish(std::move(st));
}

bool NodeStream::idle() {
  std::lock_guard lock(mu_);
  return (q_.empty() && !writing_) || finished_ || done_;
}

void NodeStream::cancel() {
  std::lock_guard lock(cancel_mu_);
  if (!ended_) ctx_->TryCancel();
}

void NodeStream::OnDone() {
  auto keep = std::move(self_);  // this may be deleted when `keep` goes
  {
    std::lock_guard lock(cancel_mu_);
    ended_ = true;
  }
  {
    std::lock_guard lock(mu_);
    done_ = true;
  }
  shared_.gone(conn_);
}

}  // namespace rackos::controller

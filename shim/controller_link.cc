// The shim's controller stream and its reconnects (see controller_link.h).
#include "shim/controller_link.h"

#include <grpcpp/grpcpp.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>

#include "rackos/v1/node.grpc.pb.h"

namespace rackos::shim {

namespace {
int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

ControllerLink::ControllerLink(LinkConfig cfg) : cfg_(std::move(cfg)) {
  event_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

ControllerLink::~ControllerLink() {
  stop_ = true;
  {
    std::lock_guard lock(stream_mu_);
    if (ctx_) ctx_->TryCancel();
  }
  out_cv_.notify_all();
  if (reader_.joinable()) reader_.join();
  if (writer_.joinable()) writer_.join();
  ::close(event_fd_);
}

namespace {
// A fresh channel for every attempt, with its own subchannel (no backoff
// inherited from a failed attempt): a controller that restarts is found again
// within one retry period, well inside the nodes' reconnect grace.
std::shared_ptr<grpc::Channel> make_channel(const std::string& target, const auth::TlsIdentity& id) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 20);
  // gRPC takes the minimum backoff as the connect timeout as well: a short
  // one cuts handshakes on a busy machine ("tcp handshaker shutdown").
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 1000);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);  // small messages: no PING per heartbeat to size a window
  args.SetMaxReceiveMessageSize(64 << 20);  // as much as the controller may send (a Registered for a big node)
  args.SetMaxSendMessageSize(64 << 20);
  auto creds = auth::channel_credentials(target, id, args);
  return grpc::CreateCustomChannel(target, creds, args);
}
}  // namespace

void ControllerLink::start() {
  reader_ = std::thread([this] { run(); });
  writer_ = std::thread([this] { write_loop(); });
}

void ControllerLink::push(LinkItem item) {
  {
    std::lock_guard lock(in_mu_);
    inbox_.push_back(std::move(item));
  }
  uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(event_fd_, &one, sizeof one);
}

std::vector<LinkItem> ControllerLink::take() {
  uint64_t v;
  [[maybe_unused]] auto n = ::read(event_fd_, &v, sizeof v);
  std::lock_guard lock(in_mu_);
  return std::exchange(inbox_, {});
}

void ControllerLink::send(v1::ShimMessage m) {
  if (!connected_) return;
  {
    std::lock_guard lock(out_mu_);
    outbox_.push_back(std::move(m));
  }
  out_cv_.notify_one();
}

void ControllerLink::write_loop() {
  while (!stop_) {
    std::deque<v1::ShimMessage> batch;
    {
      std::unique_lock lock(out_mu_);
      out_cv_.wait(lock, [&] { return !outbox_.empty() || stop_; });
      if (stop_) return;
      batch.swap(outbox_);
    }
    // A burst (events of many starts and exits) goes out coalesced: every
    // message but the last is buffered, the last flushes them all.
    std::lock_guard lock(stream_mu_);
    for (size_t i = 0; i < batch.size() && stream_; ++i) {
      grpc::WriteOptions opts;
      if (i + 1 < batch.size()) opts.set_buffer_hint();
      if (!stream_->Write(batch[i], opts)) break;
    }
  }
}

void ControllerLink::run() {
  int64_t backoff = 50;
  // Several addresses (a controller pair): only the active listens, so after
  // any disconnect the next address is tried.
  std::vector<std::string> targets;
  for (size_t start = 0; start <= cfg_.controller.size();) {
    size_t comma = cfg_.controller.find(',', start);
    std::string t = cfg_.controller.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!t.empty()) targets.push_back(t);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (targets.empty()) targets.push_back(cfg_.controller);
  size_t at = 0;
  while (!stop_) {
    const std::string target = targets[at % targets.size()];
    auth::TlsIdentity id;
    if (cfg_.creds) {
      auto r = cfg_.creds->identity(target);
      if (!r) {
        // No certificate and the join failed: a bad token is said and tried
        // again every 5 s (the operator may fix it); an unreachable
        // controller is tried again like a broken stream.
        push({LinkItem::disconnected, {}, r.error().message});
        const int64_t wait = r.error().code == ErrorCode::unavailable ? 200 : 5000;
        if (targets.size() > 1) ++at;
        for (int64_t waited = 0; waited < wait && !stop_; waited += 20) {
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        continue;
      }
      id = *r;
      cfg_.creds->start_renewal(targets);
    }
    channel_ = make_channel(target, id);
    v1::NodeService::Stub stub(channel_);
    auto ctx = std::make_shared<grpc::ClientContext>();
    std::shared_ptr<Stream> stream(stub.Connect(ctx.get()).release());
    {
      std::lock_guard lock(stream_mu_);
      ctx_ = ctx;
      stream_ = stream;
    }
    {
      std::lock_guard lock(out_mu_);
      outbox_.clear();  // nothing meant for an earlier stream
    }
    last_heard_ms_ = steady_ms();
    connected_ = true;
    push({LinkItem::connected, {}, ""});
    // A watchdog: a stream on which the controller stays silent is cancelled.
    std::atomic<bool> done{false};
    std::thread watchdog([&] {
      while (!done && !stop_) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        if (steady_ms() - last_heard_ms_ > cfg_.silence_ms) {
          ctx->TryCancel();
          return;
        }
      }
    });
    std::string refused;
    bool heard = false;
    v1::ControllerMessage msg;
    while (stream->Read(&msg)) {
      last_heard_ms_ = steady_ms();
      heard = true;
      if (msg.has_refused()) refused = msg.refused();
      push({LinkItem::message, std::move(msg), ""});
      msg.Clear();
    }
    done = true;
    watchdog.join();
    connected_ = false;
    grpc::Status st;
    {
      std::lock_guard lock(stream_mu_);
      stream->WritesDone();
      st = stream->Finish();
      stream_.reset();
      ctx_.reset();
    }
    // Refused before any message (a certificate for another node, too many messages): like a refusal.
    if (refused.empty() && st.error_code() == grpc::StatusCode::PERMISSION_DENIED) refused = st.error_message();
    std::string why = !refused.empty() ? "refused by the controller: " + refused
                      : st.ok()        ? "the controller closed the stream"
                                       : "controller " + target + ": " + st.error_message();
    push({LinkItem::disconnected, {}, why});
    if (heard && refused.empty()) backoff = 50;
    int64_t wait = refused.empty() ? backoff : (refused.find("declared dead") != std::string::npos ? 0 : 5000);
    backoff = std::min<int64_t>(backoff * 2, 200);
    if (targets.size() > 1 && refused.empty()) {
      // A pair: the active went away (a handover or a failover) and a standby
      // leads within milliseconds (planned) or a lease (unplanned): the
      // addresses are tried in turn every 20 ms, well inside the node lease.
      ++at;
      wait = heard ? 0 : 20;
    }
    for (int64_t waited = 0; waited < wait && !stop_; waited += 20) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
}

}  // namespace rackos::shim

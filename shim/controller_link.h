// The shim's connection to its controller: a NodeService.Connect stream kept
// open by a background thread that reconnects when it breaks (50 ms, growing
// to 200 ms; at once after "declared dead"; 5 s after any other refusal). The shim's loop never blocks on the network:
// it takes what arrived from an eventfd-signalled inbox and hands messages to
// send to a writer thread. A stream on which nothing arrives for `silence_ms`
// (a controller host that vanished without closing it) is cancelled and
// opened again.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "rackos/v1/node.pb.h"
#include "shim/node_credentials.h"

namespace grpc {
class ClientContext;
class Channel;
template <class W, class R>
class ClientReaderWriter;
}  // namespace grpc

namespace rackos::shim {

struct LinkConfig {
  std::string controller;      // host:port, or several (a controller pair): host:port,host:port
  int64_t silence_ms = 2'000;  // no message from the controller this long: reconnect
  // The node's certificate (joined on first use); null: plaintext (--insecure-no-tls).
  std::shared_ptr<NodeCredentials> creds;
};

struct LinkItem {
  enum Kind { connected, message, disconnected } kind = message;
  v1::ControllerMessage msg;
  std::string why;  // disconnected: the reason
};

class ControllerLink {
 public:
  explicit ControllerLink(LinkConfig cfg);
  ~ControllerLink();
  ControllerLink(const ControllerLink&) = delete;
  ControllerLink& operator=(const ControllerLink&) = delete;

  void start();
  int event_fd() const { return event_fd_; }
  std::vector<LinkItem> take();
  // Queued for the current stream; dropped when there is none.
  void send(v1::ShimMessage m);
  bool connected() const { return connected_.load(); }

 private:
  using Stream = grpc::ClientReaderWriter<v1::ShimMessage, v1::ControllerMessage>;
  void run();
  void write_loop();
  void push(LinkItem item);

  LinkConfig cfg_;
  int event_fd_ = -1;
  std::shared_ptr<grpc::Channel> channel_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> connected_{false};
  std::atomic<int64_t> last_heard_ms_{0};
  std::mutex in_mu_;
  std::vector<LinkItem> inbox_;
  std::mutex out_mu_;
  std::condition_variable out_cv_;
  std::deque<v1::ShimMessage> outbox_;
  std::mutex stream_mu_;  // guards stream_ and ctx_; held while writing
  std::shared_ptr<grpc::ClientContext> ctx_;
  std::shared_ptr<Stream> stream_;
  std::thread reader_, writer_;
};

}  // namespace rackos::shim

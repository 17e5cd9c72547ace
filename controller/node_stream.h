// One shim's stream on the controller (NodeService.Connect), served by gRPC's
// callback API: no thread per stream, reads and writes complete on gRPC's own
// threads. A heartbeat from a node the loop holds ready or suspect is taken and
// acknowledged right here (NodeBeats) — no trip through the writer loop, no
// commit — so acknowledgements never queue behind a burst of work; what a
// heartbeat carries (process usage) and every other message go to the loop.
// Messages from the loop are queued here and written in order, coalesced.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "controller/node_beats.h"
#include "core/ids.h"
#include "rackos/v1/node.pb.h"

namespace rackos::controller {

using ConnId = uint64_t;  // as in cluster_controller.h

// What every stream shares with the server.
struct NodeStreamShared {
  std::atomic<bool> acking{true};     // the loop acts (it has its store, and is not stopped or handing over)
  std::atomic<uint64_t> revision{0};  // the store revision acknowledgements carry
  std::function<bool()> leader_ok;    // null without an election
  // To the loop: a message from the stream (acked: a heartbeat already taken here).
  std::function<void(ConnId, std::shared_ptr<const v1::ShimMessage>, bool acked)> post;
  // The stream is gone (after its last callback): forget it, tell the loop.
  std::function<void(ConnId)> gone;
  // A stream refused here (wrong node name, flooding): `subject`, the line.
  std::function<void(const std::string&, const std::string&)> refused;
  int messages_per_second = 5000;  // a node starting 500 processes sends ~1,500
  int burst = 50000;
};

class NodeStream final : public grpc::ServerBidiReactor<v1::ShimMessage, v1::ControllerMessage> {
 public:
  // `cert_node`: the node its certificate names (empty: any, --insecure-no-tls).
  static std::shared_ptr<NodeStream> open(grpc::CallbackServerContext* ctx, NodeStreamShared& shared, ConnId conn,
                                          std::string cert_node, bool check_name);
  // A stream refused before it starts.
  static grpc::ServerBidiReactor<v1::ShimMessage, v1::ControllerMessage>* refuse(grpc::Status why);

  NodeStream(grpc::CallbackServerContext* ctx, NodeStreamShared& shared, ConnId conn, std::string cert_node,
             bool check_name);

  // Starts reading; call once the server can find this stream by its ConnId.
  void begin();
  // Any thread: queue a message (close: the last one; the stream ends after it).
  void queue(v1::ControllerMessage m, bool close);
  // Writes what is queued, if no write is in flight. Call with no lock held.
  void kick();
  // The node this stream speaks for (from the loop), or nullptr.
  void bind(NodeBeats::Slot* slot) { slot_.store(slot, std::memory_order_release); }
  bool idle();
  // Ends the stream (a handover). Safe after it ended: does nothing then.
  void cancel();

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnDone() override;

 private:
  bool take_heartbeat(const v1::Heartbeat& hb);
  void end(grpc::Status st);  // finish once no write is in flight

  grpc::CallbackServerContext* ctx_;
  NodeStreamShared& shared_;
  const ConnId conn_;
  const std::string cert_node_;
  const bool check_name_;
  std::shared_ptr<NodeStream> self_;  // dropped in OnDone
  std::atomic<NodeBeats::Slot*> slot_{nullptr};
  v1::ShimMessage in_;
  double tokens_;
  double tokens_at_;

  // Held while cancelling and when the stream ends, so that a cancel never
  // touches a context gRPC has freed; recursive because gRPC may end the
  // stream from within TryCancel, on the same thread.
  std::recursive_mutex cancel_mu_;
  bool ended_ = false;
  std::mutex mu_;
  std::deque<std::pair<v1::ControllerMessage, bool>> q_;
  v1::ControllerMessage out_;
  bool out_close_ = false;
  bool writing_ = false;
  bool closing_ = false;   // a close message was written or Finish is wanted
  bool finished_ = false;  // Finish called
  bool done_ = false;
  grpc::Status end_status_;
  bool end_wanted_ = false;
};

}  // namespace rackos::controller

// When each node was last heard, shared between the writer loop and the
// threads that read node streams, so that a heartbeat that changes nothing
// is acknowledged on its stream's thread without a trip through the loop,
// a store commit or an allocation (issue 15: 100,000 heartbeats a second).
//
// One 64-bit word per node: (last heard, ms) << 1 | loop_only. A stream
// thread may take a heartbeat only while loop_only is clear (the node is
// ready or suspect as far as the loop knows: not dead, not fenced), by
// compare-and-swap; the loop sets loop_only by compare-and-swap from the word
// it judged when it declares the node dead. So the two are ordered: either
// the heartbeat landed first and the loop sees it (and declares nothing), or
// the loop's flag landed first and the heartbeat goes through the loop, which
// refuses a dead node. A node is never acknowledged after it was declared
// dead — the lease proof (DESIGN.md) is unchanged. A suspect node's
// heartbeats are still taken here (the loop turns it ready on its next tick),
// so a node that was slow once does not then wait on a busy loop for acks.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>

#include "core/ids.h"
#include "core/node_health.h"

namespace rackos::controller {

class NodeBeats {
 public:
  struct Slot {
    std::atomic<uint64_t> word{1};  // never heard, loop only
  };

  // The slot of `node`; its address never changes. Loop thread only (it may grow the table).
  Slot* slot(NodeId node) {
    while (slots_.size() <= node) slots_.emplace_back();
    return &slots_[node];
  }
  // Every slot back to "loop only, never heard" (the controller reloaded the
  // store; node ids may now name other nodes).
  void reset() {
    for (auto& s : slots_) s.word.store(1);
  }

  // Stream thread: node heard at `now_ms`. False when the loop must see this
  // heartbeat (the node is not plainly ready); nothing is changed then.
  static bool beat(Slot& s, int64_t now_ms) {
    uint64_t w = s.word.load(std::memory_order_acquire);
    while (true) {
      if (w & 1) return false;
      const uint64_t heard = w >> 1;
      const uint64_t next = (now_ms > 0 && static_cast<uint64_t>(now_ms) > heard ? static_cast<uint64_t>(now_ms) : heard) << 1;
      if (next == w || s.word.compare_exchange_weak(w, next, std::memory_order_acq_rel)) return true;
    }
  }

  static uint64_t word(const Slot& s) { return s.word.load(std::memory_order_acquire); }
  static int64_t heard_ms(uint64_t word) { return static_cast<int64_t>(word >> 1); }

  // Loop: the node turns dead, judged on `seen`. False when a heartbeat was
  // taken meanwhile (judge again).
  static bool hold(Slot& s, uint64_t seen) {
    return s.word.compare_exchange_strong(seen, seen | 1, std::memory_order_acq_rel);
  }

  // Loop: the node's health as the loop now holds it; the time heard stays the latest.
  static void publish(Slot& s, const NodeHealth& h) {
    const bool loop_only = h.liveness == NodeState::dead || h.liveness == NodeState::fenced;
    uint64_t w = s.word.load(std::memory_order_acquire);
    while (true) {
      const int64_t heard = std::max(heard_ms(w), h.last_heartbeat_ms);
      const uint64_t next = (static_cast<uint64_t>(std::max<int64_t>(0, heard)) << 1) | (loop_only ? 1 : 0);
      if (s.word.compare_exchange_weak(w, next, std::memory_order_acq_rel)) return;
    }
  }

 private:
  std::deque<Slot> slots_;
};

}  // namespace rackos::controller

// The controller's event log: what happened (node died, process placed,
// restarted, refused...), numbered, the newest `capacity` kept in memory for
// `rackos ... watch` and the state view. Thread-safe: the loop appends, Watch
// streams wait for new entries.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

namespace rackos::controller {

struct Event {
  uint64_t seq = 0;
  int64_t time_ms = 0;
  std::string kind;      // node-ready, node-dead, placed, exited, restart, unplaceable, refused, ...
  std::string subject;   // a node, service or process name
  std::string message;
};

class EventLog {
 public:
  explicit EventLog(size_t capacity = 10'000) : capacity_(capacity) {}
  void add(int64_t time_ms, std::string kind, std::string subject, std::string message) {
    {
      std::lock_guard lock(mu_);
      events_.push_back({next_++, time_ms, std::move(kind), std::move(subject), std::move(message)});
      while (events_.size() > capacity_) events_.pop_front();
    }
    cv_.notify_all();
  }
  // Entries after `since`; waits up to `wait` for one when there are none.
  std::vector<Event> since(uint64_t since, std::chrono::milliseconds wait = std::chrono::milliseconds(0)) {
    std::unique_lock lock(mu_);
    if (wait.count() > 0) cv_.wait_for(lock, wait, [&] { return next_ - 1 > since; });
    std::vector<Event> out;
    for (const auto& e : events_) {
      if (e.seq > since) out.push_back(e);
    }
    return out;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Event> events_;
  uint64_t next_ = 1;
  size_t capacity_;
};

}  // namespace rackos::controller

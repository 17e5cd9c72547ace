// The leader record of a controller pair, in etcd beside the store: the key
// <prefix>~leader holds {id, address, term}; its etcd mod revision says when
// it last changed. Every write is a compare-and-swap on that revision, so of
// two controllers only one can take the lead or keep it; the timing rules
// (when to renew, when an active must stop, when a standby may take over)
// are core's (core/leader_lease.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "controller/etcd_store.h"
#include "core/result.h"

namespace rackos::controller {

struct LeaderRecord {
  std::string id;        // who leads ("host:pid")
  std::string address;   // where its API listens
  uint64_t term = 0;     // bumped at each takeover
  // A planned handover: the active has stopped acting and names who takes
  // over at once (a standby's id or address, "*": any). Empty: none.
  std::string handover_to;
  int64_t revision = 0;  // the record's etcd mod revision (0: there is none)
};

// Whether a standby (`id`, `address`) may take over at once (pure).
inline bool handed_to(const LeaderRecord& r, const std::string& id, const std::string& address) {
  return !r.handover_to.empty() && (r.handover_to == "*" || r.handover_to == id || r.handover_to == address);
}

class LeaderElection {
 public:
  LeaderElection(EtcdOptions options, std::string id, std::string address);
  ~LeaderElection();
  Result<LeaderRecord> read();
  // Takes the lead if the record is still at `revision` (0: absent); true
  // when this controller leads now (term bumped).
  Result<bool> campaign(int64_t revision);
  // Rewrites the record if it is still this controller's (compare on the
  // revision of its own last write); false: someone else took the lead.
  Result<bool> renew();
  // Hands the record to any standby if it is still this controller's (a
  // clean stop: one takes over at once, and the term keeps counting).
  void resign();
  // Marks the record as handed over to `to` (see LeaderRecord::handover_to),
  // if it is still this controller's; from then on this one must not act.
  Result<bool> hand_over(const std::string& to);
  const std::string& id() const;
  uint64_t term() const { return term_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  uint64_t term_ = 0;
};

}  // namespace rackos::controller

// The etcd Store: the controller's records in etcd (v3 gRPC API, stubs
// generated from etcd's own .proto files), for a controller pair that must
// share one durable, replicated state. Same rules as SQLite and the in-memory
// store (one conformance suite):
//   - a record (kind, key) is the etcd key <prefix><kind>/<key> (default
//     prefix "/rackos/"), its JSON the value;
//   - one commit is one etcd transaction: all of its puts and deletes, or none;
//   - keys under the prefix that start with '~' are not records (~rev below,
//     ~leader: the controller pair's leader record, leader_election.h);
//   - the store's revision is the version of the key <prefix>~rev, which
//     every commit rewrites: it moves by exactly one per commit, whatever
//     else is written to etcd (leadership records, other prefixes);
//   - a commit that expects a revision compares that version inside the
//     transaction, so a stale writer (a controller that lost leadership) is
//     refused and changes nothing.
// etcd limits a transaction to --max-txn-ops operations (default 128) and a
// request to --max-request-bytes (default 1.5 MiB): a commit larger than that
// is refused with an error naming the flags. `rackos up --store etcd` and the
// tests start etcd with limits large enough for a controller's steps.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "controller/store.h"

namespace grpc {
class Channel;
}

namespace rackos::controller {

struct EtcdOptions {
  std::vector<std::string> endpoints;  // host:port (several: members of one cluster)
  std::string prefix = "/rackos/";
  int64_t timeout_ms = 3'000;          // per request
};

// "etcd://127.0.0.1:2379[,127.0.0.1:22379...][/prefix/]" → options; one
// clear error naming what is wrong otherwise.
Result<EtcdOptions> parse_etcd_url(std::string_view url);

// A gRPC channel to every member (pick_first; reconnects within a second).
std::shared_ptr<grpc::Channel> etcd_channel(const EtcdOptions& options);

// Connects and reads the store's revision: an etcd that does not answer is
// one clear error here.
Result<std::unique_ptr<Store>> open_etcd_store(const EtcdOptions& options);

}  // namespace rackos::controller

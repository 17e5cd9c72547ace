// The etcd Store (see etcd_store.h).
#include "controller/etcd_store.h"

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <map>

#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"

namespace rackos::controller {
namespace {

namespace pb = etcdserverpb;

// The first key after every key that starts with `prefix`.
std::string prefix_end(std::string prefix) {
  while (!prefix.empty()) {
    auto& c = reinterpret_cast<unsigned char&>(prefix.back());
    if (c < 0xff) {
      ++c;
      return prefix;
    }
    prefix.pop_back();
  }
  return std::string(1, '\0');  // every key
}

bool is_ipv4_endpoint(const std::string& ep) {
  auto colon = ep.rfind(':');
  if (colon == std::string::npos) return false;
  in_addr a{};
  return ::inet_pton(AF_INET, ep.substr(0, colon).c_str(), &a) == 1;
}

class EtcdStore final : public Store {
 public:
  explicit EtcdStore(EtcdOptions o) : opt_(std::move(o)), rev_key_(opt_.prefix + "~rev") {
    for (size_t i = 0; i < opt_.endpoints.size(); ++i) endpoints_ += (i ? "," : "") + opt_.endpoints[i];
    connect();
  }

  std::string name() const override { return "etcd " + endpoints_ + opt_.prefix; }
  uint64_t revision() const override { return revision_; }

  Result<uint64_t> read_revision() {
    pb::RangeRequest req;
    req.set_key(rev_key_);
    pb::RangeResponse resp;
    grpc::ClientContext ctx;
    deadline(ctx);
    if (auto st = kv().Range(&ctx, req, &resp); !st.ok()) return failed("open", st);
    revision_ = resp.kvs_size() > 0 ? static_cast<uint64_t>(resp.kvs(0).version()) : 0;
    return revision_;
  }

  Result<StoreSnapshot> load() override {
    pb::RangeRequest req;
    req.set_key(opt_.prefix);
    req.set_range_end(prefix_end(opt_.prefix));
    pb::RangeResponse resp;
    grpc::ClientContext ctx;
    deadline(ctx);
    if (auto st = kv().Range(&ctx, req, &resp); !st.ok()) return failed("load", st);
    StoreSnapshot snap;
    revision_ = 0;
    for (const auto& kv : resp.kvs()) {
      if (kv.key() == rev_key_) {
        revision_ = static_cast<uint64_t>(kv.version());
        continue;
      }
      std::string_view rest(kv.key());
      rest.remove_prefix(opt_.prefix.size());
      if (!rest.empty() && rest.front() == '~') continue;  // the pair's own keys (~leader), not records
      auto slash = rest.find('/');
      if (slash == std::string_view::npos || slash == 0 || slash + 1 == rest.size()) {
        return Error{"store " + name() + ": key \"" + kv.key() + "\" is not <kind>/<key> (written by something else?)",
                     ErrorCode::invalid};
      }
      snap.records.push_back({std::string(rest.substr(0, slash)), std::string(rest.substr(slash + 1)), kv.value()});
    }
    std::sort(snap.records.begin(), snap.records.end(), [](const StoreRecord& a, const StoreRecord& b) {
      return a.kind != b.kind ? a.kind < b.kind : a.key < b.key;
    });
    snap.revision = revision_;
    return snap;
  }

  Result<uint64_t> commit(const StoreBatch& batch) override {
    // The final effect of the batch per key (puts first, then deletes, as the
    // other stores apply them): etcd refuses a key named twice in one txn.
    std::map<std::string, const std::string*> ops;  // key → value (null: delete)
    for (const auto& r : batch.puts) {
      if (r.kind.empty() || r.key.empty()) return Error{"a record needs a kind and a key", ErrorCode::invalid};
      if (r.kind.find('/') != std::string::npos) return Error{"a record kind cannot hold '/': " + r.kind, ErrorCode::invalid};
      ops[opt_.prefix + r.kind + "/" + r.key] = &r.value;
    }
    for (const auto& [kind, key] : batch.deletes) ops[opt_.prefix + kind + "/" + key] = nullptr;

    pb::TxnRequest req;
    if (batch.expect_revision) {
      auto* c = req.add_compare();
      c->set_result(pb::Compare::EQUAL);
      c->set_target(pb::Compare::VERSION);
      c->set_key(rev_key_);
      c->set_version(static_cast<int64_t>(*batch.expect_revision));
    }
    size_t bytes = 0;
    for (const auto& [key, value] : ops) {
      auto* op = req.add_success();
      if (value) {
        op->mutable_request_put()->set_key(key);
        op->mutable_request_put()->set_value(*value);
        bytes += key.size() + value->size();
      } else {
        op->mutable_request_delete_range()->set_key(key);
        bytes += key.size();
      }
    }
    req.add_success()->mutable_request_put()->set_key(rev_key_);  // the revision moves by one
    req.add_success()->mutable_request_range()->set_key(rev_key_);
    req.add_failure()->mutable_request_range()->set_key(rev_key_);

    pb::TxnResponse resp;
    grpc::ClientContext ctx;
    deadline(ctx);
    if (auto st = kv().Txn(&ctx, req, &resp); !st.ok()) {
      if (st.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
        return Error{"store " + name() + ": etcd refused a transaction of " + std::to_string(ops.size() + 2) +
                         " operations (" + std::to_string(bytes) + " bytes): " + st.error_message() +
                         " (start etcd with --max-txn-ops and --max-request-bytes at least that large)",
                     ErrorCode::invalid};
      }
      return failed("commit", st);
    }
    const uint64_t now = current_version(resp);
    if (!resp.succeeded()) {
      revision_ = now;
      return Error{"the store moved on (revision " + std::to_string(now) + ", expected " +
                       std::to_string(*batch.expect_revision) + "): another controller is writing",
                   ErrorCode::conflict};
    }
    revision_ = now;
    return revision_;
  }

 private:
  // A new channel to every member. Also after a request failed for want of
  // etcd: a channel whose member was killed and restarted was seen to stay
  // unable to connect (each attempt cut at its connect timeout) while a new
  // one connected at once.
  void connect() {
    channel_ = etcd_channel(opt_);
    kv_ = pb::KV::NewStub(channel_);
    reconnect_ = false;
  }

  // Before each request: a fresh channel if the last one failed for want of etcd.
  pb::KV::Stub& kv() {
    if (reconnect_) connect();
    return *kv_;
  }

  void deadline(grpc::ClientContext& ctx) const {
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(opt_.timeout_ms));
  }

  static uint64_t current_version(const pb::TxnResponse& resp) {
    for (const auto& r : resp.responses()) {
      if (r.has_response_range() && r.response_range().kvs_size() > 0) {
        return static_cast<uint64_t>(r.response_range().kvs(0).version());
      }
    }
    return 0;
  }

  Error failed(const char* what, const grpc::Status& st) {
    reconnect_ = st.error_code() == grpc::StatusCode::UNAVAILABLE || st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
    return Error{"store " + name() + ": " + what + " failed: " + st.error_message() +
                     (st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED || st.error_code() == grpc::StatusCode::UNAVAILABLE
                          ? " (is etcd running and reachable?)"
                          : ""),
                 ErrorCode::unavailable};
  }

  EtcdOptions opt_;
  std::string rev_key_;
  std::string endpoints_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::KV::Stub> kv_;
  bool reconnect_ = false;
  uint64_t revision_ = 0;
};

}  // namespace

std::shared_ptr<grpc::Channel> etcd_channel(const EtcdOptions& opt) {
  std::string target;
  if (std::all_of(opt.endpoints.begin(), opt.endpoints.end(), is_ipv4_endpoint)) {
    // Every member; gRPC's pick_first moves to the next when one is down.
    target = "ipv4:";
    for (size_t i = 0; i < opt.endpoints.size(); ++i) target += (i ? "," : "") + opt.endpoints[i];
  } else {
    target = opt.endpoints.front();
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);  // a whole cluster's records in one Range
  args.SetMaxSendMessageSize(-1);
  // An etcd member back from a restart is used within a second: gRPC's
  // default reconnect backoff grows to two minutes. (The "min" backoff is
  // also each attempt's connect timeout.)
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 1'000);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1'000);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

Result<EtcdOptions> parse_etcd_url(std::string_view url) {
  constexpr std::string_view scheme = "etcd://";
  if (url.substr(0, scheme.size()) != scheme) {
    return Error{"store \"" + std::string(url) + "\": an etcd store is etcd://HOST:PORT[,HOST:PORT...][/PREFIX/]",
                 ErrorCode::invalid};
  }
  std::string_view rest = url.substr(scheme.size());
  EtcdOptions o;
  auto slash = rest.find('/');
  std::string_view hosts = rest.substr(0, slash);
  if (slash != std::string_view::npos) {
    o.prefix = std::string(rest.substr(slash));
    if (o.prefix.size() < 2 || o.prefix.back() != '/') {
      return Error{"store \"" + std::string(url) + "\": the key prefix must end with '/' (e.g. /rackos/)", ErrorCode::invalid};
    }
  }
  while (!hosts.empty()) {
    auto comma = hosts.find(',');
    std::string ep(hosts.substr(0, comma));
    auto colon = ep.rfind(':');
    if (ep.empty() || colon == std::string::npos || colon == 0 || colon + 1 == ep.size() ||
        ep.find_first_not_of("0123456789", colon + 1) != std::string::npos) {
      return Error{"store \"" + std::string(url) + "\": endpoint \"" + ep + "\" is not HOST:PORT", ErrorCode::invalid};
    }
    o.endpoints.push_back(ep);
    if (comma == std::string_view::npos) break;
    hosts.remove_prefix(comma + 1);
  }
  if (o.endpoints.empty()) return Error{"store \"" + std::string(url) + "\": no endpoint given", ErrorCode::invalid};
  return o;
}

Result<std::unique_ptr<Store>> open_etcd_store(const EtcdOptions& options) {
  if (options.endpoints.empty()) return Error{"etcd store: no endpoint given", ErrorCode::invalid};
  if (options.endpoints.size() > 1 && !std::all_of(options.endpoints.begin(), options.endpoints.end(), is_ipv4_endpoint)) {
    return Error{"etcd store: several endpoints must be IPv4 addresses (HOST:PORT each); give one name or the addresses",
                 ErrorCode::invalid};
  }
  auto s = std::make_unique<EtcdStore>(options);
  // Its revision now, as opening a SQLite file reads it (and etcd not
  // answering is said here, once, rather than at the first commit).
  if (auto r = s->read_revision(); !r) return r.error();
  return std::unique_ptr<Store>(std::move(s));
}

}  // namespace rackos::controller

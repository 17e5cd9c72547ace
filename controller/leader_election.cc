// The leader record in etcd (see leader_election.h).
#include "controller/leader_election.h"

#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>

#include <chrono>

#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"

namespace rackos::controller {

namespace pb = etcdserverpb;

struct LeaderElection::Impl {
  EtcdOptions opt;
  std::string key;
  std::string id;
  std::string address;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<pb::KV::Stub> kv;
  int64_t my_revision = 0;  // of this controller's last write of the record

  void deadline(grpc::ClientContext& ctx) const {
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(opt.timeout_ms));
  }
  Error failed(const char* what, const grpc::Status& st) {
    // A fresh channel next time (see EtcdStore: a restarted member).
    channel = etcd_channel(opt);
    kv = pb::KV::NewStub(channel);
    return Error{std::string("leader record: ") + what + ": " + st.error_message(), ErrorCode::unavailable};
  }
  std::string value(uint64_t term, const std::string& handover_to) const {
    nlohmann::json j{{"id", id}, {"address", address}, {"term", term}};
    if (!handover_to.empty()) j["handover_to"] = handover_to;
    return j.dump();
  }
  // Put our record if the key is still at `revision` (0: absent); returns
  // whether it went in, and our new revision.
  Result<bool> swap(int64_t revision, uint64_t term, const std::string& handover_to = {}) {
    pb::TxnRequest req;
    auto* c = req.add_compare();
    c->set_key(key);
    c->set_result(pb::Compare::EQUAL);
    if (revision == 0) {
      c->set_target(pb::Compare::CREATE);
      c->set_create_revision(0);
    } else {
      c->set_target(pb::Compare::MOD);
      c->set_mod_revision(revision);
    }
    auto* put = req.add_success()->mutable_request_put();
    put->set_key(key);
    put->set_value(value(term, handover_to));
    pb::TxnResponse resp;
    grpc::ClientContext ctx;
    deadline(ctx);
    if (auto st = kv->Txn(&ctx, req, &resp); !st.ok()) return failed("write", st);
    if (!resp.succeeded()) return false;
    my_revision = resp.header().revision();  // the put's mod revision
    return true;
  }
};

LeaderElection::LeaderElection(EtcdOptions options, std::string id, std::string address) : impl_(std::make_unique<Impl>()) {
  impl_->opt = std::move(options);
  impl_->key = impl_->opt.prefix + "~leader";
  impl_->id = std::move(id);
  impl_->address = std::move(address);
  impl_->channel = etcd_channel(impl_->opt);
  impl_->kv = pb::KV::NewStub(impl_->channel);
}

LeaderElection::~LeaderElection() = default;

Result<LeaderRecord> LeaderElection::read() {
  pb::RangeRequest req;
  req.set_key(impl_->key);
  pb::RangeResponse resp;
  grpc::ClientContext ctx;
  impl_->deadline(ctx);
  if (auto st = impl_->kv->Range(&ctx, req, &resp); !st.ok()) return impl_->failed("read", st);
  LeaderRecord r;
  if (resp.kvs_size() == 0) return r;
  r.revision = resp.kvs(0).mod_revision();
  auto j = nlohmann::json::parse(resp.kvs(0).value(), nullptr, false);
  if (j.is_object()) {
    r.id = j.value("id", "");
    r.address = j.value("address", "");
    r.term = j.value("term", uint64_t{0});
    r.handover_to = j.value("handover_to", "");
  }
  return r;
}

Result<bool> LeaderElection::campaign(int64_t revision) {
  uint64_t term = 1;
  if (revision != 0) {
    auto cur = read();
    if (!cur) return cur.error();
    if (cur->revision != revision) return false;  // it moved: someone renewed or took it
    term = cur->term + 1;
  }
  auto won = impl_->swap(revision, term);
  if (won && *won) term_ = term;
  return won;
}

Result<bool> LeaderElection::renew() {
  if (impl_->my_revision == 0) return false;
  auto r = impl_->swap(impl_->my_revision, term_);
  if (!r || *r) return r;
  // The compare failed. An earlier renewal that timed out here may still
  // have landed in etcd: then the record is still this controller's (same
  // id and term, not handed over) at a revision it did not see. Take that
  // revision and renew once more; the lease still counts from the last
  // renewal this controller saw succeed (the caller's send time).
  auto cur = read();
  if (!cur) return cur.error();
  if (cur->revision == 0 || cur->id != impl_->id || cur->term != term_ || !cur->handover_to.empty()) return false;
  impl_->my_revision = cur->revision;
  return impl_->swap(impl_->my_revision, term_);
}

Result<bool> LeaderElection::hand_over(const std::string& to) {
  if (impl_->my_revision == 0) return false;
  return impl_->swap(impl_->my_revision, term_, to);
}

const std::string& LeaderElection::id() const { return impl_->id; }

void LeaderElection::resign() {
  // Handed to any standby rather than deleted: the term goes on counting.
  (void)hand_over("*");
  impl_->my_revision = 0;
}

}  // namespace rackos::controller

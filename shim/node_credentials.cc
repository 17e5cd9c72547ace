// A node's certificate: load, join, renew (see node_credentials.h).
#include "shim/node_credentials.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <algorithm>
#include <ctime>
#include <filesystem>

#include "auth/join_token.h"
#include "auth/pki.h"
#include "auth/private_file.h"
#include "shim/cgroup_files.h"
#include "rackos/v1/cluster.grpc.pb.h"

namespace rackos::shim {
namespace {

// A file's text; empty when it cannot be read (a node that has not joined).
std::string slurp(const std::string& path) {
  auto r = read_file(path);
  return r ? *r : std::string();
}

// The PEM block of `kind` ("CERTIFICATE", "PRIVATE KEY") in `text`.
std::string pem_block(const std::string& text, const std::string& kind) {
  const std::string begin = "-----BEGIN " + kind + "-----", end = "-----END " + kind + "-----";
  auto b = text.find(begin);
  if (b == std::string::npos) return "";
  auto e = text.find(end, b);
  if (e == std::string::npos) return "";
  return text.substr(b, e + end.size() - b) + "\n";
}

std::shared_ptr<grpc::Channel> channel(const std::string& target, const std::shared_ptr<grpc::ChannelCredentials>& creds,
                                       grpc::ChannelArguments& args) {
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(target, creds, args);
}

std::unique_ptr<grpc::ClientContext> ctx(int ms) {
  auto c = std::make_unique<grpc::ClientContext>();
  c->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(ms));
  return c;
}

}  // namespace

NodeCredentials::NodeCredentials(NodeCredentialsConfig cfg) : cfg_(std::move(cfg)) {}

NodeCredentials::~NodeCredentials() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (renewer_.joinable()) renewer_.join();
}

int64_t NodeCredentials::expires_s() const {
  std::lock_guard lock(mu_);
  return not_after_s_;
}

Result<auth::TlsIdentity> NodeCredentials::load() {
  const std::string pem = slurp(cfg_.cert_dir + "/node.pem");
  if (pem.empty()) return not_found("no certificate in " + cfg_.cert_dir);
  auth::TlsIdentity id{slurp(cfg_.cert_dir + "/ca.crt"), pem_block(pem, "CERTIFICATE"), pem_block(pem, "PRIVATE KEY")};
  auto info = auth::read_cert(id.cert_pem);
  if (!info) return Error{cfg_.cert_dir + "/node.pem: " + info.error().message};
  if (info->cn != cfg_.node) return Error{cfg_.cert_dir + "/node.pem names node " + info->cn + ", not " + cfg_.node};
  if (!auth::key_matches(id.key_pem, id.cert_pem)) return Error{cfg_.cert_dir + "/node.pem: the key is not the certificate's"};
  auto ok = auth::verify_cert(id.cert_pem, id.ca_pem);
  if (!ok || !*ok) return Error{cfg_.cert_dir + "/node.pem: expired, or not signed by " + cfg_.cert_dir + "/ca.crt"};
  not_before_s_ = info->not_before_s;
  not_after_s_ = info->not_after_s;
  return id;
}

Result<bool> NodeCredentials::save(const auth::TlsIdentity& id) {
  std::error_code ec;
  std::filesystem::create_directories(cfg_.cert_dir, ec);
  ::chmod(cfg_.cert_dir.c_str(), 0700);
  if (!auth::write_private_file(cfg_.cert_dir + "/ca.crt", id.ca_pem) ||
      !auth::write_private_file(cfg_.cert_dir + "/node.pem", id.key_pem + id.cert_pem)) {
    return Error{"cannot write the node's certificate in " + cfg_.cert_dir};
  }
  return true;
}

Result<auth::TlsIdentity> NodeCredentials::identity(const std::string& target) {
  std::lock_guard lock(mu_);
  if (!id_.cert_pem.empty() && not_after_s_ > ::time(nullptr)) return id_;
  auto loaded = load();
  if (loaded) {
    id_ = *loaded;
    return id_;
  }
  if (loaded.error().code != ErrorCode::not_found && cfg_.token.empty()) return loaded.error();
  auto joined = join(target);
  if (!joined) return joined.error();
  id_ = *joined;
  return id_;
}

Result<auth::TlsIdentity> NodeCredentials::join(const std::string& target) {
  if (cfg_.token.empty()) {
    return Error{"node " + cfg_.node + " has no certificate in " + cfg_.cert_dir +
                 " yet: give it a join token (--token-file; `rackos token create` on the controller prints one)"};
  }
  auto token = auth::parse_join_token(cfg_.token);
  if (!token) return Error{"--token-file: " + token.error().message};
  // 1. The CA, over TLS that does not verify the controller yet: its hash is checked instead.
  grpc::ChannelArguments a1;
  auto ch1 = channel(target, auth::unverified_credentials(a1), a1);
  v1::GetCAResponse ca;
  auto st = v1::ClusterService::NewStub(ch1)->GetCA(ctx(5000).get(), v1::GetCARequest{}, &ca);
  if (!st.ok()) return Error{"joining through " + target + ": cannot fetch the cluster CA: " + st.error_message(), ErrorCode::unavailable};
  auto fp = auth::ca_fingerprint(ca.ca_pem());
  if (!fp) return Error{"joining through " + target + ": the controller sent a CA that does not parse: " + fp.error().message};
  if (*fp != token->ca_fingerprint) {
    return Error{"joining through " + target + ": the controller's CA has SHA-256 " + *fp + ", the join token names " +
                 token->ca_fingerprint + ": refusing to join (a token from another cluster, or someone in the middle)"};
  }
  // 2. The certificate, now verifying the controller against that CA.
  auto key = auth::make_key();
  if (!key) return key.error();
  auto csr = auth::make_csr(*key, cfg_.node);
  if (!csr) return csr.error();
  auth::TlsIdentity anon{ca.ca_pem(), "", ""};
  grpc::ChannelArguments a2;
  auto ch2 = channel(target, auth::channel_credentials(target, anon, a2), a2);
  v1::JoinNodeRequest req;
  req.set_token(cfg_.token);
  req.set_node(cfg_.node);
  req.set_csr_pem(*csr);
  v1::JoinNodeResponse resp;
  st = v1::ClusterService::NewStub(ch2)->JoinNode(ctx(5000).get(), req, &resp);
  if (!st.ok()) {
    return Error{"joining through " + target + ": " + st.error_message(),
                 st.error_code() == grpc::StatusCode::UNAVAILABLE ? ErrorCode::unavailable : ErrorCode::invalid};
  }
  auth::TlsIdentity id{ca.ca_pem(), resp.cert_pem(), *key};
  auto info = auth::read_cert(id.cert_pem);
  if (!info || info->cn != cfg_.node || !auth::key_matches(id.key_pem, id.cert_pem)) {
    return Error{"joining through " + target + ": the controller answered with a certificate that is not this node's"};
  }
  if (auto s = save(id); !s) return s.error();
  not_before_s_ = info->not_before_s;
  not_after_s_ = info->not_after_s;
  return id;
}

Result<bool> NodeCredentials::renew(const std::string& target) {
  auth::TlsIdentity cur;
  {
    std::lock_guard lock(mu_);
    cur = id_;
  }
  auto key = auth::make_key();
  if (!key) return key.error();
  auto csr = auth::make_csr(*key, cfg_.node);
  if (!csr) return csr.error();
  grpc::ChannelArguments args;
  auto ch = channel(target, auth::channel_credentials(target, cur, args), args);
  v1::JoinNodeRequest req;
  req.set_node(cfg_.node);
  req.set_csr_pem(*csr);
  v1::JoinNodeResponse resp;
  auto st = v1::ClusterService::NewStub(ch)->RenewNodeCert(ctx(5000).get(), req, &resp);
  if (!st.ok()) return Error{"renewing the node certificate through " + target + ": " + st.error_message()};
  auth::TlsIdentity id{cur.ca_pem, resp.cert_pem(), *key};
  auto info = auth::read_cert(id.cert_pem);
  if (!info || info->cn != cfg_.node || !auth::key_matches(id.key_pem, id.cert_pem)) {
    return Error{"renewing through " + target + ": the answer is not a certificate for this node"};
  }
  if (auto s = save(id); !s) return s.error();
  std::lock_guard lock(mu_);
  id_ = id;
  not_before_s_ = info->not_before_s;
  not_after_s_ = info->not_after_s;
  return true;
}

void NodeCredentials::start_renewal(std::vector<std::string> targets) {
  std::lock_guard lock(mu_);
  targets_ = std::move(targets);
  if (!renewer_.joinable() && !targets_.empty()) renewer_ = std::thread([this] { renew_loop(); });
}

void NodeCredentials::renew_loop() {
  size_t at = 0;
  std::unique_lock lock(mu_);
  while (!stop_) {
    const int64_t now = ::time(nullptr);
    // Two thirds into its life, counted from its issue (the CA back-dates
    // notBefore by 5 min for clock skew; a certificate not loaded yet: look
    // again soon).
    const int64_t issued = std::min(now, not_before_s_ + 300);
    const int64_t due = not_after_s_ == 0 ? now + 1 : issued + (not_after_s_ - issued) * 2 / 3;
    if (not_after_s_ == 0 || now < due) {
      cv_.wait_for(lock, std::chrono::seconds(std::clamp<int64_t>(due - now, 1, 60)), [&] { return stop_; });
      continue;
    }
    const std::string target = targets_[at++ % targets_.size()];
    lock.unlock();
    auto r = renew(target);
    if (!r) std::fprintf(stderr, "rackos shim %s: %s; retrying in 5 s\n", cfg_.node.c_str(), r.error().message.c_str());
    else std::fprintf(stderr, "rackos shim %s: node certificate renewed\n", cfg_.node.c_str());
    lock.lock();
    if (!r) cv_.wait_for(lock, std::chrono::seconds(5), [&] { return stop_; });
  }
}

}  // namespace rackos::shim

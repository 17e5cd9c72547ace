// Who may do what, against a real local cluster (issue 13), checked from the
// outside: an unprivileged local user, a TLS client without a certificate and
// a plaintext client get nothing; a view user lists but cannot apply; an
// operator cannot run as root; removed users, wrong, foreign, expired and
// revoked join tokens are refused; a node's certificate cannot register
// another node; workloads without `user:` run unprivileged.
#include <gtest/gtest.h>
#include <httplib.h>
#include <pwd.h>
#include <sys/stat.h>

#include "auth/client_config.h"
#include "auth/grpc_tls.h"
#include "auth/join_token.h"
#include "auth/pki.h"
#include "rackos/v1/node.grpc.pb.h"
#include "tests/cluster_harness.h"

namespace rackos::testing {
namespace {

const std::string kBin = RACKOS_BINARY;

// The uid a process runs as (from /proc; -1: gone).
int uid_of(int pid) {
  auto status = shim::read_file("/proc/" + std::to_string(pid) + "/status");
  if (!status) return -1;
  auto at = status->find("\nUid:");
  return at == std::string::npos ? -1 : std::atoi(status->c_str() + at + 5);
}

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

// The join token `rackos token create` printed (its own line, starting K1).
std::string token_in(const std::string& out) {
  const auto at = out.find("K1");
  return at == std::string::npos ? std::string() : first_line(out.substr(at));
}

// A channel to the TCP port as `id` (no certificate when id.cert_pem is empty).
std::shared_ptr<grpc::Channel> tls_channel(const std::string& addr, const auth::TlsIdentity& id) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto creds = auth::channel_credentials(addr, id, args);
  return grpc::CreateCustomChannel(addr, creds, args);
}

grpc::Status list_nodes(const std::shared_ptr<grpc::Channel>& ch) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::ListNodesResponse r;
  return v1::ClusterService::NewStub(ch)->ListNodes(&ctx, v1::ListRequest{}, &r);
}

grpc::Status apply_yaml(const std::shared_ptr<grpc::Channel>& ch, const std::string& yaml) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::ApplyRequest req;
  req.set_yaml(yaml);
  v1::ApplyResponse r;
  return v1::ClusterService::NewStub(ch)->Apply(&ctx, req, &r);
}

// GET /state over HTTPS as the user of client config `conf` (empty: no client
// certificate); the status, or -1 when the handshake failed.
int https_state(LocalCluster& c, const std::string& conf) {
  ::signal(SIGPIPE, SIG_IGN);  // a refused handshake closes the connection under the client
  std::string addr = c.file(c.data_dir() + "/https.addr");
  addr.erase(addr.find_last_not_of('\n') + 1);
  std::string pem;
  if (!conf.empty()) {
    auto cfg = auth::read_client_config(conf);
    if (!cfg) return -2;
    pem = conf + ".pem";
    std::ofstream(pem) << cfg->identity.key_pem << cfg->identity.cert_pem;
  }
  httplib::SSLClient cl(addr.substr(0, addr.find(':')), std::stoi(addr.substr(addr.find(':') + 1)), pem, pem);
  cl.set_ca_cert_path((c.data_dir() + "/pki/ca.crt").c_str());
  cl.enable_server_certificate_verification(true);
  auto r = cl.Get("/state");
  return r ? r->status : -1;
}

int services(LocalCluster& c) {
  v1::ListServicesResponse r;
  c.call([&](grpc::ClientContext* ctx) { return c.api().ListServices(ctx, v1::ListRequest{}, &r); });
  return r.services_size();
}

TEST(SecurityE2E, AnUnprivilegedUserAndClientsWithoutACertificateGetNothing) {
  LocalCluster c(kBin, {.nodes = 1});
  ASSERT_TRUE(c.start());
  const std::string admin_conf = c.data_dir() + "/admin.conf";
  // A local user who is not root: the admin config and the socket are root's.
  auto [code, out] = c.sh("su nobody -s /bin/sh -c '" + kBin + " ps --controller " + c.addr() + " --config " + admin_conf + "' 2>&1");
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("permission denied"), std::string::npos) << out;
  std::tie(code, out) = c.sh("su nobody -s /bin/sh -c 'RACKOS_CONFIG= " + kBin + " run pwn --controller " + c.addr() +
                             " -- sh -c id' 2>&1");
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("no credentials for the controller"), std::string::npos) << out;
  std::tie(code, out) = c.sh("su nobody -s /bin/sh -c '" + kBin + " run pwn --controller unix:" + c.data_dir() +
                             "/rackos.sock -- sh -c id' 2>&1");
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("only root may use the controller's socket"), std::string::npos) << out;
  // Over TCP: TLS without a client certificate — the server refuses, naming the role needed.
  auto cfg = auth::read_client_config(admin_conf);
  ASSERT_TRUE(cfg) << cfg.error().message;
  auto anon = tls_channel(c.addr(), {cfg->identity.ca_pem, "", ""});
  auto st = list_nodes(anon);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << st.error_message();
  EXPECT_NE(st.error_message().find("ListNodes needs the view role"), std::string::npos) << st.error_message();
  EXPECT_NE(st.error_message().find("no client certificate"), std::string::npos) << st.error_message();
  st = apply_yaml(anon, "name: pwn\ncommand: [sleep, '60']\n");
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << st.error_message();
  // Plaintext on the TCP port: no TLS handshake, no answer.
  auto plain = grpc::CreateChannel(c.addr(), grpc::InsecureChannelCredentials());
  st = list_nodes(plain);
  EXPECT_FALSE(st.ok());
  st = apply_yaml(plain, "name: pwn\ncommand: [sleep, '60']\n");
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(services(c), 0) << "something was applied";
  // A certificate from another CA is refused at the handshake.
  auto other = auth::make_ca("another cluster", 3600);
  ASSERT_TRUE(other);
  auto forged = auth::issue(*other, {"admin", "rackos:admin", {}, false, 3600});
  ASSERT_TRUE(forged);
  EXPECT_FALSE(list_nodes(tls_channel(c.addr(), {cfg->identity.ca_pem, forged->cert_pem, forged->key_pem})).ok());
  // The admin config works (the control for all of the above).
  EXPECT_TRUE(list_nodes(tls_channel(c.addr(), cfg->identity)).ok());
}

TEST(SecurityE2E, ViewListsOperatorAppliesOnlyAdminRunsAsRootRemovedUsersAreRefused) {
  LocalCluster c(kBin, {.nodes = 1});
  ASSERT_TRUE(c.start());
  const std::string vera = c.dir() + "/vera.conf", otto = c.dir() + "/otto.conf";
  auto [code, out] = c.cli("user add vera --role view --out " + vera);
  ASSERT_EQ(code, 0) << out;
  std::tie(code, out) = c.cli("user add otto --role operator --out " + otto);
  ASSERT_EQ(code, 0) << out;
  struct stat sb {};
  ASSERT_EQ(::stat(vera.c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 0777, 0600u);

  std::tie(code, out) = c.cli("nodes --config " + vera);
  EXPECT_EQ(code, 0) << out;
  EXPECT_EQ(https_state(c, vera), 200);  // view may read the state over HTTPS ...
  EXPECT_EQ(https_state(c, ""), -1);     // ... nobody without a client certificate
  {
    std::string http = c.file(c.data_dir() + "/http.addr");
    http.erase(http.find_last_not_of('\n') + 1);
    httplib::Client plain("http://" + http);
    auto r = plain.Get("/state");  // and not over plain HTTP at all (only /metrics is there)
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 403);
    EXPECT_EQ(plain.Get("/metrics")->status, 200);
  }
  std::tie(code, out) = c.sh(kBin + " run x --controller " + c.addr() + " --config " + vera + " -- sleep 600");
  EXPECT_EQ(code, 1) << out;
  EXPECT_EQ(first_line(out), "rackos: run x: permission denied: Apply needs the operator role; vera has the view role");
  std::tie(code, out) = c.sh(kBin + " run asroot --user root --controller " + c.addr() + " --config " + otto + " -- sleep 600");
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("running as root (user: root, uid: 0 or gid: 0) needs the admin role; otto has the operator role"),
            std::string::npos)
      << out;
  std::tie(code, out) = c.cli("node kill " + c.node_name(1) + " --config " + otto);
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("KillNode needs the admin role"), std::string::npos) << out;
  std::tie(code, out) = c.cli("user add mallory --role admin --config " + otto);
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("AddUser needs the admin role"), std::string::npos) << out;
  EXPECT_EQ(services(c), 0);

  std::tie(code, out) = c.sh(kBin + " run plain --controller " + c.addr() + " --config " + otto + " -- sleep 600");
  EXPECT_EQ(code, 0) << out;
  std::tie(code, out) = c.sh(kBin + " run rooted --user root --controller " + c.addr() + " -- sleep 600");  // the admin (RACKOS_CONFIG)
  EXPECT_EQ(code, 0) << out;
  ASSERT_TRUE(wait_until(10000, [&] { return c.running() == 2; }));
  auto plain = c.pids("plain"), rooted = c.pids("rooted");
  ASSERT_EQ(plain.size(), 1u);
  ASSERT_EQ(rooted.size(), 1u);
  // From the host: the workload without `user:` is not root; the admin's is.
  EXPECT_GT(uid_of(plain.begin()->second), 0);
  EXPECT_EQ(uid_of(plain.begin()->second), static_cast<int>(::getpwnam("rackos-workload") ? ::getpwnam("rackos-workload")->pw_uid : 0));
  EXPECT_EQ(uid_of(rooted.begin()->second), 0);

  std::tie(code, out) = c.cli("user remove vera");
  EXPECT_EQ(code, 0) << out;
  std::tie(code, out) = c.cli("ps --config " + vera);
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("the certificate of user vera was revoked"), std::string::npos) << out;
  EXPECT_EQ(https_state(c, vera), 403);
}

// A shim started for node `i` with `token` (written to a file) in a fresh cert dir.
void start_with_token(LocalCluster& c, int i, const std::string& token) {
  const std::string file = c.dir() + "/token-" + std::to_string(i);
  std::ofstream(file) << token << "\n";
  c.start_node(i, file);
}

bool node_listed(LocalCluster& c, int i) {
  v1::ListNodesResponse nodes;
  c.call([&](grpc::ClientContext* ctx) { return c.api().ListNodes(ctx, v1::ListRequest{}, &nodes); });
  for (const auto& n : nodes.nodes()) {
    if (n.name() == c.node_name(i)) return true;
  }
  return false;
}

TEST(SecurityE2E, WrongForeignExpiredAndRevokedTokensAreRefusedAGoodOneJoins) {
  LocalCluster c(kBin, {.nodes = 1});
  ASSERT_TRUE(c.start());
  auto boot = auth::parse_join_token(c.file(c.data_dir() + "/join-token"));
  ASSERT_TRUE(boot) << boot.error().message;
  // 2: the right CA, a wrong secret.
  start_with_token(c, 2, auth::format_join_token({boot->ca_fingerprint, "boot", "not-the-secret"}));
  // 3: another cluster's CA: the shim refuses to join before sending anything.
  start_with_token(c, 3, auth::format_join_token({std::string(64, 'a'), "boot", boot->secret}));
  // 4: an expired token; 5: a revoked one.
  auto [code, expiring] = c.cli("token create --ttl 1s");
  ASSERT_EQ(code, 0) << expiring;
  std::string revoked;
  std::tie(code, revoked) = c.cli("token create --ttl 10m --description doomed");
  ASSERT_EQ(code, 0) << revoked;
  const std::string revoked_id = auth::parse_join_token(token_in(revoked))->id;
  std::tie(code, std::ignore) = c.cli("token revoke " + revoked_id);
  ASSERT_EQ(code, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  start_with_token(c, 4, token_in(expiring));
  start_with_token(c, 5, token_in(revoked));
  auto said = [&](int i, const std::string& what) {
    return wait_until(10000, [&] { return c.file(c.node_log(i)).find(what) != std::string::npos; });
  };
  EXPECT_TRUE(said(2, "join token refused: wrong secret")) << c.file(c.node_log(2));
  EXPECT_TRUE(said(3, "refusing to join")) << c.file(c.node_log(3));
  EXPECT_TRUE(said(4, "expired")) << c.file(c.node_log(4));
  EXPECT_TRUE(said(5, "does not exist (revoked, or never created)")) << c.file(c.node_log(5));
  for (int i = 2; i <= 5; ++i) {
    EXPECT_FALSE(node_listed(c, i)) << i;
    EXPECT_FALSE(std::filesystem::exists(c.node_dir(i) + "/pki/node.pem")) << i;
  }
  // A fresh token joins node 6; the token counts the join; the node holds a certificate naming it.
  std::string good;
  std::tie(code, good) = c.cli("token create --ttl 10m");
  ASSERT_EQ(code, 0) << good;
  start_with_token(c, 6, token_in(good));
  EXPECT_TRUE(wait_until(10000, [&] { return c.ready_nodes() == 2; }, 20)) << c.file(c.node_log(6));
  auto pem = c.file(c.node_dir(6) + "/pki/node.pem");
  auto info = auth::read_cert(pem.substr(pem.find("-----BEGIN CERTIFICATE-----")));
  ASSERT_TRUE(info);
  EXPECT_EQ(info->cn, c.node_name(6));
  EXPECT_EQ(info->org, "rackos:node");
  std::string list;
  std::tie(code, list) = c.cli("token list");
  EXPECT_NE(list.find("    1  "), std::string::npos) << list;
}

TEST(SecurityE2E, ANodesCertificateCannotRegisterAnotherNode) {
  LocalCluster c(kBin, {.nodes = 2});
  ASSERT_TRUE(c.start());
  const std::string pem = c.file(c.node_dir(1) + "/pki/node.pem");
  auth::TlsIdentity node1{c.file(c.node_dir(1) + "/pki/ca.crt"), pem.substr(pem.find("-----BEGIN CERTIFICATE-----")),
                          pem.substr(0, pem.find("-----BEGIN CERTIFICATE-----"))};
  ASSERT_TRUE(auth::key_matches(node1.key_pem, node1.cert_pem));
  auto stub = v1::NodeService::NewStub(tls_channel(c.addr(), node1));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  auto stream = stub->Connect(&ctx);
  v1::ShimMessage m;
  auto* reg = m.mutable_register_();
  reg->set_node(c.node_name(2));
  reg->set_wire_version(1);
  reg->set_cpu_millis(1000);
  reg->set_memory_bytes(1 << 30);
  stream->Write(m);
  stream->WritesDone();
  v1::ControllerMessage in;
  while (stream->Read(&in)) {
  }
  auto st = stream->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << st.error_message();
  EXPECT_NE(st.error_message().find("the certificate of node " + c.node_name(1) + " cannot register node " + c.node_name(2)),
            std::string::npos)
      << st.error_message();
  // Node 2 is untouched: its own shim still holds it.
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  EXPECT_EQ(c.ready_nodes(), 2);
  // A client certificate (even an admin's) is not a node's.
  auto cfg = auth::read_client_config(c.data_dir() + "/admin.conf");
  ASSERT_TRUE(cfg);
  auto admin_stub = v1::NodeService::NewStub(tls_channel(c.addr(), cfg->identity));
  grpc::ClientContext actx;
  actx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  auto astream = admin_stub->Connect(&actx);
  astream->WritesDone();
  while (astream->Read(&in)) {
  }
  st = astream->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << st.error_message();
  EXPECT_NE(st.error_message().find("Connect needs the node role"), std::string::npos) << st.error_message();
}

}  // namespace
}  // namespace rackos::testing

namespace rackos::testing {
namespace {

std::string cert_serial(LocalCluster& c, int i) {
  const std::string pem = c.file(c.node_dir(i) + "/pki/node.pem");
  const auto at = pem.find("-----BEGIN CERTIFICATE-----");
  if (at == std::string::npos) return "";
  auto info = auth::read_cert(pem.substr(at));
  return info ? info->serial : "";
}

// Node certificates are renewed before they expire (here a 12 s lifetime: at
// ~8 s), with no interruption; after the first certificate has expired, a
// fresh connection (the active shim killed, the standby takes over) works
// with the renewed one.
TEST(SecurityE2E, NodeCertificatesAreRenewedBeforeTheyExpire) {
  LocalCluster c(kBin, {.nodes = 1, .standby = true, .controller_extra = {"--node-cert-ttl", "12s"}});
  ASSERT_TRUE(c.start());
  const std::string first = cert_serial(c, 1);
  ASSERT_FALSE(first.empty());
  ASSERT_TRUE(wait_until(20000, [&] { return cert_serial(c, 1) != first && !cert_serial(c, 1).empty(); }, 200))
      << c.file(c.node_log(1));
  EXPECT_NE(c.file(c.node_log(1)).find("node certificate renewed"), std::string::npos);
  EXPECT_EQ(c.ready_nodes(), 1);
  std::this_thread::sleep_for(std::chrono::seconds(5));  // the first certificate has expired by now
  ::kill(c.shim_pids(1)[0], SIGKILL);                      // the standby connects afresh
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_TRUE(wait_until(10000, [&] { return c.ready_nodes() == 1; }, 50)) << c.file(c.node_log(1));
  EXPECT_EQ(c.file(c.node_log(1)).find("expired, or not signed"), std::string::npos) << c.file(c.node_log(1));
}

}  // namespace
}  // namespace rackos::testing

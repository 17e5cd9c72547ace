// gRPC TLS credentials and peers (see grpc_tls.h).
#include "auth/grpc_tls.h"

#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>

#include "auth/pki.h"

namespace rackos::auth {

std::shared_ptr<grpc::ChannelCredentials> channel_credentials(const std::string& target, const TlsIdentity& id,
                                                              grpc::ChannelArguments& args) {
  if (target.rfind("unix:", 0) == 0 || !id.tls()) return grpc::InsecureChannelCredentials();
  args.SetSslTargetNameOverride(kControllerName);
  grpc::SslCredentialsOptions o;
  o.pem_root_certs = id.ca_pem;
  o.pem_cert_chain = id.cert_pem;
  o.pem_private_key = id.key_pem;
  return grpc::SslCredentials(o);
}

std::shared_ptr<grpc::ChannelCredentials> unverified_credentials(grpc::ChannelArguments& args) {
  args.SetSslTargetNameOverride(kControllerName);
  grpc::experimental::TlsChannelCredentialsOptions o;
  o.set_verify_server_certs(false);
  o.set_check_call_host(false);
  o.set_certificate_verifier(std::make_shared<grpc::experimental::NoOpCertificateVerifier>());
  return grpc::experimental::TlsCredentials(o);
}

std::shared_ptr<grpc::ServerCredentials> server_credentials(const std::string& ca_pem, const std::string& cert_pem,
                                                            const std::string& key_pem) {
  grpc::SslServerCredentialsOptions o(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  o.pem_root_certs = ca_pem;
  o.pem_key_cert_pairs.push_back({key_pem, cert_pem});
  return grpc::SslServerCredentials(o);
}

Peer peer_of(const grpc::ServerContextBase& ctx) {
  Peer p;
  const std::string where = ctx.peer();
  if (where.rfind("unix:", 0) == 0) {
    // Only who may open the socket (root: it is 0600 in a 0700 directory) gets here.
    p.unix_socket = true;
    p.role = Role::admin;
    p.name = "root (unix socket)";
    return p;
  }
  auto auth = ctx.auth_context();
  if (!auth) return p;
  auto pems = auth->FindPropertyValues("x509_pem_cert");
  if (pems.empty()) return p;
  return peer_from_pem(std::string(pems.front().data(), pems.front().size()));
}

Peer peer_from_pem(const std::string& cert_pem) {
  Peer p;
  auto info = read_cert(cert_pem);
  if (!info) return p;
  p.role = role_from_org(info->org);
  p.name = info->cn;
  p.serial = info->serial;
  return p;
}

}  // namespace rackos::auth

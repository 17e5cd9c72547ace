// gRPC's TLS for rackos: the credentials of each end (the controller serves
// the name "controller.rackos" from a certificate its CA signed; clients and
// shims verify that name against the cluster CA and present their own
// certificate), the unverified connection a joining node uses only to fetch
// the CA (whose fingerprint it then checks), and who a server call's peer is.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "auth/roles.h"

namespace rackos::auth {

inline constexpr const char* kControllerName = "controller.rackos";

// What a client presents. Empty `ca_pem`: plaintext (only for the Unix socket
// and for a controller started with --insecure-no-tls).
struct TlsIdentity {
  std::string ca_pem;
  std::string cert_pem;  // empty: no client certificate (a node about to join)
  std::string key_pem;
  bool tls() const { return !ca_pem.empty(); }
};

// Credentials for a channel to `target` ("unix:/path" is always plaintext);
// `args` gets the name the controller's certificate carries.
std::shared_ptr<grpc::ChannelCredentials> channel_credentials(const std::string& target, const TlsIdentity& id,
                                                              grpc::ChannelArguments& args);
// TLS that accepts any server certificate: only to fetch the CA, which the
// caller must check against the fingerprint it was given.
std::shared_ptr<grpc::ChannelCredentials> unverified_credentials(grpc::ChannelArguments& args);
// The controller's TCP credentials: its certificate, the CA clients must be
// signed by (a client without a certificate is let in as role none).
std::shared_ptr<grpc::ServerCredentials> server_credentials(const std::string& ca_pem, const std::string& cert_pem,
                                                            const std::string& key_pem);

struct Peer {
  Role role = Role::none;  // from the certificate's O (the serial is checked by the caller)
  std::string name;        // CN; "root (unix socket)" for the socket
  std::string serial;
  bool unix_socket = false;
};
Peer peer_of(const grpc::ServerContextBase& ctx);
// Who a verified client certificate names (an HTTPS peer).
Peer peer_from_pem(const std::string& cert_pem);

}  // namespace rackos::auth

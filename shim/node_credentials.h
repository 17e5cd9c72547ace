// A node's identity towards the controller: its key and certificate (CN =
// the node's name, signed by the cluster CA) and the CA, kept in the cert
// dir. A node without them joins the k3s way: it fetches the CA over a
// connection it does not yet trust, checks the CA's SHA-256 against its join
// token, then — now verifying the controller — trades the token and a
// certificate request for its certificate. The key never leaves the node.
// A background thread renews the certificate when two thirds of its life
// have passed. Thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "auth/grpc_tls.h"
#include "core/result.h"

namespace rackos::shim {

struct NodeCredentialsConfig {
  std::string node;
  std::string cert_dir;  // node.pem (key + certificate, 0600), ca.crt
  std::string token;     // needed only while there is no certificate
};

class NodeCredentials {
 public:
  explicit NodeCredentials(NodeCredentialsConfig cfg);
  ~NodeCredentials();
  NodeCredentials(const NodeCredentials&) = delete;
  NodeCredentials& operator=(const NodeCredentials&) = delete;

  // The identity to connect to `target` with: from the cert dir, or joined
  // through `target` first. An error is one line naming what failed.
  Result<auth::TlsIdentity> identity(const std::string& target);
  // Renews through whichever of `targets` answers, from now on.
  void start_renewal(std::vector<std::string> targets);
  // When the certificate in use expires (unix seconds; 0: none yet).
  int64_t expires_s() const;

 private:
  Result<auth::TlsIdentity> load();
  Result<auth::TlsIdentity> join(const std::string& target);
  Result<bool> renew(const std::string& target);
  Result<bool> save(const auth::TlsIdentity& id);
  void renew_loop();

  NodeCredentialsConfig cfg_;
  mutable std::mutex mu_;
  auth::TlsIdentity id_;
  int64_t not_before_s_ = 0, not_after_s_ = 0;
  std::vector<std::string> targets_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread renewer_;
};

}  // namespace rackos::shim

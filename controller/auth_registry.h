// What the controller knows about who may do what, kept in the store beside
// the cluster: the cluster CA (created on the first start, so both
// controllers of a pair serve the same identity), join tokens (only their
// secret's SHA-256, an expiry, how many nodes joined with each), and users
// (a role and the serials of the certificates issued to them; removing a user
// revokes every one). Plain data and decisions; ClusterController loads it
// and commits its changes with everything else.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "auth/pki.h"
#include "auth/roles.h"
#include "controller/store.h"
#include "controller/store_schema.h"

namespace rackos::controller {

struct IssuedCert {
  std::string cert_pem;
  std::string serial;
};

class AuthRegistry {
 public:
  // `bootstrap_secret`: the controller's --token-file (a join token with id
  // "boot" that never expires); empty: only created tokens join nodes.
  explicit AuthRegistry(std::string bootstrap_secret = "") : bootstrap_(std::move(bootstrap_secret)) {}

  // A record of kind pki, token or user (false: another kind).
  Result<bool> load_record(const StoreRecord& rec);
  // After loading: when the store holds no CA, `fallback` (the copy kept in
  // the data dir: a lost or emptied store must not change the cluster's
  // identity, or no node could connect to be adopted), else a new one. To be
  // committed. True when the store had none.
  Result<bool> ensure_ca(const auth::CertAuthority& fallback = {});
  bool has_ca() const { return !ca_.cert_pem.empty(); }
  const auth::CertAuthority& ca() const { return ca_; }
  const std::string& ca_fingerprint() const { return fingerprint_; }
  // The bootstrap join token (empty without a bootstrap secret).
  std::string bootstrap_token() const;

  struct NewToken {
    std::string token, id;
    int64_t expires_ms = 0;
  };
  Result<NewToken> create_token(int64_t ttl_ms, const std::string& description, int64_t now_ms);
  Result<bool> revoke_token(const std::string& id);
  const std::map<std::string, schema::TokenRow>& tokens() const { return tokens_; }
  // A node's certificate for `node`, if `token` is valid now.
  Result<std::string> join(const std::string& token, const std::string& node, const std::string& csr_pem, int64_t now_ms,
                           int64_t node_cert_ttl_s);
  Result<std::string> renew_node(const std::string& node, const std::string& csr_pem, int64_t node_cert_ttl_s);

  Result<IssuedCert> add_user(const std::string& name, auth::Role role, const std::string& csr_pem, int64_t ttl_s,
                              int64_t now_ms);
  Result<bool> remove_user(const std::string& name);
  const std::map<std::string, schema::UserRow>& users() const { return users_; }
  // A user certificate still counts: its user exists with that role and serial.
  bool user_valid(const std::string& name, auth::Role role, const std::string& serial) const;

  // Bumped by every change and load, in any registry: who holds a copy of the users knows when to refresh it.
  uint64_t version() const { return version_; }

  // Changes since the last commit, into `b`; then forgotten once committed.
  bool dirty() const { return !dirty_.empty() || !deleted_.empty(); }
  void write(StoreBatch& b) const;
  void committed();

 private:
  std::string bootstrap_;
  auth::CertAuthority ca_;
  std::string fingerprint_;
  std::map<std::string, schema::TokenRow> tokens_;
  std::map<std::string, schema::UserRow> users_;
  std::set<std::pair<std::string, std::string>> dirty_, deleted_;  // (kind, key)
  uint64_t version_ = next_version();
  static uint64_t next_version();
  void changed() { version_ = next_version(); }
};

}  // namespace rackos::controller

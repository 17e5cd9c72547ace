// The CA, join tokens and users in the store (see auth_registry.h).
#include "controller/auth_registry.h"

#include <atomic>
#include <cctype>

#include "auth/join_token.h"
#include "core/ids.h"

namespace rackos::controller {

namespace {
bool valid_name(const std::string& n) {
  if (n.empty() || n.size() > 63) return false;
  for (char c : n) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.' && c != '@') return false;
  }
  return std::isalnum(static_cast<unsigned char>(n[0])) != 0;
}
}  // namespace

uint64_t AuthRegistry::next_version() {
  static std::atomic<uint64_t> v{1};
  return v.fetch_add(1);
}

Result<bool> AuthRegistry::load_record(const StoreRecord& rec) {
  if (rec.kind == schema::kPki) {
    if (rec.key != schema::kPkiCaKey) return true;
    auto row = schema::pki_from_json(rec.key, rec.value);
    if (!row) return row.error();
    auto fp = auth::ca_fingerprint(row->cert_pem);
    if (!fp) return Error{"store: the cluster CA does not parse: " + fp.error().message};
    ca_ = {row->cert_pem, row->key_pem};
    fingerprint_ = *fp;
    return true;
  }
  if (rec.kind == schema::kToken) {
    auto row = schema::token_from_json(rec.key, rec.value);
    if (!row) return row.error();
    tokens_[rec.key] = *row;
    return true;
  }
  if (rec.kind == schema::kUser) {
    auto row = schema::user_from_json(rec.key, rec.value);
    if (!row) return row.error();
    users_[rec.key] = *row;
    changed();
    return true;
  }
  return false;
}

Result<bool> AuthRegistry::ensure_ca(const auth::CertAuthority& fallback) {
  if (has_ca()) return false;
  if (!fallback.cert_pem.empty() && auth::ca_fingerprint(fallback.cert_pem)) {
    ca_ = fallback;
  } else {
    auto ca = auth::make_ca("rackos cluster CA", 10LL * 365 * 86400);
    if (!ca) return ca.error();
    ca_ = *ca;
  }
  fingerprint_ = *auth::ca_fingerprint(ca_.cert_pem);
  dirty_.insert({schema::kPki, schema::kPkiCaKey});
  return true;
}

std::string AuthRegistry::bootstrap_token() const {
  if (bootstrap_.empty() || fingerprint_.empty()) return "";
  return auth::format_join_token({fingerprint_, auth::kBootstrapTokenId, bootstrap_});
}

Result<AuthRegistry::NewToken> AuthRegistry::create_token(int64_t ttl_ms, const std::string& description, int64_t now_ms) {
  if (ttl_ms < 0) return Error{"--ttl must not be negative"};
  if (description.size() > 200) return Error{"the token's description is over 200 characters"};
  if (!has_ca()) return Error{"this controller runs without TLS: there are no join tokens"};
  NewToken t;
  do {
    t.id = auth::random_hex(3);
  } while (tokens_.count(t.id) || t.id == auth::kBootstrapTokenId);
  const std::string secret = auth::random_hex(16);
  t.expires_ms = ttl_ms == 0 ? 0 : now_ms + ttl_ms;
  tokens_[t.id] = schema::TokenRow{auth::sha256_hex(secret), description, now_ms, t.expires_ms, 0};
  dirty_.insert({schema::kToken, t.id});
  t.token = auth::format_join_token({fingerprint_, t.id, secret});
  return t;
}

Result<bool> AuthRegistry::revoke_token(const std::string& id) {
  if (id == auth::kBootstrapTokenId) {
    return Error{"the bootstrap token comes from the controller's --token-file: remove that file's secret and restart"};
  }
  if (!tokens_.erase(id)) return not_found("no join token " + id + " (rackos token list shows them)");
  dirty_.erase({schema::kToken, id});
  deleted_.insert({schema::kToken, id});
  return true;
}

Result<std::string> AuthRegistry::join(const std::string& text, const std::string& node, const std::string& csr_pem,
                                       int64_t now_ms, int64_t node_cert_ttl_s) {
  if (!has_ca()) return Error{"this controller runs without TLS: nodes join with --insecure-no-tls"};
  auto t = auth::parse_join_token(text);
  if (!t) return Error{"join token refused: " + t.error().message};
  if (t->ca_fingerprint != fingerprint_) return Error{"join token refused: it names another cluster's CA"};
  if (!valid_name(node)) return Error{"node name \"" + node + "\" is not valid (1-63 of letters, digits, - _ . @)"};
  if (t->id == auth::kBootstrapTokenId) {
    if (bootstrap_.empty() || !auth::same_secret(t->secret, bootstrap_)) return Error{"join token refused: wrong secret"};
  } else {
    auto it = tokens_.find(t->id);
    if (it == tokens_.end()) return Error{"join token refused: token " + t->id + " does not exist (revoked, or never created)"};
    if (!auth::same_secret(auth::sha256_hex(t->secret), it->second.secret_sha256)) {
      return Error{"join token refused: wrong secret for token " + t->id};
    }
    if (it->second.expires_ms != 0 && now_ms >= it->second.expires_ms) {
      return Error{"join token refused: token " + t->id + " expired " + std::to_string((now_ms - it->second.expires_ms) / 1000) +
                   " s ago (rackos token create makes a new one)"};
    }
    ++it->second.joins;
    dirty_.insert({schema::kToken, t->id});
  }
  return auth::sign_csr(ca_, csr_pem, {node, auth::role_org(auth::Role::node), {}, false, node_cert_ttl_s});
}

Result<std::string> AuthRegistry::renew_node(const std::string& node, const std::string& csr_pem, int64_t node_cert_ttl_s) {
  if (!has_ca()) return Error{"this controller runs without TLS"};
  return auth::sign_csr(ca_, csr_pem, {node, auth::role_org(auth::Role::node), {}, false, node_cert_ttl_s});
}

Result<IssuedCert> AuthRegistry::add_user(const std::string& name, auth::Role role, const std::string& csr_pem, int64_t ttl_s,
                                          int64_t now_ms) {
  if (!has_ca()) return Error{"this controller runs without TLS: there are no users"};
  if (!valid_name(name)) return Error{"user name \"" + name + "\" is not valid (1-63 of letters, digits, - _ . @)"};
  if (role != auth::Role::admin && role != auth::Role::operator_ && role != auth::Role::view) {
    return Error{"a user's role is admin, operator or view"};
  }
  auto& u = users_[name];
  if (!u.role.empty() && u.role != auth::role_name(role)) {
    return Error{"user " + name + " exists with the " + u.role + " role (rackos user remove " + name + " first)"};
  }
  auto cert = auth::sign_csr(ca_, csr_pem, {name, auth::role_org(role), {}, false, ttl_s});
  if (!cert) {
    if (u.role.empty()) users_.erase(name);
    return cert.error();
  }
  auto info = auth::read_cert(*cert);
  if (!info) return info.error();
  if (u.role.empty()) u.created_ms = now_ms;
  u.role = std::string(auth::role_name(role));
  u.serials.push_back(info->serial);
  if (u.serials.size() > 100) u.serials.erase(u.serials.begin());  // the oldest certificate stops counting
  dirty_.insert({schema::kUser, name});
  deleted_.erase({schema::kUser, name});
  changed();
  return IssuedCert{*cert, info->serial};
}

Result<bool> AuthRegistry::remove_user(const std::string& name) {
  if (!users_.erase(name)) return not_found("no user " + name + " (rackos user list shows them)");
  dirty_.erase({schema::kUser, name});
  deleted_.insert({schema::kUser, name});
  changed();
  return true;
}

bool AuthRegistry::user_valid(const std::string& name, auth::Role role, const std::string& serial) const {
  auto it = users_.find(name);
  if (it == users_.end() || it->second.role != auth::role_name(role)) return false;
  for (const auto& s : it->second.serials) {
    if (s == serial) return true;
  }
  return false;
}

void AuthRegistry::write(StoreBatch& b) const {
  for (const auto& [kind, key] : dirty_) {
    if (kind == schema::kPki) b.puts.push_back({kind, key, schema::to_json(schema::PkiRow{ca_.cert_pem, ca_.key_pem})});
    if (kind == schema::kToken) b.puts.push_back({kind, key, schema::to_json(tokens_.at(key))});
    if (kind == schema::kUser) b.puts.push_back({kind, key, schema::to_json(users_.at(key))});
  }
  for (const auto& d : deleted_) b.deletes.push_back(d);
}

void AuthRegistry::committed() {
  dirty_.clear();
  deleted_.clear();
}

}  // namespace rackos::controller

// Join tokens, the k3s way: "K1<ca-sha256>::<id>.<secret>". The fingerprint
// lets a new node trust the CA it fetches over an unverified connection (a
// man in the middle cannot forge a CA with that hash); the id names the
// token's record in the store, which holds only the secret's SHA-256, an
// expiry, and whether it was revoked. The controller's bootstrap secret
// (--token-file) is the token with id "boot" and never expires.
#pragma once

#include <string>

#include "core/result.h"

namespace rackos::auth {

struct JoinToken {
  std::string ca_fingerprint;  // 64 hex
  std::string id;              // [a-z0-9]{1,16}
  std::string secret;          // [A-Za-z0-9._-]{8,256}
};

inline constexpr const char* kBootstrapTokenId = "boot";

Result<JoinToken> parse_join_token(const std::string& text);
std::string format_join_token(const JoinToken& t);
// Equal strings, in time that does not depend on where they differ.
bool same_secret(const std::string& a, const std::string& b);

}  // namespace rackos::auth

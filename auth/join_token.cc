// Join tokens (see join_token.h).
#include "auth/join_token.h"

#include <cctype>

namespace rackos::auth {

Result<JoinToken> parse_join_token(const std::string& raw) {
  std::string text = raw;
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  const std::string form = " (expected K1<64 hex CA fingerprint>::<id>.<secret>, as `rackos token create` prints)";
  if (text.size() > 400) return Error{"the join token is " + std::to_string(text.size()) + " characters long" + form};
  if (text.rfind("K1", 0) != 0) return Error{"not a join token" + form};
  const auto sep = text.find("::");
  if (sep == std::string::npos) return Error{"the join token has no '::'" + form};
  JoinToken t;
  t.ca_fingerprint = text.substr(2, sep - 2);
  const std::string rest = text.substr(sep + 2);
  const auto dot = rest.find('.');
  if (dot == std::string::npos) return Error{"the join token has no '<id>.' before its secret" + form};
  t.id = rest.substr(0, dot);
  t.secret = rest.substr(dot + 1);
  if (t.ca_fingerprint.size() != 64) return Error{"the join token's CA fingerprint is not 64 hex digits" + form};
  for (char c : t.ca_fingerprint) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return Error{"the join token's CA fingerprint is not hex" + form};
  }
  if (t.id.empty() || t.id.size() > 16) return Error{"the join token's id must be 1 to 16 characters" + form};
  for (char c : t.id) {
    if (!std::islower(static_cast<unsigned char>(c)) && !std::isdigit(static_cast<unsigned char>(c))) {
      return Error{"the join token's id must be lowercase letters and digits" + form};
    }
  }
  if (t.secret.size() < 8 || t.secret.size() > 256) return Error{"the join token's secret must be 8 to 256 characters" + form};
  for (char c : t.secret) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return Error{"the join token's secret has a character other than letters, digits, '.', '_', '-'" + form};
    }
  }
  for (char& c : t.ca_fingerprint) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return t;
}

std::string format_join_token(const JoinToken& t) { return "K1" + t.ca_fingerprint + "::" + t.id + "." + t.secret; }

bool same_secret(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  return diff == 0;
}

}  // namespace rackos::auth

// Join tokens parse back to what was formatted, and every malformed one is
// refused with a line naming what is wrong.
#include "auth/join_token.h"

#include <gtest/gtest.h>

namespace rackos::auth {
namespace {

const std::string kFp(64, 'a');

TEST(JoinToken, RoundTrips) {
  JoinToken t{kFp, "x7k2", "0123456789abcdef"};
  auto p = parse_join_token(format_join_token(t) + "\n");
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->ca_fingerprint, kFp);
  EXPECT_EQ(p->id, "x7k2");
  EXPECT_EQ(p->secret, "0123456789abcdef");
}

TEST(JoinToken, MalformedOnesAreRefusedNamingWhatIsWrong) {
  auto msg = [](const std::string& s) { auto r = parse_join_token(s); return r ? std::string("accepted") : r.error().message; };
  EXPECT_NE(msg("hello").find("not a join token"), std::string::npos);
  EXPECT_NE(msg("K1" + kFp + "x7.secretsecret").find("no '::'"), std::string::npos);
  EXPECT_NE(msg("K1abc::x7.secretsecret").find("64 hex"), std::string::npos);
  EXPECT_NE(msg("K1" + std::string(64, 'z') + "::x7.secretsecret").find("not hex"), std::string::npos);
  EXPECT_NE(msg("K1" + kFp + "::secretsecret").find("'<id>.'"), std::string::npos);
  EXPECT_NE(msg("K1" + kFp + "::X7.secretsecret").find("lowercase"), std::string::npos);
  EXPECT_NE(msg("K1" + kFp + "::x7.short").find("8 to 256"), std::string::npos);
  EXPECT_NE(msg("K1" + kFp + "::x7.secret secret").find("character"), std::string::npos);
  EXPECT_NE(msg(std::string(100000, 'K')).find("characters long"), std::string::npos);
}

TEST(JoinToken, SameSecret) {
  EXPECT_TRUE(same_secret("abcdefgh", "abcdefgh"));
  EXPECT_FALSE(same_secret("abcdefgh", "abcdefgX"));
  EXPECT_FALSE(same_secret("abcdefgh", "abcdefg"));
  EXPECT_FALSE(same_secret("", "a"));
}

}  // namespace
}  // namespace rackos::auth

// The cluster's certificates: a CA signs what it is asked, under the subject
// it chooses; a request whose signature does not match is refused; another
// CA's certificate does not verify; fingerprints are stable.
#include "auth/pki.h"

#include <gtest/gtest.h>

namespace rackos::auth {
namespace {

TEST(Pki, CaSignsARequestUnderTheSubjectItChooses) {
  auto ca = make_ca("rackos-test-ca", 3600);
  ASSERT_TRUE(ca) << ca.error().message;
  auto key = make_key();
  ASSERT_TRUE(key);
  auto csr = make_csr(*key, "node-2");  // asks for node-2 ...
  ASSERT_TRUE(csr);
  auto cert = sign_csr(*ca, *csr, {"node-1", "rackos:node", {}, false, 600});  // ... gets node-1
  ASSERT_TRUE(cert) << cert.error().message;
  auto info = read_cert(*cert);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->cn, "node-1");
  EXPECT_EQ(info->org, "rackos:node");
  EXPECT_FALSE(info->serial.empty());
  EXPECT_GT(info->not_after_s, info->not_before_s);
  EXPECT_NEAR(static_cast<double>(info->not_after_s - ::time(nullptr)), 600, 5);
  EXPECT_TRUE(key_matches(*key, *cert));
  EXPECT_TRUE(*verify_cert(*cert, ca->cert_pem));
}

TEST(Pki, AnotherCasCertificateDoesNotVerifyAndSerialsDiffer) {
  auto a = make_ca("a", 3600), b = make_ca("b", 3600);
  ASSERT_TRUE(a && b);
  auto ka = issue(*a, {"u", "rackos:view", {}, false, 600});
  auto kb = issue(*a, {"u", "rackos:view", {}, false, 600});
  ASSERT_TRUE(ka && kb);
  EXPECT_FALSE(*verify_cert(ka->cert_pem, b->cert_pem));
  EXPECT_NE(read_cert(ka->cert_pem)->serial, read_cert(kb->cert_pem)->serial);
  EXPECT_FALSE(key_matches(ka->key_pem, kb->cert_pem));
  EXPECT_NE(*ca_fingerprint(a->cert_pem), *ca_fingerprint(b->cert_pem));
  EXPECT_EQ(*ca_fingerprint(a->cert_pem), *ca_fingerprint(a->cert_pem));
  EXPECT_EQ(ca_fingerprint(a->cert_pem)->size(), 64u);
}

TEST(Pki, ATamperedOrForeignRequestIsRefused) {
  auto ca = make_ca("ca", 3600);
  auto k1 = make_key(), k2 = make_key();
  ASSERT_TRUE(ca && k1 && k2);
  auto csr = make_csr(*k1, "x");
  ASSERT_TRUE(csr);
  EXPECT_FALSE(sign_csr(*ca, "not a request", {"x", "rackos:node", {}, false, 60}));
  EXPECT_FALSE(sign_csr(*ca, std::string(20000, 'A'), {"x", "rackos:node", {}, false, 60}));
  std::string bad = *csr;
  bad[bad.size() / 2] = bad[bad.size() / 2] == 'A' ? 'B' : 'A';  // one byte of the body changed
  EXPECT_FALSE(sign_csr(*ca, bad, {"x", "rackos:node", {}, false, 60}));
  EXPECT_FALSE(read_cert("garbage"));
  EXPECT_FALSE(verify_cert("garbage", ca->cert_pem));
}

TEST(Pki, AnExpiredCertificateDoesNotVerify) {
  auto ca = make_ca("ca", 3600);
  ASSERT_TRUE(ca);
  auto kc = issue(*ca, {"old", "rackos:view", {}, false, -600});  // expired ten minutes ago
  ASSERT_TRUE(kc);
  EXPECT_FALSE(*verify_cert(kc->cert_pem, ca->cert_pem));
}

TEST(Pki, RandomAndHashAreHex) {
  EXPECT_EQ(random_hex(16).size(), 32u);
  EXPECT_NE(random_hex(16), random_hex(16));
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace rackos::auth

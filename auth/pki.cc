// The cluster's certificates with OpenSSL 3 (see pki.h).
#include "auth/pki.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <memory>

namespace rackos::auth {
namespace {

template <class T, void (*F)(T*)>
struct Free {
  void operator()(T* p) const { F(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, Free<EVP_PKEY, EVP_PKEY_free>>;
using X509p = std::unique_ptr<X509, Free<X509, X509_free>>;
using Req = std::unique_ptr<X509_REQ, Free<X509_REQ, X509_REQ_free>>;
using Bio = std::unique_ptr<BIO, Free<BIO, BIO_free_all>>;
using Ext = std::unique_ptr<X509_EXTENSION, Free<X509_EXTENSION, X509_EXTENSION_free>>;

std::string openssl_error(const std::string& what) {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return what;
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return what + ": " + buf;
}

Bio mem_in(const std::string& s) { return Bio(BIO_new_mem_buf(s.data(), static_cast<int>(s.size()))); }

std::string bio_text(BIO* b) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(b, &data);
  return n > 0 ? std::string(data, static_cast<size_t>(n)) : std::string();
}

Result<Pkey> new_key() {
  Pkey k(EVP_EC_gen("P-256"));
  if (!k) return Error{openssl_error("cannot make a key")};
  return k;
}

Result<Pkey> read_key(const std::string& pem) {
  auto b = mem_in(pem);
  Pkey k(PEM_read_bio_PrivateKey(b.get(), nullptr, nullptr, nullptr));
  if (!k) return Error{openssl_error("not a PEM private key")};
  return k;
}

Result<X509p> read_x509(const std::string& pem) {
  auto b = mem_in(pem);
  X509p c(PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr));
  if (!c) return Error{openssl_error("not a PEM certificate")};
  return c;
}

std::string key_pem(EVP_PKEY* k) {
  Bio b(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(b.get(), k, nullptr, nullptr, 0, nullptr, nullptr);
  return bio_text(b.get());
}

std::string cert_pem(X509* c) {
  Bio b(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(b.get(), c);
  return bio_text(b.get());
}

std::string name_entry(X509_NAME* n, int nid) {
  const int i = X509_NAME_get_index_by_NID(n, nid, -1);
  if (i < 0) return "";
  ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i));
  unsigned char* utf8 = nullptr;
  const int len = ASN1_STRING_to_UTF8(&utf8, s);
  if (len < 0) return "";
  std::string out(reinterpret_cast<char*>(utf8), static_cast<size_t>(len));
  OPENSSL_free(utf8);
  return out;
}

bool set_name(X509_NAME* n, const std::string& cn, const std::string& org) {
  auto add = [&](const char* field, const std::string& v) {
    return v.empty() || X509_NAME_add_entry_by_txt(n, field, MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(v.c_str()),
                                                   -1, -1, 0) == 1;
  };
  return add("O", org) && add("CN", cn);
}

bool add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  Ext ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  return ext && X509_add_ext(cert, ext.get(), -1) == 1;
}

int64_t asn1_time_s(const ASN1_TIME* t) {
  struct tm tm {};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return 0;
  return static_cast<int64_t>(timegm(&tm));
}

// A certificate for `pub`, signed by `ca_key` (issuer `ca_cert`, or itself when null).
Result<X509p> make_cert(EVP_PKEY* pub, const CertSubject& s, X509* ca_cert, EVP_PKEY* ca_key, bool is_ca) {
  X509p c(X509_new());
  if (!c) return Error{openssl_error("cannot make a certificate")};
  X509_set_version(c.get(), 2);
  // A random 128-bit serial (positive): what the controller lists and revokes.
  unsigned char raw[16];
  if (RAND_bytes(raw, sizeof raw) != 1) return Error{openssl_error("no randomness")};
  raw[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(raw, sizeof raw, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(c.get()), -300);  // 5 min of clock skew between machines
  X509_gmtime_adj(X509_getm_notAfter(c.get()), static_cast<long>(s.ttl_s));
  X509_set_pubkey(c.get(), pub);
  if (!set_name(X509_get_subject_name(c.get()), s.cn, s.org)) return Error{openssl_error("bad subject " + s.cn)};
  X509_set_issuer_name(c.get(), ca_cert ? X509_get_subject_name(ca_cert) : X509_get_subject_name(c.get()));
  X509* issuer = ca_cert ? ca_cert : c.get();
  bool ok = true;
  if (is_ca) {
    ok = add_ext(c.get(), issuer, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") &&
         add_ext(c.get(), issuer, NID_key_usage, "critical,keyCertSign,cRLSign") &&
         add_ext(c.get(), issuer, NID_subject_key_identifier, "hash");
  } else {
    ok = add_ext(c.get(), issuer, NID_basic_constraints, "critical,CA:FALSE") &&
         add_ext(c.get(), issuer, NID_key_usage, "critical,digitalSignature,keyEncipherment") &&
         add_ext(c.get(), issuer, NID_ext_key_usage, s.server ? "serverAuth,clientAuth" : "clientAuth");
    if (ok && !s.dns.empty()) {
      std::string san;
      for (const auto& d : s.dns) san += (san.empty() ? "" : ",") + (d.rfind("IP:", 0) == 0 ? d : "DNS:" + d);
      ok = add_ext(c.get(), issuer, NID_subject_alt_name, san);
    }
  }
  if (!ok) return Error{openssl_error("cannot add certificate extensions")};
  if (X509_sign(c.get(), ca_key, EVP_sha256()) == 0) return Error{openssl_error("cannot sign")};
  return c;
}

}  // namespace

std::string random_hex(size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1) raw.clear();
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char ch : raw) {
    out.push_back(hex[ch >> 4]);
    out.push_back(hex[ch & 15]);
  }
  return out;
}

std::string sha256_hex(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), md, &n, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < n; ++i) {
    out.push_back(hex[md[i] >> 4]);
    out.push_back(hex[md[i] & 15]);
  }
  return out;
}

Result<CertAuthority> make_ca(const std::string& cn, int64_t ttl_s) {
  auto k = new_key();
  if (!k) return k.error();
  CertSubject s;
  s.cn = cn;
  s.org = "rackos";
  s.ttl_s = ttl_s;
  auto c = make_cert(k->get(), s, nullptr, k->get(), /*is_ca=*/true);
  if (!c) return c.error();
  return CertAuthority{cert_pem(c->get()), key_pem(k->get())};
}

Result<std::string> make_key() {
  auto k = new_key();
  if (!k) return k.error();
  return key_pem(k->get());
}

Result<std::string> make_csr(const std::string& key, const std::string& cn) {
  auto k = read_key(key);
  if (!k) return k.error();
  Req r(X509_REQ_new());
  X509_REQ_set_version(r.get(), 0);
  if (!set_name(X509_REQ_get_subject_name(r.get()), cn, "")) return Error{openssl_error("bad name " + cn)};
  X509_REQ_set_pubkey(r.get(), k->get());
  if (X509_REQ_sign(r.get(), k->get(), EVP_sha256()) == 0) return Error{openssl_error("cannot sign the request")};
  Bio b(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509_REQ(b.get(), r.get());
  return bio_text(b.get());
}

Result<std::string> sign_csr(const CertAuthority& ca, const std::string& csr_pem, const CertSubject& subject) {
  if (csr_pem.size() > 16384) return Error{"the certificate request is " + std::to_string(csr_pem.size()) + " bytes (at most 16384)"};
  auto b = mem_in(csr_pem);
  Req r(PEM_read_bio_X509_REQ(b.get(), nullptr, nullptr, nullptr));
  if (!r) return Error{openssl_error("not a PEM certificate request")};
  Pkey pub(X509_REQ_get_pubkey(r.get()));
  if (!pub || X509_REQ_verify(r.get(), pub.get()) != 1) {
    return Error{openssl_error("the certificate request's signature does not match its key")};
  }
  auto ca_cert = read_x509(ca.cert_pem);
  if (!ca_cert) return ca_cert.error();
  auto ca_key = read_key(ca.key_pem);
  if (!ca_key) return ca_key.error();
  auto c = make_cert(pub.get(), subject, ca_cert->get(), ca_key->get(), false);
  if (!c) return c.error();
  return cert_pem(c->get());
}

Result<KeyAndCert> issue(const CertAuthority& ca, const CertSubject& subject) {
  auto key = make_key();
  if (!key) return key.error();
  auto csr = make_csr(*key, subject.cn);
  if (!csr) return csr.error();
  auto cert = sign_csr(ca, *csr, subject);
  if (!cert) return cert.error();
  return KeyAndCert{*key, *cert};
}

Result<CertInfo> read_cert(const std::string& pem) {
  auto c = read_x509(pem);
  if (!c) return c.error();
  CertInfo info;
  X509_NAME* n = X509_get_subject_name(c->get());
  info.cn = name_entry(n, NID_commonName);
  info.org = name_entry(n, NID_organizationName);
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get_serialNumber(c->get()), nullptr);
  if (bn) {
    char* hex = BN_bn2hex(bn);
    info.serial = hex ? hex : "";
    OPENSSL_free(hex);
    BN_free(bn);
  }
  info.not_before_s = asn1_time_s(X509_get0_notBefore(c->get()));
  info.not_after_s = asn1_time_s(X509_get0_notAfter(c->get()));
  return info;
}

Result<bool> verify_cert(const std::string& pem, const std::string& ca_pem) {
  auto c = read_x509(pem);
  if (!c) return c.error();
  auto ca = read_x509(ca_pem);
  if (!ca) return ca.error();
  std::unique_ptr<X509_STORE, Free<X509_STORE, X509_STORE_free>> store(X509_STORE_new());
  X509_STORE_add_cert(store.get(), ca->get());
  std::unique_ptr<X509_STORE_CTX, Free<X509_STORE_CTX, X509_STORE_CTX_free>> ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), c->get(), nullptr);
  const bool ok = X509_verify_cert(ctx.get()) == 1;
  ERR_clear_error();
  return ok;
}

Result<std::string> ca_fingerprint(const std::string& ca_pem) {
  auto c = read_x509(ca_pem);
  if (!c) return c.error();
  unsigned char* der = nullptr;
  const int n = i2d_X509(c->get(), &der);
  if (n <= 0) return Error{openssl_error("cannot encode the CA")};
  std::string out = sha256_hex(std::string(reinterpret_cast<char*>(der), static_cast<size_t>(n)));
  OPENSSL_free(der);
  return out;
}

bool key_matches(const std::string& key, const std::string& cert) {
  auto k = read_key(key);
  auto c = read_x509(cert);
  if (!k || !c) return false;
  const bool ok = X509_check_private_key(c->get(), k->get()) == 1;
  ERR_clear_error();
  return ok;
}

}  // namespace rackos::auth

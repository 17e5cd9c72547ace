// The cluster's certificates, made with OpenSSL: a CA (EC P-256, created once
// by the controller and kept in the store), keys and certificate requests
// (made where the key is to live: a shim, a user's CLI), certificates signed
// from a request with the subject the CA chooses (never the one requested),
// and reading back who a certificate names. Identities are in the subject:
// CN = the node or user name, O = "rackos:<role>" (see roles.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"

namespace rackos::auth {

struct CertAuthority {
  std::string cert_pem;
  std::string key_pem;
};

// A new CA named `cn`, valid from now for `ttl_s` seconds.
Result<CertAuthority> make_ca(const std::string& cn, int64_t ttl_s);
// A new private key (EC P-256), PEM.
Result<std::string> make_key();
// A certificate request for `key_pem`, subject CN=`cn` (the signer decides the
// final subject; the request proves possession of the key).
Result<std::string> make_csr(const std::string& key_pem, const std::string& cn);

struct CertSubject {
  std::string cn;                 // the node or user name
  std::string org;                // "rackos:admin", "rackos:node", ...
  std::vector<std::string> dns;   // subjectAltName DNS entries (a server's names); "IP:1.2.3.4" for an address
  bool server = false;            // extendedKeyUsage serverAuth (else clientAuth)
  int64_t ttl_s = 86400;
};
// Signs the public key of `csr_pem` (whose own signature is checked first)
// with `ca` for `subject`. Returns the certificate PEM.
Result<std::string> sign_csr(const CertAuthority& ca, const std::string& csr_pem, const CertSubject& subject);
// A key and a certificate for it in one step (the controller's own server
// certificate, the local admin's client certificate).
struct KeyAndCert {
  std::string key_pem;
  std::string cert_pem;
};
Result<KeyAndCert> issue(const CertAuthority& ca, const CertSubject& subject);

struct CertInfo {
  std::string cn;
  std::string org;
  std::string serial;       // hex
  int64_t not_before_s = 0;  // unix seconds
  int64_t not_after_s = 0;
};
Result<CertInfo> read_cert(const std::string& cert_pem);
// `cert_pem` was signed by `ca_cert_pem` and is valid at the current time.
Result<bool> verify_cert(const std::string& cert_pem, const std::string& ca_cert_pem);
// The CA's fingerprint as a join token carries it: SHA-256 of its DER, hex.
Result<std::string> ca_fingerprint(const std::string& ca_cert_pem);
// The key in `key_pem` is the one `cert_pem` certifies.
bool key_matches(const std::string& key_pem, const std::string& cert_pem);

std::string sha256_hex(const std::string& data);
// `bytes` random bytes from the OS's generator, hex.
std::string random_hex(size_t bytes);

}  // namespace rackos::auth

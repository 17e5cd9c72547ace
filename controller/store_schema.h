// The store's schema: each kind of record the controller keeps, as a plain
// row, and its one JSON form. load() reads rows and commit() writes them
// through these functions only, so a key cannot be renamed on one side and
// silently reset state on the other (store_schema_test.cc round-trips every
// field).
//   kind "cluster"  key "identity"          ClusterRow
//   kind "service"  key <name>              ServiceRow
//   kind "node"     key <name>              NodeRow
//   kind "process"  key <service>/<instance> ProcessRow
//   kind "pki"      key "ca"                PkiRow (the cluster CA: both controllers of a pair serve it)
//   kind "token"    key <id>                TokenRow (a join token: only its secret's hash)
//   kind "user"     key <name>              UserRow (role and the serials of its valid certificates)
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/ids.h"
#include "core/result.h"

namespace rackos::controller::schema {

inline constexpr const char* kCluster = "cluster";
inline constexpr const char* kService = "service";
inline constexpr const char* kNode = "node";
inline constexpr const char* kProcess = "process";
inline constexpr const char* kClusterKey = "identity";
inline constexpr const char* kPki = "pki";
inline constexpr const char* kPkiCaKey = "ca";
inline constexpr const char* kToken = "token";
inline constexpr const char* kUser = "user";

struct PkiRow {
  std::string cert_pem;
  std::string key_pem;
  friend bool operator==(const PkiRow&, const PkiRow&) = default;
};

struct TokenRow {
  std::string secret_sha256;
  std::string description;
  int64_t created_ms = 0;
  int64_t expires_ms = 0;  // 0: never
  uint32_t joins = 0;
  friend bool operator==(const TokenRow&, const TokenRow&) = default;
};

struct UserRow {
  std::string role;
  int64_t created_ms = 0;
  std::vector<std::string> serials;  // certificates issued to it and not revoked
  friend bool operator==(const UserRow&, const UserRow&) = default;
};

struct ClusterRow {
  std::string id;
  friend bool operator==(const ClusterRow&, const ClusterRow&) = default;
};

struct ServiceRow {
  std::string yaml;          // the spec in normal form
  uint32_t desired = 0;      // instances wanted now
  bool stopping = false;
  friend bool operator==(const ServiceRow&, const ServiceRow&) = default;
};

struct NodeRow {
  int64_t cpu_millis = 0;
  int64_t memory_bytes = 0;
  std::map<std::string, std::string> labels;
  std::map<std::string, int64_t> resources;
  bool draining = false;
  uint64_t incarnation = 1;
  bool dead = false;
  friend bool operator==(const NodeRow&, const NodeRow&) = default;
};

struct ProcessRow {
  std::string service;
  uint32_t instance = 0;
  std::string node;          // bound to (empty: none)
  std::string last_node;     // where its last launch ran
  ProcessState state = ProcessState::pending;
  uint32_t launch = 0;
  uint16_t restarts = 0;
  int64_t next_start_ms = 0;
  int32_t exit_code = 0;
  int64_t created_ms = 0;
  int64_t started_ms = 0;
  bool stop = false;         // stop wanted: removed once stopped
  std::string reason;
  friend bool operator==(const ProcessRow&, const ProcessRow&) = default;
};

std::string process_key(const std::string& service, uint32_t instance);

std::string to_json(const ClusterRow& r);
std::string to_json(const ServiceRow& r);
std::string to_json(const NodeRow& r);
std::string to_json(const ProcessRow& r);
std::string to_json(const PkiRow& r);
std::string to_json(const TokenRow& r);
std::string to_json(const UserRow& r);
// Each names the record in its error ("store: process web/3: ...").
Result<ClusterRow> cluster_from_json(const std::string& text);
Result<ServiceRow> service_from_json(const std::string& key, const std::string& text);
Result<NodeRow> node_from_json(const std::string& key, const std::string& text);
Result<ProcessRow> process_from_json(const std::string& key, const std::string& text);
Result<PkiRow> pki_from_json(const std::string& key, const std::string& text);
Result<TokenRow> token_from_json(const std::string& key, const std::string& text);
Result<UserRow> user_from_json(const std::string& key, const std::string& text);

}  // namespace rackos::controller::schema

// What a user declares for a service: command, envelope, instances, priority,
// restart policy, placement constraints, partition behaviour. Plain values; the
// parser (spec_parse.h) builds them and validate_service_spec checks the rules.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/ids.h"
#include "core/result.h"

namespace rackos {

// min ≤ max ≤ burst. CPU in millicores, memory in bytes (DESIGN.md envelope table).
struct Range {
  int64_t min = 0;
  int64_t max = 0;
  int64_t burst = 0;
  friend bool operator==(const Range&, const Range&) = default;
};

// `min: auto`: the controller learns the min from observed use
// (core/recommender.h) and keeps it in [floor, ceiling] (ceiling 0: up to
// max). The envelope's min then holds the value learned so far.
struct LearnedMin {
  bool on = false;
  int64_t floor = 0;
  int64_t ceiling = 0;
  friend bool operator==(const LearnedMin&, const LearnedMin&) = default;
};

struct Envelope {
  Range cpu_millis;
  Range memory_bytes;
  friend bool operator==(const Envelope&, const Envelope&) = default;
};

struct InstanceRange {
  uint32_t min = 1;
  uint32_t max = 1;
  friend bool operator==(const InstanceRange&, const InstanceRange&) = default;
};

enum class RestartKind : uint8_t { always, on_failure, never };
std::string_view to_string(RestartKind k);

struct RestartPolicy {
  RestartKind kind = RestartKind::always;
  int64_t backoff_initial_ms = 100;
  int64_t backoff_max_ms = 30'000;
  // A process that ran at least this long before exiting starts again from the
  // initial backoff (its earlier crashes are forgiven).
  int64_t reset_after_ms = 10'000;
  friend bool operator==(const RestartPolicy&, const RestartPolicy&) = default;
};

// A placement rule on node labels: `key=v1|v2` (label equals one of), `key!=v`
// (label missing or different), `key` (label present).
struct Constraint {
  enum class Op : uint8_t { in, not_in, exists };
  std::string key;
  Op op = Op::exists;
  std::vector<std::string> values;
  friend bool operator==(const Constraint&, const Constraint&) = default;
};
std::string to_string(const Constraint& c);

inline constexpr uint32_t kMaxInstances = 100'000;
// Size limits, so that every spec fits the node stream (4 MiB a message) with
// room to spare and exec can take it: a YAML request, one argument or
// environment value (Linux refuses a single string over 128 KiB: E2BIG), and
// the command and environment together.
inline constexpr size_t kMaxSpecBytes = 1 << 20;
inline constexpr size_t kMaxArgBytes = 128 << 10;
inline constexpr size_t kMaxLaunchBytes = 512 << 10;
// The smallest envelope a process can start in: exec needs its binary, stack
// and page tables charged to its cgroup (below this it fails with "Cannot
// allocate memory" and restarts forever), and the kernel's CFS quota is at
// least 1 ms per 100 ms period.
inline constexpr int64_t kMinMemoryMaxBytes = 4 << 20;
inline constexpr int64_t kMinCpuMaxMillis = 10;

struct ServiceSpec {
  std::string name;
  std::vector<std::string> command;                       // argv
  std::vector<std::pair<std::string, std::string>> env;   // in declared order
  std::string workdir;                                    // empty: the shim's default
  std::string user;                                       // a user name on the node; empty: see uid
  std::optional<uint32_t> uid;                            // neither: the node's unprivileged workload user
  std::optional<uint32_t> gid;
  Envelope envelope;
  LearnedMin auto_cpu;                                    // cpu: auto:... (envelope.cpu_millis.min learned)
  LearnedMin auto_memory;                                 // memory: {min: auto, ...}
  std::map<std::string, int64_t> resources;               // countable, e.g. {"gpu": 1}
  InstanceRange instances;
  PriorityClass priority = PriorityClass::normal;
  RestartPolicy restart;
  std::vector<Constraint> constraints;
  // Unset: `stop` for singletons (instances.max == 1), `keep` otherwise.
  std::optional<OnPartition> on_partition;

  // It asks for root (user: root, uid: 0 or gid: 0): only an admin may apply it.
  bool runs_as_root() const { return user == "root" || (uid && *uid == 0) || (gid && *gid == 0); }

  OnPartition effective_on_partition() const {
    if (on_partition) return *on_partition;
    return instances.max == 1 ? OnPartition::stop : OnPartition::keep;
  }
  friend bool operator==(const ServiceSpec&, const ServiceSpec&) = default;
};

// Every rule a spec breaks, one error each, naming field, value and rule
// (e.g. "cpu.min 4 exceeds cpu.max 2"). Empty when the spec is valid.
std::vector<Error> validate_service_spec(const ServiceSpec& spec);
// The limits a NEW spec must also meet (sizes, the smallest envelope that can
// start a process). Kept apart from validate_service_spec so that a store
// written before a limit existed still loads.
std::vector<Error> admission_errors(const ServiceSpec& spec);

// What changing a service's spec from `old` to `next` means for the processes
// it runs: nothing; an update of each in place (envelope, priority — no
// restart); or replacing them (what a process was started with changed:
// command, env, workdir, user, countable resources). Instances, restart
// policy and constraints change the service, not its running processes.
enum class SpecChange : uint8_t { none, in_place, replace };
SpecChange classify_change(const ServiceSpec& old, const ServiceSpec& next);

}  // namespace rackos

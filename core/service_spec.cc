// validate_service_spec: the semantic rules of a service spec (see service_spec.h).
#include "core/service_spec.h"

#include <cctype>
#include <set>

#include "core/quantity.h"

namespace rackos {

std::string_view to_string(RestartKind k) {
  switch (k) {
    case RestartKind::always: return "always";
    case RestartKind::on_failure: return "on-failure";
    case RestartKind::never: return "never";
  }
  return "?";
}

std::string to_string(const Constraint& c) {
  switch (c.op) {
    case Constraint::Op::exists: return c.key;
    case Constraint::Op::in:
    case Constraint::Op::not_in: {
      std::string s = c.key + (c.op == Constraint::Op::in ? "=" : "!=");
      for (size_t i = 0; i < c.values.size(); ++i) s += (i ? "|" : "") + c.values[i];
      return s;
    }
  }
  return c.key;
}

namespace {

bool is_name(std::string_view s, size_t max_len) {
  if (s.empty() || s.size() > max_len) return false;
  if (!(s[0] >= 'a' && s[0] <= 'z')) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) return false;
  }
  return s.back() != '-';
}

bool is_label_token(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == '/';
    if (!ok) return false;
  }
  return true;
}

bool is_env_name(std::string_view s) {
  if (s.empty()) return false;
  if (s[0] >= '0' && s[0] <= '9') return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

void check_range(const char* field, const Range& r, std::string (*fmt)(int64_t),
                 std::vector<Error>& errors) {
  std::string f(field);
  if (r.min < 0) errors.push_back({f + ".min " + fmt(r.min) + " is negative"});
  if (r.max <= 0) errors.push_back({f + ".max " + fmt(r.max) + " must be greater than 0"});
  if (r.min > r.max) errors.push_back({f + ".min " + fmt(r.min) + " exceeds " + f + ".max " + fmt(r.max)});
  if (r.burst < r.max) errors.push_back({f + ".burst " + fmt(r.burst) + " is below " + f + ".max " + fmt(r.max) + " (burst ≥ max)"});
}

void check_learned(const char* field, const LearnedMin& l, const Range& r, std::string (*fmt)(int64_t),
                   std::vector<Error>& errors) {
  std::string f(field);
  if (!l.on) {
    if (l.floor != 0 || l.ceiling != 0) errors.push_back({f + ".floor and " + f + ".ceiling need " + f + ".min: auto"});
    return;
  }
  if (l.floor < 0) errors.push_back({f + ".floor " + fmt(l.floor) + " is negative"});
  if (l.ceiling < 0) errors.push_back({f + ".ceiling " + fmt(l.ceiling) + " is negative"});
  if (l.ceiling > r.max && r.max > 0) {
    errors.push_back({f + ".ceiling " + fmt(l.ceiling) + " exceeds " + f + ".max " + fmt(r.max)});
  }
  if (l.floor > r.max && r.max > 0) errors.push_back({f + ".floor " + fmt(l.floor) + " exceeds " + f + ".max " + fmt(r.max)});
  if (l.ceiling > 0 && l.floor > l.ceiling) {
    errors.push_back({f + ".floor " + fmt(l.floor) + " exceeds " + f + ".ceiling " + fmt(l.ceiling)});
  }
}

}  // namespace

std::vector<Error> validate_service_spec(const ServiceSpec& spec) {
  std::vector<Error> errors;
  if (!is_name(spec.name, 63)) {
    errors.push_back({"name \"" + spec.name +
                      "\" is not a valid service name (1-63 of a-z 0-9 -, starting with a letter, not ending with -)"});
  }
  if (spec.command.empty() || spec.command[0].empty()) {
    errors.push_back({"command is empty (give the program and its arguments)"});
  }
  std::set<std::string> env_seen;
  for (const auto& [k, v] : spec.env) {
    if (!is_env_name(k)) errors.push_back({"env \"" + k + "\" is not a valid variable name (letters, digits, _; not starting with a digit)"});
    if (!env_seen.insert(k).second) errors.push_back({"env \"" + k + "\" is set twice"});
  }
  check_range("cpu", spec.envelope.cpu_millis, format_cpu_millis, errors);
  check_range("memory", spec.envelope.memory_bytes, format_memory_bytes, errors);
  check_learned("cpu", spec.auto_cpu, spec.envelope.cpu_millis, format_cpu_millis, errors);
  check_learned("memory", spec.auto_memory, spec.envelope.memory_bytes, format_memory_bytes, errors);
  if (!spec.user.empty()) {
    bool ok = spec.user.size() <= 32 && spec.user[0] != '-';
    for (char c : spec.user) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.');
    if (!ok) errors.push_back({"user \"" + spec.user + "\" is not a valid user name (1-32 of letters, digits, . _ -; not starting with -)"});
    if (spec.uid) errors.push_back({"user and uid are both set: give one (user: NAME, or uid: N with gid: N)"});
  }
  for (const auto& [name, count] : spec.resources) {
    if (name == "cpu" || name == "memory") {
      errors.push_back({"resources." + name + " belongs in the envelope (cpu:/memory:), not in resources"});
    } else if (!is_label_token(name)) {
      errors.push_back({"resources: \"" + name + "\" is not a valid resource name"});
    }
    if (count < 0) errors.push_back({"resources." + name + " " + std::to_string(count) + " is negative"});
  }
  if (spec.resources.size() > 4) {
    errors.push_back({"resources: " + std::to_string(spec.resources.size()) + " countable resources requested; at most 4"});
  }
  if (spec.instances.max == 0) errors.push_back({"instances.max 0 must be at least 1"});
  if (spec.instances.min > spec.instances.max) {
    errors.push_back({"instances.min " + std::to_string(spec.instances.min) + " exceeds instances.max " +
                      std::to_string(spec.instances.max)});
  }
  if (spec.instances.max > kMaxInstances) {
    errors.push_back({"instances.max " + std::to_string(spec.instances.max) + " exceeds the limit " +
                      std::to_string(kMaxInstances)});
  }
  const auto& rp = spec.restart;
  if (rp.backoff_initial_ms <= 0) errors.push_back({"restart.backoff " + format_duration_ms(rp.backoff_initial_ms) + " must be greater than 0"});
  if (rp.backoff_max_ms < rp.backoff_initial_ms) {
    errors.push_back({"restart.backoff_max " + format_duration_ms(rp.backoff_max_ms) + " is below restart.backoff " +
                      format_duration_ms(rp.backoff_initial_ms)});
  }
  for (const auto& c : spec.constraints) {
    if (!is_label_token(c.key)) errors.push_back({"constraints: \"" + to_string(c) + "\" has an invalid label key \"" + c.key + "\""});
    if (c.op != Constraint::Op::exists && c.values.empty()) {
      errors.push_back({"constraints: \"" + to_string(c) + "\" has no value"});
    }
    for (const auto& v : c.values) {
      if (!is_label_token(v)) errors.push_back({"constraints: \"" + to_string(c) + "\" has an invalid label value \"" + v + "\""});
    }
  }
  return errors;
}

SpecChange classify_change(const ServiceSpec& old, const ServiceSpec& next) {
  if (old.command != next.command || old.env != next.env || old.workdir != next.workdir || old.uid != next.uid || old.user != next.user ||
      old.gid != next.gid || old.resources != next.resources) {
    return SpecChange::replace;
  }
  if (old.envelope != next.envelope || old.priority != next.priority) return SpecChange::in_place;
  return SpecChange::none;
}

std::vector<Error> admission_errors(const ServiceSpec& spec) {
  std::vector<Error> errors;
  if (spec.envelope.cpu_millis.max > 0 && spec.envelope.cpu_millis.max < kMinCpuMaxMillis) {
    errors.push_back({"cpu.max " + format_cpu_millis(spec.envelope.cpu_millis.max) + " is below the minimum " +
                      format_cpu_millis(kMinCpuMaxMillis) + " (the kernel's smallest CPU quota)"});
  }
  if (spec.envelope.memory_bytes.max > 0 && spec.envelope.memory_bytes.max < kMinMemoryMaxBytes) {
    errors.push_back({"memory.max " + format_memory_bytes(spec.envelope.memory_bytes.max) + " is below the minimum " +
                      format_memory_bytes(kMinMemoryMaxBytes) + " a process needs to start"});
  }
  size_t launch_bytes = 0;
  for (size_t i = 0; i < spec.command.size(); ++i) {
    launch_bytes += spec.command[i].size() + 1;
    if (spec.command[i].size() > kMaxArgBytes) {
      errors.push_back({"command[" + std::to_string(i) + "] is " + std::to_string(spec.command[i].size()) +
                        " bytes; the limit is " + std::to_string(kMaxArgBytes) + " bytes (128 KiB) per argument"});
    }
  }
  for (const auto& [k, v] : spec.env) {
    launch_bytes += k.size() + v.size() + 2;
    if (k.size() + v.size() + 1 > kMaxArgBytes) {
      errors.push_back({"env." + k + " is " + std::to_string(v.size()) + " bytes; the limit is " +
                        std::to_string(kMaxArgBytes) + " bytes (128 KiB) per variable"});
    }
  }
  launch_bytes += spec.workdir.size();
  if (launch_bytes > kMaxLaunchBytes) {
    errors.push_back({"command, env and workdir together are " + std::to_string(launch_bytes) + " bytes; the limit is " +
                      std::to_string(kMaxLaunchBytes) + " bytes (512 KiB)"});
  }
  return errors;
}

}  // namespace rackos

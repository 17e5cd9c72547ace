// YAML and CLI-flag parsing of service specs (see spec_parse.h).
#include "core/spec_parse.h"

#include <yaml-cpp/yaml.h>

#include <cctype>
#include <limits>
#include <map>
#include <set>

#include "core/quantity.h"
#include "core/recommender.h"

namespace rackos {
namespace {

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    parts.push_back(s.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return parts;
}

Result<Range> parse_range(std::string_view text, Result<int64_t> (*parse_one)(std::string_view),
                          const char* example, LearnedMin* learned) {
  auto parts = split(text, ':');
  if (parts.size() > 3 || text.empty()) {
    return Error{"\"" + std::string(text) + "\" is not an envelope (use MIN:MAX[:BURST], e.g. " + example + ")"};
  }
  const bool is_auto = parts[0] == "auto";
  if (is_auto && learned == nullptr) return Error{"a learned min (auto) is not allowed here"};
  if (is_auto && parts.size() == 1) {
    return Error{"\"auto\" needs a max to learn within (use auto:MAX[:BURST], e.g. auto:2:4)"};
  }
  std::vector<int64_t> v;
  for (auto p : parts) {
    if (is_auto && v.empty()) {
      v.push_back(0);
      continue;
    }
    auto r = parse_one(p);
    if (!r) return r.error();
    v.push_back(*r);
  }
  Range range;
  if (v.size() == 1) range = {v[0], v[0], v[0]};
  if (v.size() == 2) range = {v[0], v[1], v[1]};
  if (v.size() == 3) range = {v[0], v[1], v[2]};
  if (is_auto) {
    *learned = LearnedMin{true, 0, 0};
    range.min = initial_learned_min(*learned, range.max);
  }
  return range;
}

// Every key given twice in a map, anywhere in the document (YAML parsers keep
// both and later readers would silently take one): one error each, naming
// the key and both lines.
void find_duplicate_keys(const YAML::Node& n, const std::string& path, std::vector<Error>& errors, int line_offset) {
  if (n.IsMap()) {
    std::map<std::string, int> seen;  // key -> first line
    for (const auto& kv : n) {
      const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : std::string("?");
      const int line = kv.first.Mark().line + 1 + line_offset;
      const std::string field = path.empty() ? key : path + "." + key;
      if (auto [it, fresh] = seen.emplace(key, line); !fresh) {
        errors.push_back({"line " + std::to_string(line) + ": " + field + " is given twice (first on line " +
                          std::to_string(it->second) + "); give each field once"});
      }
      find_duplicate_keys(kv.second, field, errors, line_offset);
    }
  } else if (n.IsSequence()) {
    for (const auto& item : n) find_duplicate_keys(item, path, errors, line_offset);
  }
}

// The documents of a YAML stream, each with the line it starts on. Split at
// the document markers ("---" and "..." at the start of a line, which YAML
// reserves there in every context) and loaded one by one: yaml-cpp 0.7's
// LoadAll never returns on some malformed streams (a lone "," allocates
// until memory runs out: yaml-cpp issue 1040, fixed after 0.8), and this
// parser takes input from the network.
struct YamlDocument {
  YAML::Node node;
  int line_offset = 0;
};

Result<std::vector<YamlDocument>> load_documents(std::string_view text) {
  std::vector<YamlDocument> docs;
  size_t start = 0;
  int start_line = 0, line = 0;
  auto marker = [&](size_t at, char c) {
    return text.size() >= at + 3 && text[at] == c && text[at + 1] == c && text[at + 2] == c &&
           (text.size() == at + 3 || text[at + 3] == ' ' || text[at + 3] == '\t' || text[at + 3] == '\n' || text[at + 3] == '\r');
  };
  auto load = [&](size_t from, size_t to, int first_line) -> Result<bool> {
    if (to <= from) return true;
    try {
      docs.push_back({YAML::Load(std::string(text.substr(from, to - from))), first_line});
    } catch (const YAML::Exception& e) {
      return Error{"line " + std::to_string(e.mark.line + 1 + first_line) + ": not valid YAML: " + e.msg};
    }
    return true;
  };
  for (size_t at = 0; at <= text.size();) {
    const size_t nl = text.find('\n', at);
    const size_t next = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    if (marker(at, '-')) {  // a new document begins here (the marker line is its first)
      if (auto r = load(start, at, start_line); !r) return r.error();
      start = at;
      start_line = line;
    } else if (marker(at, '.')) {  // the document ends here
      if (auto r = load(start, at, start_line); !r) return r.error();
      start = std::min(next, text.size());
      start_line = line + 1;
    }
    at = next;
    ++line;
  }
  if (auto r = load(start, text.size(), start_line); !r) return r.error();
  return docs;
}

// Collects errors against YAML nodes, each with its line number.
struct YamlReader {
  std::vector<Error> errors;
  int line_offset = 0;  // where the document being read starts in the stream
  // Fields that failed to parse ("memory", "cpu"): the rule checks that run
  // afterwards skip them rather than report a second, confusing error.
  std::set<std::string> failed_roots;

  void fail_field(const YAML::Node& at, const std::string& field, const std::string& msg) {
    failed_roots.insert(field.substr(0, field.find('.')));
    fail(at, msg);
  }

  void fail(const YAML::Node& at, const std::string& msg) {
    int line = at.IsDefined() ? at.Mark().line + 1 + line_offset : 0;
    if (line > 0) {
      errors.push_back({"line " + std::to_string(line) + ": " + msg});
    } else {
      errors.push_back({msg});
    }
  }

  bool scalar(const YAML::Node& n, const std::string& field, std::string& out) {
    if (!n.IsScalar()) {
      fail_field(n, field, field + ": expected a single value");
      return false;
    }
    out = n.Scalar();
    return true;
  }

  template <class F>
  void quantity(const YAML::Node& n, const std::string& field, F parse, int64_t& out) {
    std::string s;
    if (!scalar(n, field, s)) return;
    auto r = parse(s);
    if (!r) {
      fail_field(n, field, field + ": " + r.error().message);
      return;
    }
    out = *r;
  }

  void range(const YAML::Node& n, const std::string& field, Result<int64_t> (*parse_one)(std::string_view),
             const char* example, Range& out, LearnedMin& learned) {
    if (n.IsScalar()) {
      auto r = parse_range(n.Scalar(), parse_one, example, &learned);
      if (!r) {
        fail_field(n, field, field + ": " + r.error().message);
        return;
      }
      out = *r;
      return;
    }
    if (!n.IsMap()) {
      fail_field(n, field, field + ": expected MIN:MAX[:BURST] or a map with min, max, burst");
      return;
    }
    bool has_max = false, has_burst = false;
    int64_t learned_value = -1;
    for (const auto& kv : n) {
      std::string key = kv.first.Scalar();
      if (key == "min" && kv.second.IsScalar() && kv.second.Scalar() == "auto") learned.on = true;
      else if (key == "min") quantity(kv.second, field + ".min", parse_one, out.min);
      else if (key == "max") { quantity(kv.second, field + ".max", parse_one, out.max); has_max = true; }
      else if (key == "burst") { quantity(kv.second, field + ".burst", parse_one, out.burst); has_burst = true; }
      else if (key == "floor") quantity(kv.second, field + ".floor", parse_one, learned.floor);
      else if (key == "ceiling") quantity(kv.second, field + ".ceiling", parse_one, learned.ceiling);
      else if (key == "learned") quantity(kv.second, field + ".learned", parse_one, learned_value);
      else fail(kv.first, field + ": unknown field \"" + key + "\" (allowed: min, max, burst; with min: auto also floor, ceiling, learned)");
    }
    if (!has_max) fail_field(n, field, field + ".max is missing");
    if (!has_burst) out.burst = out.max;
    if (learned_value >= 0 && !learned.on) fail_field(n, field, field + ".learned needs " + field + ".min: auto");
    if ((learned.floor != 0 || learned.ceiling != 0) && !learned.on) {
      fail_field(n, field, field + ".floor and " + field + ".ceiling need " + field + ".min: auto");
    }
    if (learned.on) {
      // Where learning starts: the value stored with the spec (a controller
      // restart keeps what it learned), else a quarter of max.
      const int64_t hi = learned.ceiling > 0 ? std::min(learned.ceiling, out.max) : out.max;
      out.min = learned_value >= 0 ? std::clamp(learned_value, std::min(learned.floor, hi), hi)
                                   : initial_learned_min(learned, out.max);
    }
  }

  void duration(const YAML::Node& n, const std::string& field, int64_t& out) {
    quantity(n, field, parse_duration_ms, out);
  }

  void restart(const YAML::Node& n, RestartPolicy& out) {
    auto kind = [&](const YAML::Node& k, const std::string& field) {
      std::string s;
      if (!scalar(k, field, s)) return;
      if (s == "always") out.kind = RestartKind::always;
      else if (s == "on-failure" || s == "on_failure") out.kind = RestartKind::on_failure;
      else if (s == "never") out.kind = RestartKind::never;
      else fail(k, field + ": \"" + s + "\" is not a restart policy (allowed: always, on-failure, never)");
    };
    if (n.IsScalar()) {
      kind(n, "restart");
      return;
    }
    if (!n.IsMap()) {
      fail(n, "restart: expected a policy name or a map");
      return;
    }
    for (const auto& kv : n) {
      std::string key = kv.first.Scalar();
      if (key == "policy") kind(kv.second, "restart.policy");
      else if (key == "backoff") duration(kv.second, "restart.backoff", out.backoff_initial_ms);
      else if (key == "backoff_max") duration(kv.second, "restart.backoff_max", out.backoff_max_ms);
      else if (key == "reset_after") duration(kv.second, "restart.reset_after", out.reset_after_ms);
      else fail(kv.first, "restart: unknown field \"" + key + "\" (allowed: policy, backoff, backoff_max, reset_after)");
    }
  }

  void instances(const YAML::Node& n, InstanceRange& out) {
    if (n.IsScalar()) {
      auto r = parse_instance_range(n.Scalar());
      if (!r) fail(n, "instances: " + r.error().message);
      else out = *r;
      return;
    }
    if (!n.IsMap()) {
      fail(n, "instances: expected a count, A:B, or a map with min and max");
      return;
    }
    int64_t mn = out.min, mx = -1;
    for (const auto& kv : n) {
      std::string key = kv.first.Scalar();
      if (key == "min") quantity(kv.second, "instances.min", parse_count, mn);
      else if (key == "max") quantity(kv.second, "instances.max", parse_count, mx);
      else fail(kv.first, "instances: unknown field \"" + key + "\" (allowed: min, max)");
    }
    if (mx < 0) mx = mn;
    out.min = static_cast<uint32_t>(std::min<int64_t>(mn, std::numeric_limits<uint32_t>::max()));
    out.max = static_cast<uint32_t>(std::min<int64_t>(mx, std::numeric_limits<uint32_t>::max()));
  }

  void uid(const YAML::Node& n, const std::string& field, std::optional<uint32_t>& out) {
    int64_t v = 0;
    size_t before = errors.size();
    quantity(n, field, parse_count, v);
    if (errors.size() != before) return;
    if (v > 0xfffffffe) {
      fail(n, field + ": " + std::to_string(v) + " is out of range");
      return;
    }
    out = static_cast<uint32_t>(v);
  }

  ServiceSpec service(const YAML::Node& doc) {
    ServiceSpec spec;
    if (!doc.IsMap()) {
      fail(doc, "a service must be a map of fields (name, command, cpu, memory, ...)");
      return spec;
    }
    bool has_cpu = false, has_memory = false;
    for (const auto& kv : doc) {
      const std::string key = kv.first.Scalar();
      const YAML::Node& v = kv.second;
      if (key == "name") {
        scalar(v, "name", spec.name);
      } else if (key == "command") {
        if (v.IsScalar()) {
          spec.command = {"/bin/sh", "-c", v.Scalar()};
        } else if (v.IsSequence()) {
          for (const auto& arg : v) {
            std::string s;
            if (scalar(arg, "command", s)) spec.command.push_back(s);
          }
        } else {
          fail(v, "command: expected a list of arguments or a shell command string");
        }
      } else if (key == "env") {
        if (!v.IsMap()) {
          fail(v, "env: expected a map of NAME: value");
          continue;
        }
        for (const auto& e : v) {
          std::string val;
          if (scalar(e.second, "env." + e.first.Scalar(), val)) spec.env.emplace_back(e.first.Scalar(), val);
        }
      } else if (key == "workdir") {
        scalar(v, "workdir", spec.workdir);
      } else if (key == "user") {
        scalar(v, "user", spec.user);
      } else if (key == "uid") {
        uid(v, "uid", spec.uid);
      } else if (key == "gid") {
        uid(v, "gid", spec.gid);
      } else if (key == "cpu") {
        range(v, "cpu", parse_cpu_millis, "500m:2:4", spec.envelope.cpu_millis, spec.auto_cpu);
        has_cpu = true;
      } else if (key == "memory") {
        range(v, "memory", parse_memory_bytes, "256Mi:1Gi:2Gi", spec.envelope.memory_bytes, spec.auto_memory);
        has_memory = true;
      } else if (key == "resources") {
        if (!v.IsMap()) {
          fail(v, "resources: expected a map of NAME: count (e.g. gpu: 1)");
          continue;
        }
        for (const auto& r : v) {
          int64_t count = 0;
          size_t before = errors.size();
          quantity(r.second, "resources." + r.first.Scalar(), parse_count, count);
          if (errors.size() == before) spec.resources[r.first.Scalar()] = count;
        }
      } else if (key == "instances") {
        instances(v, spec.instances);
      } else if (key == "priority") {
        std::string s;
        if (!scalar(v, "priority", s)) continue;
        auto p = parse_priority_class(s);
        if (!p) fail(v, "priority: \"" + s + "\" is not a priority class (allowed: system, high, normal, batch)");
        else spec.priority = *p;
      } else if (key == "restart") {
        restart(v, spec.restart);
      } else if (key == "constraints") {
        if (!v.IsSequence()) {
          fail(v, "constraints: expected a list like [\"zone=eu1\", \"rack!=r3\"]");
          continue;
        }
        for (const auto& c : v) {
          std::string s;
          if (!scalar(c, "constraints", s)) continue;
          auto r = parse_constraint(s);
          if (!r) fail(c, "constraints: " + r.error().message);
          else spec.constraints.push_back(*r);
        }
      } else if (key == "on_partition") {
        std::string s;
        if (!scalar(v, "on_partition", s)) continue;
        if (auto p = parse_on_partition(s)) spec.on_partition = *p;
        else fail(v, "on_partition: \"" + s + "\" is not allowed (allowed: stop, keep)");
      } else {
        fail(kv.first, "unknown field \"" + key +
                           "\" (allowed: name, command, env, workdir, user, uid, gid, cpu, memory, resources, "
                           "instances, priority, restart, constraints, on_partition)");
      }
    }
    if (!doc["name"]) fail_field(doc, "name", "name is missing");
    if (!doc["command"]) fail_field(doc, "command", "command is missing");
    if (!has_cpu) fail_field(doc, "cpu", "cpu is missing (an envelope MIN:MAX[:BURST], e.g. 500m:2:4)");
    if (!has_memory) fail_field(doc, "memory", "memory is missing (an envelope MIN:MAX[:BURST], e.g. 256Mi:1Gi:2Gi)");
    return spec;
  }
};

}  // namespace

Result<Range> parse_cpu_range(std::string_view text, LearnedMin* learned) {
  return parse_range(text, parse_cpu_millis, "500m:2:4", learned);
}
Result<Range> parse_memory_range(std::string_view text, LearnedMin* learned) {
  return parse_range(text, parse_memory_bytes, "256Mi:1Gi:2Gi", learned);
}

Result<InstanceRange> parse_instance_range(std::string_view text) {
  auto parts = split(text, ':');
  if (parts.size() > 2) return Error{"\"" + std::string(text) + "\" is not an instance range (use N or MIN:MAX, e.g. 2:5)"};
  std::vector<int64_t> v;
  for (auto p : parts) {
    auto r = parse_count(p);
    if (!r) return Error{"\"" + std::string(text) + "\" is not an instance range (use N or MIN:MAX, e.g. 2:5)"};
    v.push_back(std::min<int64_t>(*r, std::numeric_limits<uint32_t>::max()));
  }
  InstanceRange range;
  range.min = static_cast<uint32_t>(v[0]);
  range.max = static_cast<uint32_t>(v.size() == 2 ? v[1] : v[0]);
  return range;
}

Result<Constraint> parse_constraint(std::string_view text) {
  Constraint c;
  size_t ne = text.find("!=");
  size_t eq = text.find('=');
  std::string_view values;
  if (ne != std::string_view::npos) {
    c.key = std::string(text.substr(0, ne));
    c.op = Constraint::Op::not_in;
    values = text.substr(ne + 2);
  } else if (eq != std::string_view::npos) {
    c.key = std::string(text.substr(0, eq));
    c.op = Constraint::Op::in;
    values = text.substr(eq + 1);
  } else {
    c.key = std::string(text);
    c.op = Constraint::Op::exists;
  }
  if (c.key.empty()) {
    return Error{"\"" + std::string(text) + "\" is not a constraint (use key=value, key=v1|v2, key!=value or key)"};
  }
  if (c.op != Constraint::Op::exists) {
    for (auto v : split(values, '|')) {
      if (v.empty()) return Error{"\"" + std::string(text) + "\" has an empty value"};
      c.values.emplace_back(v);
    }
  }
  return c;
}

Result<std::vector<ServiceSpec>> parse_services_yaml(std::string_view yaml_text, bool admit) {
  if (admit && yaml_text.size() > kMaxSpecBytes) {
    return Error{"the spec is " + std::to_string(yaml_text.size()) + " bytes; the limit is " +
                 std::to_string(kMaxSpecBytes) + " bytes (" + std::to_string(kMaxSpecBytes >> 20) + " MiB)"};
  }
  auto loaded = load_documents(yaml_text);
  if (!loaded) return loaded.error();
  YamlReader reader;
  std::vector<ServiceSpec> specs;
  std::vector<YamlDocument> service_nodes;
  for (const auto& [doc, offset] : *loaded) find_duplicate_keys(doc, "", reader.errors, offset);
  for (const auto& [doc, offset] : *loaded) {
    if (doc.IsNull()) continue;
    reader.line_offset = offset;
    if (doc.IsMap() && doc["services"]) {
      if (doc.size() != 1) reader.fail(doc, "a document with \"services:\" must hold nothing else");
      const YAML::Node list = doc["services"];
      if (!list.IsSequence()) {
        reader.fail(list, "services: expected a list of services");
        continue;
      }
      for (const auto& s : list) service_nodes.push_back({s, offset});
    } else {
      service_nodes.push_back({doc, offset});
    }
  }
  if (service_nodes.empty() && reader.errors.empty()) return Error{"no service in the file"};
  std::set<std::string> names;
  for (const auto& [node, offset] : service_nodes) {
    reader.line_offset = offset;
    reader.failed_roots.clear();
    ServiceSpec spec = reader.service(node);
    auto problems = validate_service_spec(spec);
    if (admit) {
      auto more = admission_errors(spec);
      problems.insert(problems.end(), more.begin(), more.end());
    }
    for (auto& e : problems) {
      std::string root = e.message.substr(0, e.message.find_first_of(" .:"));
      if (reader.failed_roots.count(root)) continue;
      const YAML::Node at = node.IsMap() && node[root] ? node[root] : node;
      reader.fail(at, e.message);
    }
    if (!spec.name.empty() && !names.insert(spec.name).second) {
      reader.fail(node, "name \"" + spec.name + "\" appears twice in the file");
    }
    specs.push_back(std::move(spec));
  }
  if (!reader.errors.empty()) return Error{join_errors(reader.errors)};
  return specs;
}

Result<ServiceSpec> parse_service_cli(const CliServiceArgs& args) {
  std::vector<Error> errors;
  ServiceSpec spec;
  spec.name = args.name;
  spec.command = args.command;
  spec.workdir = args.workdir;
  spec.user = args.user;
  if (auto r = parse_cpu_range(args.cpu, &spec.auto_cpu)) spec.envelope.cpu_millis = *r;
  else errors.push_back({"--cpu: " + r.error().message});
  if (auto r = parse_memory_range(args.memory, &spec.auto_memory)) spec.envelope.memory_bytes = *r;
  else errors.push_back({"--mem: " + r.error().message});
  if (auto r = parse_instance_range(args.instances)) spec.instances = *r;
  else errors.push_back({"--instances: " + r.error().message});
  if (auto p = parse_priority_class(args.priority)) spec.priority = *p;
  else errors.push_back({"--priority: \"" + args.priority + "\" is not a priority class (allowed: system, high, normal, batch)"});
  if (args.restart == "always") spec.restart.kind = RestartKind::always;
  else if (args.restart == "on-failure") spec.restart.kind = RestartKind::on_failure;
  else if (args.restart == "never") spec.restart.kind = RestartKind::never;
  else errors.push_back({"--restart: \"" + args.restart + "\" is not a restart policy (allowed: always, on-failure, never)"});
  if (args.on_partition == "stop") spec.on_partition = OnPartition::stop;
  else if (args.on_partition == "keep") spec.on_partition = OnPartition::keep;
  else if (!args.on_partition.empty()) errors.push_back({"--on-partition: \"" + args.on_partition + "\" is not allowed (allowed: stop, keep)"});
  for (const auto& kv : args.env) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos) errors.push_back({"--env: \"" + kv + "\" is not NAME=VALUE"});
    else spec.env.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
  }
  for (const auto& kv : args.resources) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos) {
      errors.push_back({"--resource: \"" + kv + "\" is not NAME=COUNT"});
      continue;
    }
    auto count = parse_count(kv.substr(eq + 1));
    if (!count) errors.push_back({"--resource " + kv.substr(0, eq) + ": " + count.error().message});
    else spec.resources[kv.substr(0, eq)] = *count;
  }
  for (const auto& c : args.constraints) {
    auto r = parse_constraint(c);
    if (!r) errors.push_back({"--constraint: " + r.error().message});
    else spec.constraints.push_back(*r);
  }
  if (errors.empty()) errors = validate_service_spec(spec);
  if (errors.empty()) errors = admission_errors(spec);
  if (!errors.empty()) return Error{join_errors(errors)};
  return spec;
}

namespace {

// A string as a YAML double-quoted scalar. JSON's string escapes are a subset
// of YAML's double-quoted ones, so every string — quotes, newlines, ": ",
// "null", leading spaces, non-ASCII — reads back as itself.
void quoted(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += "\\x";
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 15]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

// Plain when it cannot read back as anything else (a word or a path: starts
// with a letter, '_' or '/', no YAML indicator, not a boolean or null);
// double-quoted otherwise.
void scalar(std::string& out, std::string_view s) {
  bool plain = !s.empty() && (std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_' || s[0] == '/');
  for (unsigned char c : s) plain = plain && (std::isalnum(c) || c == '_' || c == '.' || c == '/' || c == '-');
  if (plain) {
    std::string lower(s);
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (const char* word : {"true", "false", "yes", "no", "on", "off", "null", "y", "n"}) plain = plain && lower != word;
  }
  if (plain) out += s;
  else quoted(out, s);
}

template <class Range, class F>
void flow_seq(std::string& out, const Range& items, F&& item) {
  out.push_back('[');
  bool first = true;
  for (const auto& v : items) {
    if (!first) out += ", ";
    first = false;
    item(v);
  }
  out.push_back(']');
}

}  // namespace

// Written by hand rather than through YAML::Emitter: the emitter's regex
// scans made formatting the controller's hottest path at scale (a third of
// the simulator's time with 500,000 services). Plain tokens are ours
// (quantities, enums); a user string is plain only when it cannot read back
// as anything else, double-quoted otherwise.
std::string format_service_yaml(const ServiceSpec& spec) {
  std::string o;
  o.reserve(384);
  o += "name: ";
  scalar(o, spec.name);
  o += "\ncommand: ";
  flow_seq(o, spec.command, [&](const std::string& a) { scalar(o, a); });
  if (!spec.env.empty()) {
    o += "\nenv: {";
    bool first = true;
    for (const auto& [k, v] : spec.env) {
      if (!first) o += ", ";
      first = false;
      scalar(o, k);
      o += ": ";
      quoted(o, v);
    }
    o += "}";
  }
  if (!spec.workdir.empty()) {
    o += "\nworkdir: ";
    scalar(o, spec.workdir);
  }
  if (!spec.user.empty()) {
    o += "\nuser: ";
    scalar(o, spec.user);
  }
  if (spec.uid) o += "\nuid: " + std::to_string(*spec.uid);
  if (spec.gid) o += "\ngid: " + std::to_string(*spec.gid);
  const auto& cpu = spec.envelope.cpu_millis;
  const auto& mem = spec.envelope.memory_bytes;
  auto envelope = [&](const char* field, const Range& r, const LearnedMin& l, std::string (*fmt)(int64_t)) {
    o += std::string("\n") + field + ": {min: ";
    if (l.on) {
      o += "auto";
      if (l.floor > 0) o += ", floor: " + fmt(l.floor);
      if (l.ceiling > 0) o += ", ceiling: " + fmt(l.ceiling);
      o += ", learned: " + fmt(r.min);
    } else {
      o += fmt(r.min);
    }
    o += ", max: " + fmt(r.max) + ", burst: " + fmt(r.burst) + "}";
  };
  envelope("cpu", cpu, spec.auto_cpu, format_cpu_millis);
  envelope("memory", mem, spec.auto_memory, format_memory_bytes);
  if (!spec.resources.empty()) {
    o += "\nresources: {";
    bool first = true;
    for (const auto& [k, v] : spec.resources) {
      if (!first) o += ", ";
      first = false;
      scalar(o, k);
      o += ": " + std::to_string(v);
    }
    o += "}";
  }
  o += "\ninstances: {min: " + std::to_string(spec.instances.min) + ", max: " + std::to_string(spec.instances.max) + "}";
  o += "\npriority: " + std::string(to_string(spec.priority));
  o += "\nrestart: {policy: " + std::string(to_string(spec.restart.kind)) +
       ", backoff: " + format_duration_ms(spec.restart.backoff_initial_ms) +
       ", backoff_max: " + format_duration_ms(spec.restart.backoff_max_ms) +
       ", reset_after: " + format_duration_ms(spec.restart.reset_after_ms) + "}";
  if (!spec.constraints.empty()) {
    o += "\nconstraints: ";
    flow_seq(o, spec.constraints, [&](const Constraint& c) { quoted(o, to_string(c)); });
  }
  o += "\non_partition: " + std::string(to_string(spec.effective_on_partition())) + "\n";
  return o;
}


}  // namespace rackos

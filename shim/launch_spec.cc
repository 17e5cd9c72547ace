// JSON forms of the shim's per-process state files (see launch_spec.h).
#include "shim/launch_spec.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace rackos::shim {

using nlohmann::json;

namespace {

json range_json(const Range& r) { return {{"min", r.min}, {"max", r.max}, {"burst", r.burst}}; }
Range range_from(const json& j) { return {j.at("min").get<int64_t>(), j.at("max").get<int64_t>(), j.at("burst").get<int64_t>()}; }

template <class T, class F>
Result<T> parse(const std::string& text, const char* what, F f) {
  try {
    return f(json::parse(text));
  } catch (const std::exception& e) {
    return Error{std::string(what) + ": " + e.what()};
  }
}

}  // namespace

std::string to_json(const LaunchSpec& s) {
  json j{{"argv", s.argv}, {"workdir", s.workdir}, {"cgroup_procs", s.cgroup_procs}, {"oom_file", s.oom_file},
         {"log_max_bytes", s.log_max_bytes}, {"log_keep", s.log_keep}, {"lease_file", s.lease_file},
         {"cgroup_members", s.cgroup_members}, {"freeze_file", s.freeze_file}, {"fence_grace_ms", s.fence_grace_ms}};
  json env = json::array();
  for (const auto& [k, v] : s.env) env.push_back({k, v});
  j["env"] = env;
  if (s.uid) j["uid"] = *s.uid;
  if (s.gid) j["gid"] = *s.gid;
  return j.dump();
}

Result<LaunchSpec> launch_from_json(const std::string& text) {
  return parse<LaunchSpec>(text, "launch.json", [](const json& j) {
    LaunchSpec s;
    s.argv = j.at("argv").get<std::vector<std::string>>();
    for (const auto& kv : j.at("env")) s.env.emplace_back(kv.at(0).get<std::string>(), kv.at(1).get<std::string>());
    s.workdir = j.value("workdir", "");
    if (j.contains("uid")) s.uid = j["uid"].get<uint32_t>();
    if (j.contains("gid")) s.gid = j["gid"].get<uint32_t>();
    s.cgroup_procs = j.value("cgroup_procs", std::vector<std::string>{});
    s.oom_file = j.value("oom_file", "");
    s.log_max_bytes = j.value("log_max_bytes", int64_t{10 << 20});
    s.log_keep = j.value("log_keep", 3);
    s.lease_file = j.value("lease_file", "");
    s.cgroup_members = j.value("cgroup_members", "");
    s.freeze_file = j.value("freeze_file", "");
    s.fence_grace_ms = j.value("fence_grace_ms", int64_t{3000});
    return s;
  });
}

std::string to_json(const ProcessSpec& s) {
  return json{{"id", s.id},
              {"service", s.service},
              {"cpu_millis", range_json(s.envelope.cpu_millis)},
              {"memory_bytes", range_json(s.envelope.memory_bytes)},
              {"priority", std::string(to_string(s.priority))},
              {"on_partition", std::string(to_string(s.on_partition))},
              {"created_ms", s.created_ms},
              {"cgroup", s.cgroup}}
      .dump();
}

Result<ProcessSpec> process_spec_from_json(const std::string& text) {
  return parse<ProcessSpec>(text, "spec.json", [](const json& j) {
    ProcessSpec s;
    s.id = j.at("id").get<std::string>();
    s.service = j.value("service", "");
    s.envelope.cpu_millis = range_from(j.at("cpu_millis"));
    s.envelope.memory_bytes = range_from(j.at("memory_bytes"));
    s.priority = parse_priority_class(j.value("priority", "normal")).value_or(PriorityClass::normal);
    s.on_partition = parse_on_partition(j.value("on_partition", "keep")).value_or(OnPartition::keep);
    s.created_ms = j.value("created_ms", int64_t{0});
    s.cgroup = j.value("cgroup", "");
    return s;
  });
}

std::string to_json(const PidRecord& s) {
  return json{{"pid", s.pid}, {"monitor_pid", s.monitor_pid}, {"start_ticks", s.start_ticks}, {"started_ms", s.started_ms}}
      .dump();
}

Result<PidRecord> pid_from_json(const std::string& text) {
  return parse<PidRecord>(text, "pid.json", [](const json& j) {
    return PidRecord{j.at("pid").get<int>(), j.at("monitor_pid").get<int>(), j.at("start_ticks").get<uint64_t>(),
                     j.at("started_ms").get<int64_t>()};
  });
}

std::string to_json(const ExitRecord& s) {
  return json{{"exit_code", s.exit_code}, {"signal", s.signal}, {"oom_killed", s.oom_killed},
              {"start_error", s.start_error}, {"ended_ms", s.ended_ms}, {"fenced", s.fenced}}
      .dump();
}

Result<ExitRecord> exit_from_json(const std::string& text) {
  return parse<ExitRecord>(text, "exit.json", [](const json& j) {
    return ExitRecord{j.at("exit_code").get<int>(), j.at("signal").get<int>(), j.at("oom_killed").get<bool>(),
                      j.value("start_error", ""), j.at("ended_ms").get<int64_t>(), j.value("fenced", false)};
  });
}

Result<bool> write_atomic(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Error{"cannot create " + tmp + ": " + std::strerror(errno)};
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      return Error{"cannot write " + tmp + ": " + std::strerror(e)};
    }
    off += static_cast<size_t>(n);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Error{"cannot rename " + tmp + ": " + std::strerror(errno)};
  return true;
}

uint64_t process_start_ticks(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return 0;
  // Field 2 (comm) may hold spaces and parentheses: parse after the last ')'.
  size_t close = line.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  if (!(rest >> field) || field == "Z" || field == "X") return 0;  // a zombie is gone: it will not run again
  // Fields from 4 onward; start time is field 22.
  for (int i = 4; i <= 22; ++i) {
    if (!(rest >> field)) return 0;
  }
  return std::strtoull(field.c_str(), nullptr, 10);
}

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace rackos::shim

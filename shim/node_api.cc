// Request handling of the node-local API (see node_api.h).
#include "shim/node_api.h"

#include "shim/freeze.h"

#include <unistd.h>

#include <algorithm>

#include "core/quantity.h"
#include "core/spec_parse.h"
#include "shim/fencing.h"

namespace rackos::shim {

using nlohmann::json;

namespace {

json fail(const std::string& msg) { return {{"ok", false}, {"error", msg}}; }

std::string str(const json& req, const char* key, const std::string& dflt = "") {
  auto it = req.find(key);
  if (it == req.end() || it->is_null()) return dflt;
  if (!it->is_string()) throw std::invalid_argument(std::string(key) + " must be a string");
  return it->get<std::string>();
}

Result<Envelope> envelope_of(const json& req, const Envelope& dflt) {
  Envelope env = dflt;
  if (req.contains("cpu")) {
    auto r = parse_cpu_range(str(req, "cpu"));
    if (!r) return Error{"cpu: " + r.error().message};
    env.cpu_millis = *r;
  }
  if (req.contains("memory")) {
    auto r = parse_memory_range(str(req, "memory"));
    if (!r) return Error{"memory: " + r.error().message};
    env.memory_bytes = *r;
  }
  return env;
}

json alloc_json(const ManagedProcess& p) {
  const Allocation& a = p.allocation;
  return {{"cpu_target_millis", a.cpu_target_millis}, {"cpu_quota_millis", a.cpu_quota_millis},
          {"cpu_burst_millis", a.cpu_burst_millis},   {"cpu_shares", a.cpu_shares},
          {"memory_low_bytes", a.memory_low_bytes},   {"memory_high_bytes", a.memory_high_bytes},
          {"memory_max_bytes", a.memory_max_bytes},   {"squeezed", a.squeezed}};
}

}  // namespace

json process_json(const ManagedProcess& p) {
  const auto& e = p.spec.envelope;
  json j{{"id", p.spec.id},
         {"service", p.spec.service},
         {"state", std::string(to_string(p.state))},
         {"pid", p.pid.pid},
         {"monitor_pid", p.pid.monitor_pid},
         {"started_ms", p.pid.started_ms},
         {"adopted", p.adopted},
         {"frozen", p.state != ProcState::exited && marked_frozen(p.dir + "/frozen")},
         {"priority", std::string(to_string(p.spec.priority))},
         {"on_partition", std::string(to_string(p.spec.on_partition))},
         {"cpu", format_cpu_millis(e.cpu_millis.min) + ":" + format_cpu_millis(e.cpu_millis.max) + ":" +
                     format_cpu_millis(e.cpu_millis.burst)},
         {"memory", format_memory_bytes(e.memory_bytes.min) + ":" + format_memory_bytes(e.memory_bytes.max) + ":" +
                        format_memory_bytes(e.memory_bytes.burst)},
         {"cpu_used_millis", p.cpu_used_millis},
         {"cpu_demand_millis", p.cpu_demand_millis},
         {"memory_bytes", p.memory_bytes},
         {"allocation", alloc_json(p)},
         {"log_dir", p.dir}};
  if (p.exit) {
    j["exit"] = {{"exit_code", p.exit->exit_code}, {"signal", p.exit->signal}, {"oom_killed", p.exit->oom_killed},
                 {"start_error", p.exit->start_error}, {"ended_ms", p.exit->ended_ms},
                 {"stop_requested", p.stop_requested}};
  }
  return j;
}

json handle_request(const json& req, Supervisor& sup, NodeStatus& status, int64_t now_ms) {
  try {
    if (!req.is_object()) return fail("a request must be a JSON object with an \"op\"");
    const std::string op = str(req, "op");
    if (op == "status") {
      size_t running = 0, exited = 0;
      for (const auto& [id, p] : sup.processes()) (p.state == ProcState::exited ? exited : running)++;
      return {{"ok", true},
              {"node", sup.config().node},
              {"pid", ::getpid()},
              {"role", "active"},
              {"version", status.version},
              {"enforcement", status.enforcement},
              {"fenced", status.fenced},
              {"cpu_millis", sup.config().cpu_millis},
              {"memory_bytes", sup.config().memory_bytes},
              {"running", running},
              {"exited", exited},
              {"started_ms", status.started_wall_ms}};
    }
    if (op == "start") {
      StartRequest sr;
      sr.spec.id = str(req, "id");
      sr.spec.service = str(req, "service", sr.spec.id);
      Envelope dflt{{100, 1000, 1000}, {64ll << 20, 256ll << 20, 256ll << 20}};
      auto env = envelope_of(req, dflt);
      if (!env) return fail("process " + sr.spec.id + ": " + env.error().message);
      sr.spec.envelope = *env;
      auto prio = parse_priority_class(str(req, "priority", "normal"));
      if (!prio) return fail("priority: \"" + str(req, "priority") + "\" is not a priority class (allowed: system, high, normal, batch)");
      sr.spec.priority = *prio;
      std::string part = str(req, "on_partition", "keep");
      auto on_partition = parse_on_partition(part);
      if (!on_partition) return fail("on_partition: \"" + part + "\" is not allowed (allowed: stop, keep)");
      sr.spec.on_partition = *on_partition;
      sr.spec.created_ms = wall_ms();
      if (!req.contains("argv") || !req["argv"].is_array()) return fail("argv: expected a list of strings");
      sr.argv = req["argv"].get<std::vector<std::string>>();
      if (req.contains("env")) {
        for (const auto& [k, v] : req["env"].items()) sr.env.emplace_back(k, v.get<std::string>());
      }
      sr.workdir = str(req, "workdir");
      if (req.contains("uid")) sr.uid = req["uid"].get<uint32_t>();
      if (req.contains("gid")) sr.gid = req["gid"].get<uint32_t>();
      if (auto why = refuse_start(status, sup, sr.spec)) return fail(*why);
      auto r = sup.start(sr, now_ms);
      if (!r) return fail(r.error().message);
      return {{"ok", true}, {"id", sr.spec.id}, {"pid", (*r)->pid.pid}};
    }
    if (op == "stop") {
      auto r = sup.stop(str(req, "id"), req.value("grace_ms", int64_t{5000}), now_ms);
      if (!r) return fail(r.error().message);
      return {{"ok", true}};
    }
    if (op == "update") {
      auto it = sup.processes().find(str(req, "id"));
      if (it == sup.processes().end()) return fail("no process \"" + str(req, "id") + "\" on node " + sup.config().node);
      auto env = envelope_of(req, it->second.spec.envelope);
      if (!env) return fail("process " + it->first + ": " + env.error().message);
      auto prio = parse_priority_class(str(req, "priority", std::string(to_string(it->second.spec.priority))));
      if (!prio) return fail("priority: \"" + str(req, "priority") + "\" is not a priority class");
      auto r = sup.update(it->first, *env, *prio);
      if (!r) return fail(r.error().message);
      return {{"ok", true}};
    }
    if (op == "list") {
      json list = json::array();
      for (const auto& [id, p] : sup.processes()) list.push_back(process_json(p));
      return {{"ok", true}, {"processes", list}};
    }
    if (op == "forget") {
      auto r = sup.forget(str(req, "id"));
      if (!r) return fail(r.error().message);
      return {{"ok", true}};
    }
    if (op == "events") {
      uint64_t since = req.value("since", uint64_t{0});
      json list = json::array();
      for (const auto& e : sup.events()) {
        if (e.seq > since) {
          list.push_back({{"seq", e.seq}, {"time_ms", e.time_ms}, {"kind", std::string(to_string(e.kind))}, {"id", e.id}, {"message", e.message}});
        }
      }
      return {{"ok", true}, {"events", list}};
    }
    if (op == "ack") {
      // The lease counts from when the acknowledged heartbeat was sent (the
      // shim's own clock, echoed back), so the shim fences no later than the
      // controller, counting from receipt, declares the node dead.
      on_ack(status, sup, req.value("sent_ms", now_ms), now_ms);
      return {{"ok", true}, {"fenced", status.fenced}};
    }
    if (op == "handover") {
      status.handover_requested = true;
      return {{"ok", true}, {"pid", ::getpid()}};
    }
    if (op.empty()) return fail("a request needs an \"op\"");
    return fail("unknown op \"" + op + "\" (allowed: status, start, stop, update, list, forget, events, ack, handover)");
  } catch (const std::exception& e) {
    return fail(std::string("bad request: ") + e.what());
  }
}

}  // namespace rackos::shim

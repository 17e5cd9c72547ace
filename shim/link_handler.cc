// The shim's side of the controller protocol (see link_handler.h).
#include "shim/link_handler.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <optional>

#include "proto/convert.h"
#include "shim/cgroup_files.h"
#include "shim/fencing.h"
#include "rackos_version.h"

namespace rackos::shim {

namespace {

v1::ProcessState wire_state(ProcState s) {
  switch (s) {
    case ProcState::running: return v1::RUNNING;
    case ProcState::stopping: return v1::STOPPING;
    case ProcState::exited: return v1::EXITED;
  }
  return v1::PROCESS_STATE_UNSPECIFIED;
}

void fill_exit(const ManagedProcess& p, v1::ExitStatus* out) {
  if (!p.exit) return;
  out->set_exit_code(p.exit->exit_code);
  out->set_signal(p.exit->signal);
  out->set_oom_killed(p.exit->oom_killed);
  out->set_start_error(p.exit->start_error);
  out->set_ended_ms(p.exit->ended_ms);
  out->set_stop_requested(p.stop_requested);
  out->set_fenced(p.exit->fenced);
}

v1::ShimMessage event(const std::string& id, NodeEventKind kind, const std::string& message) {
  v1::ShimMessage m;
  m.mutable_event()->set_id(id);
  m.mutable_event()->set_kind(std::string(to_string(kind)));
  m.mutable_event()->set_message(message);
  return m;
}

}  // namespace

v1::ProcessInfo process_info(const ManagedProcess& p) {
  v1::ProcessInfo i;
  i.set_id(p.spec.id);
  i.set_service(p.spec.service);
  i.set_state(wire_state(p.state));
  i.set_pid(p.pid.pid);
  *i.mutable_envelope() = to_proto(p.spec.envelope);
  auto* a = i.mutable_allocation();
  a->set_cpu_target_millis(p.allocation.cpu_target_millis);
  a->set_cpu_quota_millis(p.allocation.cpu_quota_millis);
  a->set_cpu_burst_millis(p.allocation.cpu_burst_millis);
  a->set_cpu_shares(p.allocation.cpu_shares);
  a->set_memory_low_bytes(p.allocation.memory_low_bytes);
  a->set_memory_high_bytes(p.allocation.memory_high_bytes);
  a->set_memory_max_bytes(p.allocation.memory_max_bytes);
  i.mutable_usage()->set_cpu_used_millis(p.cpu_used_millis);
  i.mutable_usage()->set_cpu_demand_millis(p.cpu_demand_millis);
  i.mutable_usage()->set_memory_bytes(p.memory_bytes);
  fill_exit(p, i.mutable_exit());
  return i;
}

v1::ShimMessage make_register(const NodeIdentity& id, const Supervisor& sup, const NodeStatus& status) {
  v1::ShimMessage m;
  auto* r = m.mutable_register_();
  r->set_wire_version(RACKOS_WIRE_VERSION);
  r->set_node(id.node);
  r->set_token(id.token);
  r->set_cpu_millis(id.cpu_millis);
  r->set_memory_bytes(id.memory_bytes);
  for (const auto& [k, v] : id.labels) (*r->mutable_labels())[k] = v;
  r->set_enforcement(status.enforcement);
  for (const auto& [pid, p] : sup.processes()) {
    *r->add_running() = process_info(p);
    if (p.state != ProcState::exited) {
      if (auto l = launch_of(p)) *r->add_launches() = std::move(*l);
    }
  }
  r->set_cluster_id(status.cluster_id);
  r->set_store_revision(status.store_revision);
  return m;
}

std::optional<v1::StartProcess> launch_of(const ManagedProcess& p) {
  auto text = read_file(p.dir + "/launch.json");
  if (!text) return std::nullopt;
  auto l = launch_from_json(*text);
  if (!l) return std::nullopt;
  v1::StartProcess s;
  s.set_id(p.spec.id);
  s.set_service(p.spec.service);
  for (const auto& a : l->argv) s.add_argv(a);
  for (const auto& [k, v] : l->env) (*s.mutable_env())[k] = v;
  s.set_workdir(l->workdir);
  if (l->uid) s.set_uid(*l->uid);
  if (l->gid) s.set_gid(*l->gid);
  *s.mutable_envelope() = to_proto(p.spec.envelope);
  s.set_priority(std::string(to_string(p.spec.priority)));
  s.set_on_partition(std::string(to_string(p.spec.on_partition)));
  return s;
}

v1::ShimMessage make_heartbeat(const Supervisor& sup, const NodeStatus& status, uint64_t seq, int64_t sent_ms,
                               bool with_processes) {
  v1::ShimMessage m;
  auto* hb = m.mutable_heartbeat();
  hb->set_seq(seq);
  hb->set_sent_ms(sent_ms);
  hb->set_fenced(status.fenced);
  if (with_processes) {
    // Live ones only: exits were reported as events, and the exited records a
    // node keeps for logs would make every full heartbeat large.
    for (const auto& [id, p] : sup.processes()) {
      if (p.state != ProcState::exited) *hb->add_processes() = process_info(p);
    }
  }
  return m;
}

v1::ShimMessage event_message(const ShimEvent& e, const Supervisor& sup) {
  v1::ShimMessage m = event(e.id, e.kind, e.message);
  auto it = sup.processes().find(e.id);
  if (it != sup.processes().end()) {
    if (e.kind == NodeEventKind::exited) fill_exit(it->second, m.mutable_event()->mutable_exit());
    if (e.kind == NodeEventKind::started) m.mutable_event()->set_pid(it->second.pid.pid);
  }
  return m;
}

std::vector<v1::ShimMessage> handle_controller_message(const v1::ControllerMessage& m, Supervisor& sup,
                                                       NodeStatus& status, int64_t now_ms, bool& power_off) {
  std::vector<v1::ShimMessage> out;
  if (m.has_ack()) {
    on_ack(status, sup, m.ack().sent_ms(), now_ms);
    if (m.ack().store_revision() > status.store_revision) {
      status.store_revision = m.ack().store_revision();
      status.identity_dirty = true;
    }
  } else if (m.has_registered()) {
    const auto& reg = m.registered();
    if (!reg.cluster_id().empty() && (reg.cluster_id() != status.cluster_id || reg.store_revision() != status.store_revision)) {
      status.cluster_id = reg.cluster_id();
      status.store_revision = reg.store_revision();
      status.identity_dirty = true;
    }
    // Stale copies of processes that run elsewhere now: at most one copy, so at once.
    for (const auto& id : reg.stop()) {
      if (auto r = sup.stop(id, 0, now_ms); !r) out.push_back(event(id, NodeEventKind::warning, r.error().message));
    }
    for (const auto& id : reg.forget()) sup.forget_when_exited(id);
    // Being registered is acknowledged, counting from when the Register was
    // sent — after the stale copies above were killed, never before (a thaw
    // must not let one run). A lead that moves quickly between controllers
    // then never leaves the node without a lease while it re-registers.
    if (status.register_sent_ms >= 0) on_ack(status, sup, status.register_sent_ms, now_ms);
  } else if (m.has_upgrade()) {
    const std::string& bin = m.upgrade().binary();
    if (::access(bin.c_str(), X_OK) != 0) {
      out.push_back(event("", NodeEventKind::warning, "upgrade: " + bin + " is not an executable file on node " + sup.config().node +
                                                          "; nothing changed"));
    } else {
      status.handover_requested = true;
      status.reexec_binary = bin;
    }
  } else if (m.has_start()) {
    const auto& s = m.start();
    if (auto it = sup.processes().find(s.id()); it != sup.processes().end()) {
      // Sent again (the controller restarted): say how it is instead of starting it twice.
      if (it->second.state == ProcState::exited) {
        out.push_back(event_message({0, 0, NodeEventKind::exited, s.id(), "exited before"}, sup));
      } else {
        auto e = event(s.id(), NodeEventKind::started, "already running");
        e.mutable_event()->set_pid(it->second.pid.pid);
        out.push_back(e);
      }
      return out;
    }
    StartRequest sr;
    sr.spec.id = s.id();
    sr.spec.service = s.service();
    sr.spec.envelope = from_proto(s.envelope());
    sr.spec.priority = parse_priority_class(s.priority()).value_or(PriorityClass::normal);
    sr.spec.on_partition = parse_on_partition(s.on_partition()).value_or(OnPartition::keep);
    sr.spec.created_ms = wall_ms();
    sr.argv.assign(s.argv().begin(), s.argv().end());
    for (const auto& [k, v] : s.env()) sr.env.emplace_back(k, v);
    std::sort(sr.env.begin(), sr.env.end());
    sr.workdir = s.workdir();
    if (s.has_uid()) sr.uid = s.uid();
    sr.user = s.user();
    if (s.has_gid()) sr.gid = s.gid();
    if (auto why = refuse_start(status, sup, sr.spec)) {
      out.push_back(event(s.id(), NodeEventKind::start_failed, *why));
      return out;
    }
    // Asynchronous: "started" (with the pid) or "start_failed" follows as an event.
    if (auto r = sup.start(sr, now_ms, /*wait=*/false); !r) out.push_back(event(s.id(), NodeEventKind::start_failed, r.error().message));
  } else if (m.has_stop()) {
    auto it = sup.processes().find(m.stop().id());
    if (it == sup.processes().end()) {
      // Never got here (or forgotten): it is stopped as far as this node knows.
      auto e = event(m.stop().id(), NodeEventKind::exited, "not on node " + sup.config().node);
      e.mutable_event()->mutable_exit()->set_stop_requested(true);
      out.push_back(e);
    } else if (auto r = sup.stop(m.stop().id(), m.stop().grace_ms(), now_ms); !r) {
      out.push_back(event(m.stop().id(), NodeEventKind::warning, r.error().message));
    } else if (m.stop().forget()) {
      sup.forget_when_exited(m.stop().id());
    }
  } else if (m.has_update()) {
    auto prio = parse_priority_class(m.update().priority()).value_or(PriorityClass::normal);
    if (auto r = sup.update(m.update().id(), from_proto(m.update().envelope()), prio); !r) {
      out.push_back(event(m.update().id(), NodeEventKind::warning, "update: " + r.error().message));
    }
  } else if (m.has_read_log()) {
    const auto& rl = m.read_log();
    v1::ShimMessage reply;
    auto* d = reply.mutable_log_data();
    d->set_request(rl.request());
    auto it = sup.processes().find(rl.id());
    if (it == sup.processes().end()) {
      d->set_error("no process " + rl.id() + " on node " + sup.config().node);
    } else {
      const std::string path = it->second.dir + (rl.stderr() ? "/stderr.log" : "/stdout.log");
      int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      struct stat st {};
      if (fd < 0 || ::fstat(fd, &st) != 0) {
        d->set_next_offset(rl.offset());  // no output yet
      } else {
        const uint64_t size = static_cast<uint64_t>(st.st_size);
        const uint64_t max = std::min<uint64_t>(rl.max_bytes() ? rl.max_bytes() : 65536, 1 << 20);
        uint64_t off = rl.tail() ? (size > max ? size - max : 0) : std::min(rl.offset(), size);
        std::string buf(std::min(max, size - off), '\0');
        ssize_t n = buf.empty() ? 0 : ::pread(fd, buf.data(), buf.size(), static_cast<off_t>(off));
        buf.resize(n > 0 ? static_cast<size_t>(n) : 0);
        d->set_data(buf);
        d->set_next_offset(off + buf.size());
      }
      if (fd >= 0) ::close(fd);
    }
    out.push_back(std::move(reply));
  } else if (m.has_power_off()) {
    power_off = true;
  }
  return out;
}

}  // namespace rackos::shim

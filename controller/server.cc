// The controller daemon: loop, gRPC services and HTTP (see server.h).
#include "controller/server.h"

#include <absl/synchronization/mutex.h>
#include <grpcpp/grpcpp.h>
#include <httplib.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "auth/grpc_tls.h"
#include "auth/client_config.h"
#include "auth/pki.h"
#include "auth/private_file.h"
#include "controller/etcd_store.h"
#include "controller/leader_election.h"
#include "controller/node_stream.h"
#include "core/leader_lease.h"
#include "rackos/v1/cluster.grpc.pb.h"
#include "rackos/v1/node.grpc.pb.h"

namespace rackos::controller {
namespace {

using grpc::ServerContext;
using grpc::Status;
using grpc::StatusCode;

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One line on stderr, with the wall-clock time (ms) so that two controllers' logs line up.
void say(const std::string& msg) {
  const int64_t now = wall_ms();
  const time_t secs = static_cast<time_t>(now / 1000);
  tm t{};
  ::localtime_r(&secs, &t);
  std::fprintf(stderr, "%02d:%02d:%02d.%03d rackos controller [%d]: %s\n", t.tm_hour, t.tm_min, t.tm_sec,
               static_cast<int>(now % 1000), static_cast<int>(::getpid()), msg.c_str());
  std::fflush(stderr);
}

// The single writer loop. Each turn takes what was posted and works it off
// in three phases:
//   1. node work (shim messages, disconnects) and the clock: settled and
//      committed as one transaction; if the store fails, those facts stay
//      pending and are retried next turn, and only acknowledgements and log
//      reads go out meanwhile (they promise nothing durable), so a full disk
//      does not fence every node.
//   2. client writes: refused at once while the store is failing (nothing
//      changed); otherwise run, settled and committed as one transaction. If
//      that commit fails, the controller is reset to what the store holds
//      (the writes undone, their orders never sent) and every node is asked
//      to register again, so nothing it reported meanwhile is lost.
//   3. reads: answered from the state as committed, whatever the store does.
// If the store cannot even be reloaded after a failed commit (etcd
// unreachable), the loop acts on nothing — node messages dropped, clients
// refused with the store's error — and retries the reload every 200 ms; the
// nodes register again once it works.
class Loop {
 public:
  enum class Kind { node, read, write };
  using Done = std::function<void(const Status& commit)>;
  struct Task {
    Kind kind = Kind::node;
    std::function<void(int64_t now)> fn;
    std::function<void(const Status&)> reject;  // writes refused without running
  };

  Loop(ClusterController& ctl, int64_t tick_ms) : ctl_(ctl), tick_ms_(tick_ms) {}

  void post(std::function<void(int64_t now)> fn) { push(Task{Kind::node, std::move(fn), nullptr}); }

  // Runs `fn` on the loop and waits for its answer; a write is answered only
  // once its commit is durable (or with the commit's error).
  Status run(std::function<Status(int64_t now)> fn, Kind kind) {
    auto promise = std::make_shared<std::promise<Status>>();
    auto fut = promise->get_future();
    Task t;
    t.kind = kind;
    t.fn = [this, fn = std::move(fn), promise, kind](int64_t now) {
      Status st = fn(now);
      if (kind == Kind::read) {
        promise->set_value(st);
        return;
      }
      done_.push_back([promise, st](const Status& commit) { promise->set_value(commit.ok() ? st : commit); });
    };
    t.reject = [promise](const Status& why) { promise->set_value(why); };
    push(std::move(t));
    if (fut.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
      return Status(StatusCode::UNAVAILABLE, "the controller is shutting down or stuck");
    }
    return fut.get();
  }

  void set_deliver(std::function<void(std::vector<Outgoing>)> d) { deliver_ = std::move(d); }
  void set_log_router(std::function<void(std::vector<v1::LogData>)> r) { route_logs_ = std::move(r); }
  void set_after_turn(std::function<void()> f) { after_turn_ = std::move(f); }
  // Runs first in every turn, before anything is acted on (the leader lease).
  void set_before_turn(std::function<void(int64_t now)> f) { before_turn_ = std::move(f); }
  // Cleared while this loop acts on nothing (its store is lost) and once it
  // stops: node streams then acknowledge nothing on their own.
  void set_acking(std::atomic<bool>* a) { acking_ = a; }

  void loop() {
    auto next_tick = std::chrono::steady_clock::now();
    int64_t last_error_ms = 0;
    std::string last_error;
    while (true) {
      std::vector<Task> batch;
      {
        std::unique_lock lock(mu_);
        cv_.wait_until(lock, next_tick, [&] { return !tasks_.empty() || stop_; });
        if (stop_ && tasks_.empty()) break;
        batch.swap(tasks_);
      }
      const int64_t now = wall_ms();
      if (before_turn_) before_turn_(now);
      // 0. The store could not be reloaded after a failed commit (etcd
      //    unreachable): the in-memory state is not the cluster's, so nothing
      //    is acted on — node messages are dropped (shims register again once
      //    it is back), clients are refused — and the reload is retried.
      if (lost_store_) {
        if (now - last_reload_ms_ >= 200) {
          last_reload_ms_ = now;
          if (auto r = ctl_.reset_to_store(now); r) {
            lost_store_ = false;
            if (acking_) acking_->store(true);
            store_error_.clear();
            say("store reachable again: reloaded (" + std::to_string(*r) + " processes); nodes register again");
          } else {
            store_error_ = r.error().message;
          }
          hold(ctl_.take_outbox());  // only the closes that make every node register again
          release(true);
        }
        if (lost_store_) {
          for (auto& t : batch) {
            if (t.reject) t.reject(Status(StatusCode::UNAVAILABLE, "store unavailable: " + store_error_ +
                                                                    "; the controller acts again once it can reload it"));
          }
          next_tick = std::chrono::steady_clock::now() + std::chrono::milliseconds(tick_ms_);
          continue;
        }
      }
      // 1. Node work and time.
      for (auto& t : batch) {
        if (t.kind == Kind::node) t.fn(now);
      }
      if (std::chrono::steady_clock::now() >= next_tick) {
        ctl_.tick(now);
        next_tick = std::chrono::steady_clock::now() + std::chrono::milliseconds(tick_ms_);
      }
      ctl_.settle(now);
      auto c = ctl_.commit();
      if (!c && c.error().code == ErrorCode::conflict) {
        // Someone else wrote the store (a second controller, or this one is a
        // stale leader): retrying cannot work. What it holds is the truth.
        say("store: " + c.error().message + "; reloading it and dropping this turn's changes");
        ctl_.take_outbox();
        if (auto r = ctl_.reset_to_store(now); !r) {
          lost_store_ = true;
          if (acking_) acking_->store(false);
          last_reload_ms_ = now;
          store_error_ = r.error().message;
        } else {
          c = ctl_.commit();
        }
      }
      hold(ctl_.take_outbox());
      if (c) {
        store_error_.clear();
        release(true);
      } else {
        store_error_ = c.error().message;
        release(false);
        if (now - last_error_ms > 1000 || last_error != store_error_) {
          say("store commit failed (retrying; client changes refused, nodes hear only acknowledgements until it "
              "works): " + store_error_);
          last_error_ms = now;
          last_error = store_error_;
        }
      }
      // 2. Client writes.
      bool wrote = false;
      for (auto& t : batch) {
        if (t.kind != Kind::write) continue;
        if (!store_error_.empty()) {
          t.reject(Status(StatusCode::UNAVAILABLE, "store: " + store_error_ + "; nothing was changed"));
          continue;
        }
        t.fn(now);
        wrote = true;
      }
      if (wrote) {
        ctl_.settle(now);
        auto w = ctl_.commit();
        Status st = Status::OK;
        if (w) {
          hold(ctl_.take_outbox());
          release(true);
        } else {
          st = Status(StatusCode::UNAVAILABLE, "store: " + w.error().message + "; nothing was changed");
          say("store commit failed: " + w.error().message + "; undoing this batch's client changes (reloading the store)");
          ctl_.take_outbox();  // orders for changes that did not commit never leave
          if (auto r = ctl_.reset_to_store(now); !r) {
            say("cannot reload the store after a failed commit: " + r.error().message +
                "; acting on nothing until it can (retried every 200 ms)");
            lost_store_ = true;
            if (acking_) acking_->store(false);
            last_reload_ms_ = now;
            store_error_ = r.error().message;
          }
          hold(ctl_.take_outbox());
          release(true);
        }
        for (auto& d : std::exchange(done_, {})) d(st);
      }
      if (route_logs_) route_logs_(ctl_.take_log_data());
      // 3. Reads.
      for (auto& t : batch) {
        if (t.kind == Kind::read) t.fn(now);
      }
      if (after_turn_) after_turn_();
    }
    if (acking_) acking_->store(false);
    for (auto& d : std::exchange(done_, {})) d(Status(StatusCode::UNAVAILABLE, "the controller is shutting down"));
  }

  void stop() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_one();
  }

 private:
  std::function<void(int64_t)> before_turn_;
  std::atomic<bool>* acking_ = nullptr;
  bool lost_store_ = false;   // reload failed: act on nothing until it works
  int64_t last_reload_ms_ = 0;

  void push(Task t) {
    {
      std::lock_guard lock(mu_);
      if (stop_) {
        if (t.reject) t.reject(Status(StatusCode::UNAVAILABLE, "the controller is shutting down"));
        return;
      }
      tasks_.push_back(std::move(t));
    }
    cv_.notify_one();
  }
  void hold(std::vector<Outgoing> out) {
    held_.insert(held_.end(), std::make_move_iterator(out.begin()), std::make_move_iterator(out.end()));
  }
  // Sends what is held: everything once committed; otherwise only what
  // promises nothing durable (acknowledgements, log reads).
  void release(bool committed) {
    if (held_.empty() || !deliver_) return;
    if (committed) {
      deliver_(std::exchange(held_, {}));
      return;
    }
    std::vector<Outgoing> now, later;
    for (auto& o : held_) (o.msg.has_ack() || o.msg.has_read_log() ? now : later).push_back(std::move(o));
    held_ = std::move(later);
    if (!now.empty()) deliver_(std::move(now));
  }

  ClusterController& ctl_;
  int64_t tick_ms_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Task> tasks_;
  bool stop_ = false;
  std::string store_error_;  // the last commit's error; empty while the store works
  std::vector<Done> done_;
  std::vector<Outgoing> held_;
  std::function<void(std::vector<Outgoing>)> deliver_;
  std::function<void(std::vector<v1::LogData>)> route_logs_;
  std::function<void()> after_turn_;
};

// Says on stderr what an operator must act on (a refused node, an empty or
// foreign store, adoption), once per subject and message every 30 s.
class LoudEvents {
 public:
  explicit LoudEvents(EventLog& log) : log_(log) {}
  void operator()() {
    for (const auto& e : log_.since(seq_)) {
      seq_ = e.seq;
      static const std::set<std::string> loud = {"shim-refused", "store-empty", "store-reset", "node-adopted",
                                                 "service-adopted"};
      if (!loud.count(e.kind)) continue;
      auto& last = said_[e.subject + "\n" + e.message];
      if (last != 0 && e.time_ms - last < 30'000) continue;
      last = e.time_ms;
      say((e.kind == "shim-refused" ? "ERROR: refused " : e.kind + ": ") + e.subject + ": " + e.message);
    }
  }

 private:
  EventLog& log_;
  uint64_t seq_ = 0;
  std::map<std::string, int64_t> said_;
};

// The status follows the error's kind (never its wording).
Status failed(const Error& e) {
  switch (e.code) {
    case ErrorCode::not_found: return Status(StatusCode::NOT_FOUND, e.message);
    case ErrorCode::unavailable: return Status(StatusCode::UNAVAILABLE, e.message);
    case ErrorCode::conflict:
    case ErrorCode::invalid: break;
  }
  return Status(StatusCode::FAILED_PRECONDITION, e.message);
}

class Services final : public v1::NodeService::CallbackService, public v1::ClusterService::Service {
  std::function<Status(const v1::HandoverRequest&, v1::HandoverResponse*)> handover_;

 public:
  Services(ClusterController& ctl, Loop& loop, EventLog& events, const ServerConfig& cfg)
      : ctl_(ctl), loop_(loop), events_(events), cfg_(cfg) {
    loop_.set_deliver([this](std::vector<Outgoing> out) { deliver(std::move(out)); });
    loop_.set_log_router([this](std::vector<v1::LogData> data) { route_logs(std::move(data)); });
    streams_.post = [this](ConnId conn, std::shared_ptr<const v1::ShimMessage> m, bool acked) {
      loop_.post([this, conn, m = std::move(m), acked](int64_t now) { ctl_.on_shim_message(conn, *m, now, acked); });
    };
    streams_.gone = [this](ConnId conn) {
      {
        std::lock_guard lock(conns_mu_);
        conns_.erase(conn);
      }
      loop_.post([this, conn](int64_t now) { ctl_.on_disconnect(conn, now); });
    };
    streams_.refused = [this](const std::string& subject, const std::string& line) {
      events_.add(wall_ms(), "shim-refused", subject, line);
    };
    streams_.messages_per_second = kNodeMessagesPerSecond;
    streams_.burst = kNodeBurst;
    ctl_.set_conn_binder([this](ConnId conn, NodeBeats::Slot* slot) {
      std::lock_guard lock(conns_mu_);
      if (auto it = conns_.find(conn); it != conns_.end()) it->second->bind(slot);
    });
    refresh_users();
  }

  // What every node stream shares: whether acknowledgements may go out
  // without the loop, the revision they carry, the leader's lease.
  NodeStreamShared& streams() { return streams_; }

  // ---- who may do what
  // The users as the loop last saw them (run on the loop, after each turn):
  // RPC threads check certificates against this copy without a loop trip.
  void refresh_users() {
    if (ctl_.auth().version() == users_version_) return;
    users_version_ = ctl_.auth().version();
    std::lock_guard lock(users_mu_);
    users_ = ctl_.auth().users();
  }

  // The caller may call `method`: its role allows it, a user's certificate
  // was not revoked, and it stays under its rate. `who` is set either way.
  Status admit(grpc::ServerContextBase* ctx, std::string_view method, auth::Peer& who) {
    if (cfg_.insecure) {
      who.role = auth::Role::admin;
      who.name = "anyone (--insecure-no-tls)";
      return Status::OK;
    }
    who = auth::peer_of(*ctx);
    return authorize(who, method);
  }

  // `who` (from its certificate, or the socket) may call `method`.
  Status authorize(const auth::Peer& who, std::string_view method) {
    const auth::Role need = auth::needed_for(method);
    if (!auth::allows(who.role, need)) {
      return Status(StatusCode::PERMISSION_DENIED, auth::refusal(method, need, who.name, who.role));
    }
    if (!who.unix_socket && who.role != auth::Role::node && who.role != auth::Role::none) {
      std::lock_guard lock(users_mu_);
      auto it = users_.find(who.name);
      bool valid = it != users_.end() && it->second.role == auth::role_name(who.role);
      if (valid) valid = std::find(it->second.serials.begin(), it->second.serials.end(), who.serial) != it->second.serials.end();
      if (!valid) {
        return Status(StatusCode::PERMISSION_DENIED, "permission denied: the certificate of user " + who.name +
                                                         " was revoked (the user was removed, or given a new certificate "
                                                         "after the oldest 100)");
      }
    }
    if (!who.unix_socket && !rate_ok(who.name + "/" + std::string(auth::role_name(who.role)))) {
      return Status(StatusCode::RESOURCE_EXHAUSTED, std::string(method) + ": " + who.name + " sent more than " +
                                                        std::to_string(kCallsPerSecond) +
                                                        " calls a second (burst " + std::to_string(kCallBurst) + "); slow down");
    }
    return Status::OK;
  }

  // ---- joining and credentials
  Status GetCA(ServerContext* ctx, const v1::GetCARequest*, v1::GetCAResponse* resp) override {
    auth::Peer who;
    if (Status denied = admit(ctx, "GetCA", who); !denied.ok()) return denied;
    if (cfg_.insecure) return Status(StatusCode::FAILED_PRECONDITION, "this controller runs with --insecure-no-tls: there is no CA");
    resp->set_ca_pem(ca_pem_);
    return Status::OK;
  }
  Status JoinNode(ServerContext* ctx, const v1::JoinNodeRequest* req, v1::JoinNodeResponse* resp) override {
    auth::Peer who;
    if (Status denied = admit(ctx, "JoinNode", who); !denied.ok()) return denied;
    // Guessing secrets is slow: every attempt from one address counts against one budget.
    if (!rate_ok("join " + ctx->peer().substr(0, ctx->peer().rfind(':')))) {
      return Status(StatusCode::RESOURCE_EXHAUSTED, "JoinNode: too many attempts from " + ctx->peer() + "; slow down");
    }
    return loop_.run([&](int64_t now) {
      auto cert = ctl_.auth().join(req->token(), req->node(), req->csr_pem(), now, cfg_.node_cert_ttl_s);
      if (!cert) {
        events_.add(now, "shim-refused", req->node().substr(0, 63), cert.error().message + " (from " + ctx->peer() + ")");
        return Status(StatusCode::PERMISSION_DENIED, cert.error().message);
      }
      events_.add(now, "node-certified", req->node(), "joined with a token from " + ctx->peer());
      resp->set_cert_pem(*cert);
      resp->set_ca_pem(ca_pem_);
      return Status::OK;
    }, Loop::Kind::write);
  }
  Status RenewNodeCert(ServerContext* ctx, const v1::JoinNodeRequest* req, v1::JoinNodeResponse* resp) override {
    auth::Peer who;
    if (Status denied = admit(ctx, "RenewNodeCert", who); !denied.ok()) return denied;
    if (req->node() != who.name) {
      return Status(StatusCode::PERMISSION_DENIED, "permission denied: node " + who.name + "'s certificate cannot renew node " + req->node() + "'s");
    }
    return loop_.run([&](int64_t) {
      auto cert = ctl_.auth().renew_node(who.name, req->csr_pem(), cfg_.node_cert_ttl_s);
      if (!cert) return Status(StatusCode::INVALID_ARGUMENT, cert.error().message);
      resp->set_cert_pem(*cert);
      resp->set_ca_pem(ca_pem_);
      return Status::OK;
    }, Loop::Kind::read);
  }
  Status WhoAmI(ServerContext* ctx, const v1::WhoAmIRequest*, v1::WhoAmIResponse* resp) override {
    auth::Peer who;
    if (Status denied = admit(ctx, "WhoAmI", who); !denied.ok()) return denied;
    resp->set_name(who.name.empty() ? "(no client certificate)" : who.name);
    resp->set_role(std::string(auth::role_name(who.role)));
    return Status::OK;
  }
  Status CreateToken(ServerContext* ctx, const v1::CreateTokenRequest* req, v1::CreateTokenResponse* resp) override {
    auth::Peer who;
    if (Status denied = admit(ctx, "CreateToken", who); !denied.ok()) return denied;
    return loop_.run([&](int64_t now) {
      auto t = ctl_.auth().create_token(req->ttl_ms(), req->description(), now);
      if (!t) return Status(StatusCode::INVALID_ARGUMENT, t.error().message);
      resp->set_token(t->token);
      resp->set_id(t->id);
      resp->set_expires_ms(t->expires_ms);
      events_.add(now, "token-created", t->id, "by " + who.name);
      return Status::OK;
    }, Loop::Kind::write);
  }
  Status ListTokens(ServerContext* ctx, const v1::ListTokensRequest*, v1::ListTokensResponse* resp) override {
    auth::Peer who;
    if (Status denied = admit(ctx, "ListTokens", who); !denied.ok()) return denied;
    return loop_.run([&](int64_t) {
      for (const auto& [id, t] : ctl_.auth().tokens()) {
        auto* ti = resp->add_tokens();
        ti->set_id(id);
        ti->set_description(t.description);
        ti->set_created_ms(t.created_ms);
        ti->set_expires_ms(t.expires_ms);
        ti->set_joins(t.joins);
      }
      return Status::OK;
    }, Loop::Kind::read);
  }
  Status RevokeToken(ServerContext* ctx, const v1::RevokeTokenRequest* req, v1::RevokeTokenResponse*) override {
    auth::Peer who;
    if (Status denied = admit(ctx, "RevokeToken", who); !denied.ok()) return denied;
    return loop_.run([&](int64_t now) {
      auto r = ctl_.auth().revoke_token(req->id());
      if (!r) return failed(r.error());
      events_.add(now, "token-revoked", req->id(), "by " + who.name);
      return Status::OK;
    }, Loop::Kind::write);
  }
  Status AddUser(ServerContext* ctx, const v1::AddUserRequest* req, v1::AddUserResponse* resp) override {
    auth::Peer who;
    if (Status denied = admit(ctx, "AddUser", who); !denied.ok()) return denied;
    auto role = auth::parse_role(req->role());
    if (!role) return Status(StatusCode::INVALID_ARGUMENT, "--role " + req->role() + ": expected admin, operator or view");
    return loop_.run([&](int64_t now) {
      const int64_t ttl_s = req->ttl_ms() > 0 ? req->ttl_ms() / 1000 : 365LL * 86400;
      auto c = ctl_.auth().add_user(req->name(), *role, req->csr_pem(), ttl_s, now);
      if (!c) return failed(c.error());
      resp->set_cert_pem(c->cert_pem);
      resp->set_ca_pem(ca_pem_);
      resp->set_serial(c->serial);
      events_.add(now, "user-added", req->name(), req->role() + ", certificate " + c->serial + ", by " + who.name);
      return Status::OK;
    }, Loop::Kind::write);
  }
  Status ListUsers(ServerContext* ctx, const v1::ListUsersRequest*, v1::ListUsersResponse* resp) override {
    auth::Peer who;
    if (Status denied = admit(ctx, "ListUsers", who); !denied.ok()) return denied;
    return loop_.run([&](int64_t) {
      for (const auto& [name, u] : ctl_.auth().users()) {
        auto* ui = resp->add_users();
        ui->set_name(name);
        ui->set_role(u.role);
        ui->set_created_ms(u.created_ms);
        ui->set_certificates(static_cast<uint32_t>(u.serials.size()));
      }
      return Status::OK;
    }, Loop::Kind::read);
  }
  Status RemoveUser(ServerContext* ctx, const v1::RemoveUserRequest* req, v1::RemoveUserResponse*) override {
    auth::Peer who;
    if (Status denied = admit(ctx, "RemoveUser", who); !denied.ok()) return denied;
    return loop_.run([&](int64_t now) {
      auto r = ctl_.auth().remove_user(req->name());
      if (!r) return failed(r.error());
      events_.add(now, "user-removed", req->name(), "every certificate revoked, by " + who.name);
      return Status::OK;
    }, Loop::Kind::write);
  }
  void set_ca(std::string pem) { ca_pem_ = std::move(pem); }

  // ---- NodeService
  grpc::ServerBidiReactor<v1::ShimMessage, v1::ControllerMessage>* Connect(grpc::CallbackServerContext* ctx) override {
    auth::Peer who;
    if (Status denied = admit(ctx, "Connect", who); !denied.ok()) {
      events_.add(wall_ms(), "shim-refused", ctx->peer(), denied.error_message());
      return NodeStream::refuse(denied);
    }
    const ConnId conn = next_conn_.fetch_add(1);
    auto stream = NodeStream::open(ctx, streams_, conn, who.name, !cfg_.insecure);
    {
      std::lock_guard lock(conns_mu_);
      conns_[conn] = stream;
    }
    stream->begin();
    return stream.get();
  }

  // ---- ClusterService
  Status Apply(ServerContext* ctx, const v1::ApplyRequest* req, v1::ApplyResponse* resp) override  {
    auth::Peer who;
    if (Status denied = admit(ctx, "Apply", who); !denied.ok()) return denied;
    return loop_.run([&](int64_t now) {
      *resp = ctl_.apply(req->yaml(), now,
                         auth::allows(who.role, auth::Role::admin)
                             ? std::string()
                             : auth::refusal("running as root (user: root, uid: 0 or gid: 0)", auth::Role::admin, who.name, who.role));
      return Status::OK;
    }, Loop::Kind::write);
  }
  Status Stop(ServerContext* ctx, const v1::StopRequest* req, v1::StopResponse* resp) override  {
    auth::Peer who;
    if (Status denied = admit(ctx, "Stop", who); !denied.ok()) return denied;
    return loop_.run([&](int64_t now) {
      auto r = ctl_.stop_service(req->service(), now);
      if (!r) return failed(r.error());
      resp->set_stopping(*r);
      return Status::OK;
    }, Loop::Kind::write);
  }
  Status Scale(ServerContext* ctx, const v1::ScaleRequest* req, v1::ScaleResponse*) override  {
    auth::Peer who;
    if (Status denied = admit(ctx, "Scale", who); !denied.ok()) return denied;
    return loop_.run([&](int64_t now) {
      auto r = ctl_.scale(req->service(), req->min(), req->max(), now);
      return r ? Status::OK : failed(r.error());
    }, Loop::Kind::write);
  }
  Status ListServices(ServerContext* ctx, const v1::ListRequest* req, v1::ListServicesResponse* resp) override  {
    auth::Peer who;
    if (Status denied = admit(ctx, "ListServices", who); !denied.ok()) return denied;
    return loop_.run([&](int64_t) {
      *resp = ctl_.list_services(*req);
      return Status::OK;
    }, Loop::Kind::read);
  }
  Status ListProcesses(ServerContext* ctx, const v1::ListRequest* req, v1::ListProcessesResponse* resp) override  {
    auth::Peer who;
    if (Status denied = admit(ctx, "ListProcesses", who); !denied.ok()) return denied;
    return loop_.run([&](int64_t) {
      *resp = ctl_.list_processes(*req);
      return Status::OK;
    }, Loop::Kind::read);
  }
  Status ListNodes(ServerContext* ctx, const v1::ListRequest* req, v1::ListNodesResponse* resp) override  {
    auth::Peer who;
    if (Status denied = admit(ctx, "ListNodes", who); !denied.ok()) return denied;
    return loop_.run([&](int64_t) {
      *resp = ctl_.list_nodes(*req);
      return Status::OK;
    }, Loop::Kind::read);
  }
  Status Explain(ServerContext* ctx, const v1::ExplainRequest* req, v1::ExplainResponse* resp) override  {
    auth::Peer who;
    if (Status denied = admit(ctx, "Explain", who); !denied.ok()) return denied;
    return loop_.run([&](int64_t now) {
      auto r = ctl_.explain(req->service(), now);
      if (!r) return failed(r.error());
      *resp = std::move(r).value();
      return Status::OK;
    }, Loop::Kind::read);
  }
  Status Drain(ServerContext* ctx, const v1::DrainRequest* req, v1::DrainResponse* resp) override  {
    auth::Peer who;
    if (Status denied = admit(ctx, "Drain", who); !denied.ok()) return denied;
    return loop_.run([&](int64_t now) {
      auto r = ctl_.drain(req->node(), req->undo(), now);
      if (!r) return failed(r.error());
      resp->set_moving(*r);
      return Status::OK;
    }, Loop::Kind::write);
  }
  // Sends `out` now, from outside the loop (the loop has stopped: a handover),
  // and waits up to `ms` for the streams to have written it.
  void send_now(std::vector<Outgoing> out, int ms) {
    deliver(std::move(out));
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (std::chrono::steady_clock::now() < end) {
      bool empty = true;
      {
        std::lock_guard lock(conns_mu_);
        for (auto& [conn, s] : conns_) empty = empty && s->idle();
      }
      if (empty) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  // Closes every shim stream now (a handover: they reconnect to the new active
  // at once instead of talking to one that no longer acts).
  void drop_nodes() {
    std::vector<std::shared_ptr<NodeStream>> all;
    {
      std::lock_guard lock(conns_mu_);
      for (auto& [conn, s] : conns_) all.push_back(s);
    }
    for (auto& s : all) s->cancel();  // outside the lock: a stream may end (and unlist itself) at once
  }

  using HandoverFn = std::function<Status(const v1::HandoverRequest&, v1::HandoverResponse*)>;
  void set_handover(HandoverFn f) { handover_ = std::move(f); }
  Status Handover(ServerContext* ctx, const v1::HandoverRequest* req, v1::HandoverResponse* resp) override  {
    auth::Peer who;
    if (Status denied = admit(ctx, "Handover", who); !denied.ok()) return denied;
    if (!handover_) {
      return Status(StatusCode::FAILED_PRECONDITION,
                    "this controller is alone on SQLite: there is no standby to hand over to (run a pair on etcd: "
                    "rackos controller --store etcd://...)");
    }
    return handover_(*req, resp);
  }
  Status UpgradeNode(ServerContext* ctx, const v1::UpgradeNodeRequest* req, v1::UpgradeNodeResponse* resp) override  {
    auth::Peer who;
    if (Status denied = admit(ctx, "UpgradeNode", who); !denied.ok()) return denied;
    return loop_.run([&](int64_t now) {
      auto r = ctl_.upgrade_node(req->node(), req->binary(), now);
      if (!r) return failed(r.error());
      resp->set_incarnation(*r);
      return Status::OK;
    }, Loop::Kind::write);
  }
  Status KillNode(ServerContext* ctx, const v1::DrainRequest* req, v1::DrainResponse* resp) override  {
    auth::Peer who;
    if (Status denied = admit(ctx, "KillNode", who); !denied.ok()) return denied;
    return loop_.run([&](int64_t now) {
      auto r = ctl_.kill_node(req->node(), now);
      if (!r) return failed(r.error());
      resp->set_moving(*r);
      return Status::OK;
    }, Loop::Kind::write);
  }

  Status Logs(ServerContext* ctx, const v1::LogsRequest* req, grpc::ServerWriter<v1::LogChunk>* w) override  {
    auth::Peer who;
    if (Status denied = admit(ctx, "Logs", who); !denied.ok()) return denied;
    std::vector<ClusterController::LogSource> sources;
    Status st = loop_.run([&](int64_t) {
      auto r = ctl_.log_sources(req->service(), req->process());
      if (!r) return failed(r.error());
      sources = *r;
      return Status::OK;
    }, Loop::Kind::read);
    if (!st.ok()) return st;
    if (sources.empty()) {
      return Status(StatusCode::FAILED_PRECONDITION,
                    "no logs to read: none of its processes has run on a node that is connected now");
    }
    std::vector<uint64_t> offsets(sources.size(), 0);
    bool first = true;
    while (!ctx->IsCancelled()) {
      bool any = false;
      for (size_t i = 0; i < sources.size(); ++i) {
        for (int chunk = 0; chunk < 64; ++chunk) {  // at most 4 MiB a round per process
          v1::ReadLog rl;
          rl.set_id(sources[i].launch);
          rl.set_stderr(req->stderr());
          rl.set_max_bytes(64 << 10);
          rl.set_tail(first);
          rl.set_offset(offsets[i]);
          auto data = read_log(sources[i].conn, rl);
          if (!data || !data->error().empty()) break;
          offsets[i] = data->next_offset();
          if (data->data().empty()) break;
          v1::LogChunk c;
          c.set_process(sources[i].process);
          c.set_data(data->data());
          if (!w->Write(c)) return Status::OK;
          any = true;
          if (first) break;
        }
      }
      first = false;
      if (!req->follow()) break;
      if (!any) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return Status::OK;
  }

  Status Watch(ServerContext* ctx, const v1::WatchRequest* req, grpc::ServerWriter<v1::ClusterEvent>* w) override  {
    auth::Peer who;
    if (Status denied = admit(ctx, "Watch", who); !denied.ok()) return denied;
    uint64_t since = req->since();
    while (!ctx->IsCancelled()) {
      for (const auto& e : events_.since(since, std::chrono::milliseconds(500))) {
        v1::ClusterEvent ce;
        ce.set_seq(e.seq);
        ce.set_time_ms(e.time_ms);
        ce.set_kind(e.kind);
        ce.set_subject(e.subject);
        ce.set_message(e.message);
        if (!w->Write(ce)) return Status::OK;
        since = e.seq;
      }
    }
    return Status::OK;
  }

 private:
  void deliver(std::vector<Outgoing> out) {
    std::vector<std::shared_ptr<NodeStream>> touched;
    {
      std::lock_guard lock(conns_mu_);
      for (auto& o : out) {
        auto it = conns_.find(o.conn);
        if (it == conns_.end()) continue;  // the stream is gone; the node re-registers
        it->second->queue(std::move(o.msg), o.close);
        if (touched.empty() || touched.back() != it->second) touched.push_back(it->second);
      }
    }
    // Written outside the lock: a write may complete (and its stream end) at once.
    std::sort(touched.begin(), touched.end());
    touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
    for (auto& s : touched) s->kick();
  }

  std::optional<v1::LogData> read_log(ConnId conn, v1::ReadLog rl) {
    auto promise = std::make_shared<std::promise<v1::LogData>>();
    auto fut = promise->get_future();
    const uint64_t id = next_log_.fetch_add(1);
    rl.set_request(id);
    {
      std::lock_guard lock(log_mu_);
      log_waiters_[id] = promise;
    }
    loop_.post([this, conn, rl](int64_t) { ctl_.send_read_log(conn, rl); });
    std::optional<v1::LogData> out;
    if (fut.wait_for(std::chrono::seconds(3)) == std::future_status::ready) out = fut.get();
    std::lock_guard lock(log_mu_);
    log_waiters_.erase(id);
    return out;
  }

  void route_logs(std::vector<v1::LogData> data) {
    if (data.empty()) return;
    std::lock_guard lock(log_mu_);
    for (auto& d : data) {
      auto it = log_waiters_.find(d.request());
      if (it == log_waiters_.end()) continue;
      it->second->set_value(std::move(d));
      log_waiters_.erase(it);
    }
  }

  // A token bucket per caller (a user, a node, a joining address).
  static constexpr int kNodeMessagesPerSecond = 5000;  // a node starting 500 processes sends ~1,500
  static constexpr int kNodeBurst = 50000;
  static constexpr int kCallsPerSecond = 500;
  static constexpr int kCallBurst = 2000;
  bool rate_ok(const std::string& key) {
    const double now = std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
    std::lock_guard lock(rate_mu_);
    if (buckets_.size() > 10000) buckets_.clear();  // many callers: forget them all rather than grow
    auto [it, fresh] = buckets_.try_emplace(key, Bucket{kCallBurst, now});
    Bucket& b = it->second;
    b.tokens = std::min<double>(kCallBurst, b.tokens + (now - b.at) * kCallsPerSecond);
    b.at = now;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
  struct Bucket {
    double tokens;
    double at;
  };

  ClusterController& ctl_;
  Loop& loop_;
  EventLog& events_;
  const ServerConfig& cfg_;
  std::string ca_pem_;
  std::mutex users_mu_;
  std::map<std::string, schema::UserRow> users_;
  uint64_t users_version_ = 0;
  std::mutex rate_mu_;
  std::map<std::string, Bucket> buckets_;
  std::atomic<ConnId> next_conn_{1};
  std::mutex conns_mu_;
  std::map<ConnId, std::shared_ptr<NodeStream>> conns_;
  NodeStreamShared streams_;
  std::atomic<uint64_t> next_log_{1};
  std::mutex log_mu_;
  std::map<uint64_t, std::shared_ptr<std::promise<v1::LogData>>> log_waiters_;
};

bool split_host_port(const std::string& addr, std::string& host, int& port) {
  auto colon = addr.rfind(':');
  if (colon == std::string::npos) return false;
  host = addr.substr(0, colon);
  try {
    port = std::stoi(addr.substr(colon + 1));
  } catch (...) {
    return false;
  }
  return port >= 0 && port < 65536;
}

// This process's own clock for the leader lease (never steps back).
int64_t steady_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path + ".tmp") << text << "\n";
  std::filesystem::rename(path + ".tmp", path);
}

}  // namespace

int run_controller(const ServerConfig& cfg) {
  // gRPC's locks are absl's, whose deadlock detector (on in Debian's build)
  // walks a lock graph on every acquisition: a tenth of the node streams' CPU.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  std::error_code ec;
  std::filesystem::create_directories(cfg.data_dir, ec);
  if (ec) {
    say("cannot create data dir " + cfg.data_dir + ": " + ec.message());
    return 1;
  }
  ::chmod(cfg.data_dir.c_str(), 0700);  // the store (with the CA's key), admin.conf, the admin socket
  // Signals are taken by sigwait below; every thread inherits the mask.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  {
    sigset_t all = sigs;
    sigaddset(&all, SIGUSR1);  // raised by a handover for the main thread; no other thread may take it
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
  }
  ::signal(SIGPIPE, SIG_IGN);

  Result<std::unique_ptr<Store>> store = Error{"no store"};
  if (cfg.store.empty()) {
    store = open_sqlite_store(cfg.data_dir + "/state.db", cfg.durable);
  } else {
    auto opts = parse_etcd_url(cfg.store);
    if (!opts) {
      say(opts.error().message);
      return 1;
    }
    // etcd may still be starting (or briefly unreachable): wait for it, as a
    // standby would, rather than exit.
    bool said = false;
    while (!(store = open_etcd_store(*opts))) {
      if (store.error().code != ErrorCode::unavailable) break;
      if (!said) say("waiting for the store: " + store.error().message);
      said = true;
      timespec wait{0, 200'000'000};
      if (int sig = ::sigtimedwait(&sigs, nullptr, &wait); sig == SIGTERM || sig == SIGINT) return 0;
    }
  }
  if (!store) {
    say(store.error().message);
    return 1;
  }
  ControllerConfig ctl_cfg = cfg.controller;
  const std::string pki_dir = cfg.data_dir + "/pki";
  if (!cfg.insecure) {
    // The data dir keeps a copy of the CA (the store is the truth; this copy
    // restores it into an emptied store, so nodes can still connect).
    std::ifstream c(pki_dir + "/ca.crt"), k(pki_dir + "/ca.key");
    std::stringstream cs, ks;
    cs << c.rdbuf();
    ks << k.rdbuf();
    ctl_cfg.fallback_ca = {cs.str(), ks.str()};
  }
  // Prepared before leading (as a standby, this is where time goes by): the
  // server certificate from the data dir's copy of the CA and the local
  // admin's config as it was left, so that a takeover does not wait for
  // either (both are checked against the store's CA once it is loaded).
  auto issue_server_cert = [](const auth::CertAuthority& ca) {
    // Its names: controller.rackos (what clients verify), and loopback for
    // curl and Prometheus on this machine.
    return auth::issue(ca, {auth::kControllerName, "rackos:controller", {auth::kControllerName, "localhost", "IP:127.0.0.1"},
                            true, 365LL * 86400});
  };
  std::optional<auth::KeyAndCert> prepared_tls;
  const std::string admin_conf = cfg.data_dir + "/admin.conf";
  std::optional<auth::ClientConfig> old_admin;
  std::optional<auth::CertInfo> old_admin_cert;
  if (!cfg.insecure) {
    if (!ctl_cfg.fallback_ca.cert_pem.empty()) {
      if (auto sc = issue_server_cert(ctl_cfg.fallback_ca)) prepared_tls = *sc;
    }
    if (auto old = auth::read_client_config(admin_conf)) {
      old_admin = *old;
      if (auto i = auth::read_cert(old->identity.cert_pem)) old_admin_cert = *i;
    }
  }
  // On etcd, controllers form an active/standby pair: this one leads only
  // once it holds the leader record; until then it waits as a standby (not
  // listening: shims and clients given every controller's address go to the
  // one that answers).
  std::unique_ptr<LeaderElection> election;
  const LeaderLeaseConfig lease{cfg.leader_lease_ms, 100, std::min<int64_t>(150, cfg.leader_lease_ms / 4)};
  std::atomic<int64_t> last_renew_sent{0};
  if (!cfg.store.empty()) {
    auto opts = *parse_etcd_url(cfg.store);
    opts.timeout_ms = std::max<int64_t>(50, lease.renew_every_ms);
    char host[256] = "?";
    ::gethostname(host, sizeof host - 1);
    election = std::make_unique<LeaderElection>(opts, std::string(host) + ":" + std::to_string(::getpid()), cfg.listen);
    LeaderWatch watch;
    bool said = false;
    while (true) {
      if (auto rec = election->read(); rec) {
        observe_leader(watch, rec->revision, steady_now_ms());
        if (!said && rec->revision != 0 && rec->handover_to.empty()) {
          say("standby: " + rec->id + " leads (term " + std::to_string(rec->term) + ", " + rec->address +
              "); taking over if it stops renewing for " + std::to_string(lease.lease_ms) + " ms");
          said = true;
        }
        // A planned handover to this one (or to any): the active has stopped
        // acting already, so there is no lease to wait out.
        const bool handed = rec->revision != 0 && handed_to(*rec, election->id(), cfg.listen);
        if (handed || may_take_over(watch, steady_now_ms(), lease)) {
          const int64_t sent = steady_now_ms();  // the lease counts from the send, not the answer
          auto won = election->campaign(watch.seen_revision);
          if (won && *won) {
            last_renew_sent = sent;
            say("leading (term " + std::to_string(election->term()) + ")" +
                (handed ? ": handed over by " + rec->id
                        : watch.seen_revision == 0 ? ""
                                                   : " after " + std::to_string(steady_now_ms() - watch.since_ms) +
                                                         " ms without a renewal"));
            break;
          }
        }
      }
      // Often: a planned handover is picked up within this (the record is one small read).
      timespec wait{0, 10'000'000};
      if (int sig = ::sigtimedwait(&sigs, nullptr, &wait); sig == SIGTERM || sig == SIGINT) {
        say("signal " + std::to_string(sig) + " while standby: stopping");
        return 0;
      }
    }
  }
  EventLog events;
  ClusterController ctl(ctl_cfg, store->get(), &events);
  const int64_t t0 = wall_ms();
  // Loading a large cluster can take longer than the leader lease: the lead
  // is renewed meanwhile (nothing is acted on until the loop runs, which
  // renews from then on).
  std::mutex loading_mu;
  std::condition_variable loading_cv;
  bool loading = true;
  std::atomic<bool> lost_while_loading{false};
  std::thread load_renewer;
  if (election) {
    load_renewer = std::thread([&] {
      while (true) {
        {
          std::unique_lock lock(loading_mu);
          // Woken at once when the load ends (a takeover must not wait out a renewal period).
          if (loading_cv.wait_for(lock, std::chrono::milliseconds(lease.renew_every_ms), [&] { return !loading; })) break;
        }
        const int64_t sent = steady_now_ms();
        auto r = election->renew();
        if (r && *r) last_renew_sent = sent;
        else if (r) lost_while_loading = true;
      }
    });
  }
  auto loaded = ctl.load(t0);
  {
    std::lock_guard lock(loading_mu);
    loading = false;
  }
  loading_cv.notify_all();
  if (load_renewer.joinable()) load_renewer.join();
  if (lost_while_loading) {
    say("FATAL: another controller took the lead while this one loaded the store: stopping");
    return 3;
  }
  if (!loaded) {
    say("cannot load the cluster from " + (*store)->name() + ": " + loaded.error().message);
    return 1;
  }
  say("store " + (*store)->name() + " (cluster " + ctl.cluster_id() + "): " + std::to_string(*loaded) + " processes loaded in " +
      std::to_string(wall_ms() - t0) + " ms");
  // Who may do what: the cluster CA (made on the first start and committed
  // before anything is served, so a crash cannot leave nodes holding
  // certificates of a CA the store never kept), this controller's server
  // certificate (fresh each start), the local admin's client certificate.
  auth::KeyAndCert server_tls, admin_tls;
  if (!cfg.insecure) {
    if (ctl.auth().dirty()) {
      if (auto c = ctl.commit(); !c) {
        say("cannot store the new cluster CA in " + (*store)->name() + ": " + c.error().message);
        return 1;
      }
      say("created the cluster CA (SHA-256 " + ctl.auth().ca_fingerprint() + ")");
    }
    if (ctl.auth().ca().cert_pem != ctl_cfg.fallback_ca.cert_pem || ctl.auth().ca().key_pem != ctl_cfg.fallback_ca.key_pem) {
      std::filesystem::create_directories(pki_dir, ec);
      ::chmod(pki_dir.c_str(), 0700);
      if (!auth::write_private_file(pki_dir + "/ca.crt", ctl.auth().ca().cert_pem) || !auth::write_private_file(pki_dir + "/ca.key", ctl.auth().ca().key_pem)) {
        say("WARNING: cannot keep a copy of the cluster CA in " + pki_dir);
      }
    }
    if (prepared_tls && ctl.auth().ca().cert_pem == ctl_cfg.fallback_ca.cert_pem) {
      server_tls = *prepared_tls;
    } else {
      auto sc = issue_server_cert(ctl.auth().ca());
      if (!sc) {
        say("cannot make the controller's certificate: " + sc.error().message);
        return 1;
      }
      server_tls = *sc;
    }
    // The local admin's config is kept while it still works (same CA, user
    // not removed, a month of life left); otherwise a new certificate.
    const auto& old = old_admin;
    const auto& info = old_admin_cert;
    const bool keep = old && info && old->identity.ca_pem == ctl.auth().ca().cert_pem &&
                      ctl.auth().user_valid("admin", auth::Role::admin, info->serial) &&
                      info->not_after_s > ::time(nullptr) + 30LL * 86400;
    if (keep) {
      admin_tls = {old->identity.key_pem, old->identity.cert_pem};
    } else {
      auto key = auth::make_key();
      auto csr = key ? auth::make_csr(*key, "admin") : Result<std::string>(key.error());
      auto cert = csr ? ctl.auth().add_user("admin", auth::Role::admin, *csr, 365LL * 86400, wall_ms())
                      : Result<IssuedCert>(csr.error());
      if (!cert) {
        say("cannot make the local admin's certificate: " + cert.error().message);
        return 1;
      }
      if (auto c = ctl.commit(); !c) {
        say("cannot store the local admin user: " + c.error().message);
        return 1;
      }
      admin_tls = {*key, cert->cert_pem};
    }
  } else {
    say("WARNING: --insecure-no-tls: plaintext gRPC and every caller is an admin; for benchmarks on loopback only");
  }
  Loop loop(ctl, cfg.tick_ms);
  Services services(ctl, loop, events, cfg);
  services.set_ca(ctl.auth().ca().cert_pem);
  loop.set_after_turn([loud = LoudEvents(events), &services, &ctl]() mutable {
    loud();
    services.refresh_users();
    services.streams().revision.store(ctl.store_revision());
  });
  loop.set_acking(&services.streams().acking);
  if (election) {
    // Renewed from the loop itself: a stalled loop stops renewing, and on
    // waking finds it may no longer act before it touches anything.
    int64_t last_try = 0;
    loop.set_before_turn([&, last_try](int64_t) mutable {
      const int64_t now = steady_now_ms();
      if (!leader_may_act(last_renew_sent, now, lease)) {
        say("FATAL: no renewal of the lead for " + std::to_string(now - last_renew_sent) +
            " ms: a standby may lead now; stopping before acting (a supervisor restarts this one as a standby)");
        std::_Exit(3);
      }
      if (now - last_try < lease.renew_every_ms) return;
      last_try = now;
      auto r = election->renew();
      if (r && *r) {
        last_renew_sent = now;
      } else if (r) {
        auto rec = election->read();
        say("FATAL: another controller took the lead" +
            (rec ? " (" + (rec->id.empty() ? std::string("record gone") : rec->id + ", term " + std::to_string(rec->term)) +
                       ", revision " + std::to_string(rec->revision) + ")"
                 : std::string()) +
            ": stopping (a supervisor restarts this one as a standby)");
        std::_Exit(3);
      }
    });
  }
  if (election) {
    // Acknowledgements taken on stream threads stop with the lead, as the loop's do.
    services.streams().leader_ok = [&] { return leader_may_act(last_renew_sent.load(), steady_now_ms(), lease); };
  }
  std::thread loop_thread([&] { loop.loop(); });
  // A planned handover (rackos handover): stop acting — every turn commits
  // before it ends, so nothing is left unwritten — mark the record handed
  // over, answer, then stop serving and wait again as a standby.
  std::mutex handover_mu;
  bool handed_over = false;
  std::string reexec_binary;
  if (election) {
    services.set_handover([&](const v1::HandoverRequest& req, v1::HandoverResponse* resp) -> Status {
      std::lock_guard lock(handover_mu);
      if (handed_over) return Status(StatusCode::FAILED_PRECONDITION, "this controller has handed over already");
      if (!req.binary().empty() && ::access(req.binary().c_str(), X_OK) != 0) {
        return Status(StatusCode::INVALID_ARGUMENT, "--binary " + req.binary() + " is not an executable file here");
      }
      const int64_t began = steady_now_ms();
      loop.stop();
      loop_thread.join();
      const std::string to = req.to().empty() ? "*" : req.to();
      auto r = election->hand_over(to);
      if (r && *r) {
        // The loop is stopped: this thread alone touches the controller now.
        ctl.ack_all_for_handover();
        services.send_now(ctl.take_outbox(), 50);
      }
      services.drop_nodes();
      handed_over = true;
      reexec_binary = req.binary();
      Status answer = Status::OK;
      if (!r) {
        answer = Status(StatusCode::UNAVAILABLE, "stopped, but the leader record could not be marked: " + r.error().message +
                                                     "; a standby takes over after the lease");
      } else if (!*r) {
        answer = Status(StatusCode::ABORTED, "another controller took the lead meanwhile; this one has stopped");
      } else {
        resp->set_from(election->id());
        resp->set_to(to);
        resp->set_term(election->term());
        resp->set_stopped_ms(steady_now_ms() - began);
        say("handed over to " + (to == "*" ? std::string("any standby") : to) + " (term " + std::to_string(election->term()) +
            ") in " + std::to_string(resp->stopped_ms()) + " ms; becoming a standby");
      }
      ::kill(::getpid(), SIGUSR1);  // the main thread stops serving and becomes a standby
      return answer;
    });
  }

  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(cfg.listen,
                           cfg.insecure ? grpc::InsecureServerCredentials()
                                        : auth::server_credentials(ctl.auth().ca().cert_pem, server_tls.cert_pem, server_tls.key_pem),
                           &port);
  // Local admin access: a Unix socket only root can open (0600 in the 0700 data dir), as containerd and Docker guard theirs.
  const std::string socket_path = cfg.data_dir + "/rackos.sock";
  std::filesystem::remove(socket_path, ec);
  int socket_port = 0;
  if (socket_path.size() < 100) builder.AddListeningPort("unix:" + socket_path, grpc::InsecureServerCredentials(), &socket_port);
  builder.RegisterService(static_cast<v1::NodeService::Service*>(&services));
  builder.RegisterService(static_cast<v1::ClusterService::Service*>(&services));
  // Bad input from the network: no request may be larger than this (a file
  // of 10,000 services is ~2 MiB; a Register of a node with 10,000 processes ~5 MiB).
  builder.SetMaxReceiveMessageSize(16 << 20);
  // No bandwidth-delay probing: every heartbeat would otherwise draw a PING
  // and its ACK on an idle connection (node streams carry small messages).
  builder.AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  builder.SetMaxSendMessageSize(64 << 20);
  // Every shim stream holds a thread; leave room for them and for clients.
  grpc::ResourceQuota quota("rackos-controller");
  quota.SetMaxThreads(4096);
  builder.SetResourceQuota(quota);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    say("cannot listen on " + cfg.listen + " (in use, or not an address)");
    loop.stop();
    loop_thread.join();
    return 1;
  }
  std::string host;
  int ignored = 0;
  split_host_port(cfg.listen, host, ignored);
  const std::string addr = host + ":" + std::to_string(port);
  if (socket_port != 0) ::chmod(socket_path.c_str(), 0600);
  if (!cfg.insecure) {
    auth::ClientConfig cc{addr, "admin", "admin", {ctl.auth().ca().cert_pem, admin_tls.cert_pem, admin_tls.key_pem}};
    if (auto w = auth::write_client_config(admin_conf, cc); !w) say("WARNING: " + w.error().message);
    // The same as PEM files for curl: curl --cacert pki/ca.crt --cert pki/admin.pem https://HTTPS_ADDR/state
    if (!auth::write_private_file(pki_dir + "/admin.pem", admin_tls.key_pem + admin_tls.cert_pem)) say("WARNING: cannot write " + pki_dir + "/admin.pem");
    if (const std::string t = ctl.auth().bootstrap_token(); !t.empty()) {
      if (auto w = auth::write_private_file(cfg.data_dir + "/join-token", t + "\n"); !w) say("WARNING: cannot write " + cfg.data_dir + "/join-token");
    }
  }
  write_file(cfg.data_dir + "/controller.addr", addr);

  // HTTP: /metrics plain on loopback (Prometheus on the same host); the
  // cluster's state only over HTTPS with a client certificate (view role),
  // unless TLS is off altogether.
  auto text = [&](std::function<std::string()> f) {
    std::string body;
    loop.run([&](int64_t) {
      body = f();
      return Status::OK;
    }, Loop::Kind::read);
    return body;
  };
  auto routes = [&](httplib::Server& srv, bool state, const std::function<bool(const httplib::Request&, httplib::Response&)>& allow) {
    srv.Get("/metrics", [&, allow](const httplib::Request& req, httplib::Response& res) {
      if (!allow(req, res)) return;
      res.set_content(text([&] { return ctl.metrics_text(); }), "text/plain; version=0.0.4");
    });
    if (state) {
      srv.Get("/state", [&, allow](const httplib::Request& req, httplib::Response& res) {
        if (!allow(req, res)) return;
        res.set_content(text([&] { return ctl.state_json(); }), "application/json");
      });
    } else {
      srv.Get("/state", [](const httplib::Request&, httplib::Response& res) {
        res.status = 403;
        res.set_content("/state is served over HTTPS to a client certificate (see https.addr in the controller's data dir)\n",
                        "text/plain");
      });
    }
    srv.Get("/", [state](const httplib::Request&, httplib::Response& res) {
      res.set_content(std::string("rackos controller\n  /metrics  Prometheus metrics\n") +
                          (state ? "  /state    the cluster as JSON\n" : "  /state    over HTTPS only\n"),
                      "text/plain");
    });
    // Bad input from the network: a client that connects and sends nothing
    // holds a worker only for the read timeout (not 5 s), workers are many
    // enough that a handful of idle connections cannot starve /metrics, and
    // a method other than GET is answered 405 at once — before any body is
    // read (a POST without Content-Length used to wait for one until the
    // client gave up).
    srv.set_read_timeout(1, 0);
    srv.set_write_timeout(2, 0);
    srv.set_keep_alive_timeout(1);
    srv.set_keep_alive_max_count(100);
    srv.new_task_queue = [] { return new httplib::ThreadPool(32); };
    srv.set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
      if (req.method == "GET" || req.method == "HEAD") return httplib::Server::HandlerResponse::Unhandled;
      res.status = 405;
      res.set_header("Allow", "GET, HEAD");
      res.set_header("Connection", "close");
      res.set_content(req.method + " " + req.path + ": method not allowed (this endpoint is read-only: GET)\n", "text/plain");
      return httplib::Server::HandlerResponse::Handled;
    });
  };
  // Binds `srv` to `listen` (port 0: any); the address it got, or empty.
  auto bind = [&](httplib::Server& srv, const std::string& listen, const char* what) -> std::string {
    std::string h;
    int p = 0;
    if (!split_host_port(listen, h, p)) {
      say(std::string(what) + " " + listen + ": expected HOST:PORT");
      return "";
    }
    if (p == 0) {
      p = srv.bind_to_any_port(h);
    } else if (!srv.bind_to_port(h, p)) {
      p = -1;
    }
    if (p <= 0) {
      say(std::string("cannot listen for ") + what + " on " + listen + " (in use?)");
      return "";
    }
    return h + ":" + std::to_string(p);
  };
  auto fail_start = [&] {
    server->Shutdown();
    loop.stop();
    loop_thread.join();
    return 1;
  };
  httplib::Server http;
  std::thread http_thread;
  if (!cfg.http_listen.empty()) {
    routes(http, cfg.insecure, [](const httplib::Request&, httplib::Response&) { return true; });
    const std::string at = bind(http, cfg.http_listen, "HTTP");
    if (at.empty()) return fail_start();
    write_file(cfg.data_dir + "/http.addr", at);
    http_thread = std::thread([&] { http.listen_after_bind(); });
    say("http on " + at + (cfg.insecure ? " (/metrics, /state)" : " (/metrics)"));
  }
  std::unique_ptr<httplib::SSLServer> https;
  std::thread https_thread;
  if (!cfg.insecure && !cfg.https_listen.empty()) {
    // The controller's certificate, and client certificates verified against the CA (required).
    auto x509 = [](const std::string& pem) {
      BIO* b = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
      X509* c = PEM_read_bio_X509(b, nullptr, nullptr, nullptr);
      BIO_free(b);
      return c;
    };
    X509* cert = x509(server_tls.cert_pem);
    X509* ca = x509(ctl.auth().ca().cert_pem);
    BIO* kb = BIO_new_mem_buf(server_tls.key_pem.data(), static_cast<int>(server_tls.key_pem.size()));
    EVP_PKEY* key = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
    BIO_free(kb);
    X509_STORE* clients = X509_STORE_new();  // owned by the server from here
    X509_STORE_add_cert(clients, ca);
    https = std::make_unique<httplib::SSLServer>(cert, key, clients);
    X509_free(cert);
    X509_free(ca);
    EVP_PKEY_free(key);
    routes(*https, true, [&](const httplib::Request& req, httplib::Response& res) {
      auth::Peer who;
      if (req.ssl) {
        if (X509* peer = SSL_get1_peer_certificate(req.ssl)) {
          BIO* out = BIO_new(BIO_s_mem());
          PEM_write_bio_X509(out, peer);
          char* data = nullptr;
          const long n = BIO_get_mem_data(out, &data);
          who = auth::peer_from_pem(std::string(data, static_cast<size_t>(std::max(0L, n))));
          BIO_free(out);
          X509_free(peer);
        }
      }
      const Status st = services.authorize(who, req.path == "/metrics" ? "Metrics" : "State");
      if (st.ok()) return true;
      res.status = st.error_code() == StatusCode::RESOURCE_EXHAUSTED ? 429 : 403;
      res.set_content(st.error_message() + "\n", "text/plain");
      return false;
    });
    const std::string at = bind(*https, cfg.https_listen, "HTTPS");
    if (at.empty()) {
      if (http_thread.joinable()) {
        http.stop();
        http_thread.join();
      }
      return fail_start();
    }
    write_file(cfg.data_dir + "/https.addr", at);
    https_thread = std::thread([&] { https->listen_after_bind(); });
    say("https on " + at + " (/state, /metrics; a client certificate of the view role or more)");
  }
  say("listening on " + addr + " (gRPC); lease " + std::to_string(cfg.controller.health.node_lease_ms) + " ms" +
      (cfg.controller.token.empty() ? "; WARNING: no join token, any shim may join" : "; shims need the join token"));

  sigaddset(&sigs, SIGUSR1);  // a handover's (blocked in every thread from the start)
  int sig = 0;
  sigwait(&sigs, &sig);
  {
    std::lock_guard lock(handover_mu);
    if (handed_over) {
      // Shim streams break now and move to the new active; clients follow.
      server->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
      if (http_thread.joinable()) {
        http.stop();
        http_thread.join();
      }
      if (https_thread.joinable()) {
        https->stop();
        https_thread.join();
      }
      const std::string exe = reexec_binary.empty() ? std::string("/proc/self/exe") : reexec_binary;
      std::vector<char*> args;
      for (const auto& x : cfg.argv) args.push_back(const_cast<char*>(x.c_str()));
      args.push_back(nullptr);
      if (cfg.argv.empty()) return 0;
      pthread_sigmask(SIG_UNBLOCK, &sigs, nullptr);
      // Nothing but stdio crosses the exec: gRPC's listening socket, still
      // open after Shutdown, would otherwise live on in the standby without
      // ever accepting — and share the port (SO_REUSEPORT) with the next
      // active there, hanging half the connections made to it.
      if (::syscall(SYS_close_range, 3u, ~0u, 0u) != 0) {
        for (int fd = 3; fd < 65536; ++fd) ::close(fd);
      }
      ::execv(exe.c_str(), args.data());
      say("cannot re-execute " + exe + " as a standby: " + std::strerror(errno) + "; exiting");
      return 0;
    }
    handed_over = true;  // no handover from here on
  }
  say("signal " + std::to_string(sig) + ": stopping (workloads keep running on their nodes)");
  if (election) {
    loop.stop();
    loop_thread.join();
    election->resign();  // a standby takes over at once, not after a lease
  }
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
  if (http_thread.joinable()) {
    http.stop();
    http_thread.join();
  }
  if (https_thread.joinable()) {
    https->stop();
    https_thread.join();
  }
  if (!election) {
    loop.stop();
    loop_thread.join();
  }
  return 0;
}

}  // namespace rackos::controller

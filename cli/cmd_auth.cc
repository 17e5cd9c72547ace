// Who may do what, from the CLI: join tokens (`rackos token create|list|revoke`),
// users and their client configs (`rackos user add|list|remove`), `rackos whoami`.
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <ctime>

#include "auth/client_config.h"
#include "auth/pki.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "core/quantity.h"

namespace rackos::cli {
namespace {

std::string when(int64_t ms) {
  if (ms == 0) return "never";
  const time_t s = static_cast<time_t>(ms / 1000);
  char buf[32];
  tm t{};
  ::gmtime_r(&s, &t);
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%SZ", &t);
  return buf;
}

}  // namespace

void add_auth_commands(CLI::App& app) {
  // token
  {
    auto* token = app.add_subcommand("token", "Join tokens for new nodes (admin)");
    token->require_subcommand(1);
    static std::string ttl = "1h", description;
    auto* create = token->add_subcommand("create", "Print a new join token (shown once; only its hash is kept)");
    create->add_option("--ttl", ttl, "It stops working after this long (0: never)")->capture_default_str();
    create->add_option("--description", description, "What it is for (shown by token list)");
    add_controller_flag(create);
    create->callback([] {
      auto t = parse_duration_ms(ttl);
      if (!t) fail("--ttl " + ttl + ": " + t.error().message);
      auto c = connect_controller(controller_flag());
      v1::CreateTokenRequest req;
      req.set_ttl_ms(*t);
      req.set_description(description);
      v1::CreateTokenResponse resp;
      check(call_active(c, [&](auto& stub, auto& ctx) { return stub.CreateToken(&ctx, req, &resp); }), c, "token create");
      std::printf("%s\n", resp.token().c_str());
      std::fflush(stdout);
      std::fprintf(stderr, "token %s, expires %s; join a node with: rackos shim --node NAME ... --controller %s --token-file FILE\n",
                   resp.id().c_str(), when(resp.expires_ms()).c_str(), c.all.c_str());
    });
    auto* list = token->add_subcommand("list", "The join tokens (never their secrets)");
    add_controller_flag(list);
    list->callback([] {
      auto c = connect_controller(controller_flag());
      v1::ListTokensResponse resp;
      check(call_active(c, [&](auto& stub, auto& ctx) { return stub.ListTokens(&ctx, v1::ListTokensRequest{}, &resp); }), c,
            "token list");
      std::printf("%-8s %-21s %-21s %5s  %s\n", "ID", "CREATED", "EXPIRES", "JOINS", "DESCRIPTION");
      for (const auto& t : resp.tokens()) {
        std::printf("%-8s %-21s %-21s %5u  %s\n", t.id().c_str(), when(t.created_ms()).c_str(), when(t.expires_ms()).c_str(),
                    t.joins(), t.description().c_str());
      }
    });
    static std::string revoke_id;
    auto* revoke = token->add_subcommand("revoke", "The token stops working at once (nodes that joined keep their certificates)");
    revoke->add_option("id", revoke_id, "The token's id (token list)")->required();
    add_controller_flag(revoke);
    revoke->callback([] {
      auto c = connect_controller(controller_flag());
      v1::RevokeTokenRequest req;
      req.set_id(revoke_id);
      v1::RevokeTokenResponse resp;
      check(call_active(c, [&](auto& stub, auto& ctx) { return stub.RevokeToken(&ctx, req, &resp); }), c, "token revoke");
      std::printf("token %s revoked\n", revoke_id.c_str());
    });
  }
  // user
  {
    auto* user = app.add_subcommand("user", "Users, their roles and client configs (admin)");
    user->require_subcommand(1);
    static std::string name, role, out, ttl = "365d";
    auto* add = user->add_subcommand(
        "add", "Make a client config (controller addresses, CA, a certificate and key) for NAME with ROLE; hand it to that person");
    add->add_option("name", name, "The user's name")->required();
    add->add_option("--role", role, "admin, operator or view")->required();
    add->add_option("--out", out, "Where to write the config (default ./rackos-NAME.conf; 0600)");
    add->add_option("--ttl", ttl, "The certificate's lifetime")->capture_default_str();
    add_controller_flag(add);
    add->callback([] {
      auto t = parse_duration_ms(ttl);
      if (!t || *t <= 0) fail("--ttl " + ttl + ": expected a positive duration");
      // The key is made here and never sent: only a request for its certificate.
      auto key = auth::make_key();
      if (!key) fail(key.error().message);
      auto csr = auth::make_csr(*key, name);
      if (!csr) fail(csr.error().message);
      auto c = connect_controller(controller_flag());
      v1::AddUserRequest req;
      req.set_name(name);
      req.set_role(role);
      req.set_csr_pem(*csr);
      req.set_ttl_ms(*t);
      v1::AddUserResponse resp;
      check(call_active(c, [&](auto& stub, auto& ctx) { return stub.AddUser(&ctx, req, &resp); }), c, "user add");
      // The addresses to give the user: the TCP ones (a Unix socket is for root here).
      std::string addrs = c.all.rfind("unix:", 0) == 0 ? std::string() : c.all;
      if (addrs.empty()) {
        if (const char* env = std::getenv("RACKOS_CONTROLLER"); env && *env && std::string(env).rfind("unix:", 0) != 0) addrs = env;
      }
      if (addrs.empty()) addrs = "127.0.0.1:7400";
      const std::string path = out.empty() ? "rackos-" + name + ".conf" : out;
      auth::ClientConfig cfg{addrs, name, role, {resp.ca_pem(), resp.cert_pem(), *key}};
      if (auto w = auth::write_client_config(path, cfg); !w) fail(w.error().message);
      std::printf("user %s (%s): certificate %s; client config written to %s (give it to them: RACKOS_CONFIG=%s)\n",
                  name.c_str(), role.c_str(), resp.serial().c_str(), path.c_str(), path.c_str());
    });
    auto* list = user->add_subcommand("list", "The users and their roles");
    add_controller_flag(list);
    list->callback([] {
      auto c = connect_controller(controller_flag());
      v1::ListUsersResponse resp;
      check(call_active(c, [&](auto& stub, auto& ctx) { return stub.ListUsers(&ctx, v1::ListUsersRequest{}, &resp); }), c,
            "user list");
      std::printf("%-24s %-9s %-21s %s\n", "NAME", "ROLE", "CREATED", "CERTIFICATES");
      for (const auto& u : resp.users()) {
        std::printf("%-24s %-9s %-21s %u\n", u.name().c_str(), u.role().c_str(), when(u.created_ms()).c_str(), u.certificates());
      }
    });
    static std::string remove_name;
    auto* remove = user->add_subcommand("remove", "Remove a user: every certificate it holds stops working at once");
    remove->add_option("name", remove_name, "The user's name")->required();
    add_controller_flag(remove);
    remove->callback([] {
      auto c = connect_controller(controller_flag());
      v1::RemoveUserRequest req;
      req.set_name(remove_name);
      v1::RemoveUserResponse resp;
      check(call_active(c, [&](auto& stub, auto& ctx) { return stub.RemoveUser(&ctx, req, &resp); }), c, "user remove");
      std::printf("user %s removed; its certificates are refused from now on\n", remove_name.c_str());
    });
  }
  // whoami
  {
    auto* cmd = app.add_subcommand("whoami", "Who the controller takes this CLI for, and its role");
    add_controller_flag(cmd);
    cmd->callback([] {
      auto c = connect_controller(controller_flag());
      v1::WhoAmIResponse resp;
      check(call_active(c, [&](auto& stub, auto& ctx) { return stub.WhoAmI(&ctx, v1::WhoAmIRequest{}, &resp); }), c, "whoami");
      std::printf("%s (%s) at %s\n", resp.name().c_str(), resp.role().c_str(), c.addr.c_str());
    });
  }
}

}  // namespace rackos::cli

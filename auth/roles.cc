// Roles and what each may call (see roles.h).
#include "auth/roles.h"

#include <map>

namespace rackos::auth {

std::string_view role_name(Role r) {
  switch (r) {
    case Role::view: return "view";
    case Role::operator_: return "operator";
    case Role::admin: return "admin";
    case Role::node: return "node";
    case Role::none: break;
  }
  return "none";
}

std::optional<Role> parse_role(std::string_view name) {
  if (name == "admin") return Role::admin;
  if (name == "operator") return Role::operator_;
  if (name == "view") return Role::view;
  if (name == "node") return Role::node;
  return std::nullopt;
}

std::string role_org(Role r) { return "rackos:" + std::string(role_name(r)); }

Role role_from_org(std::string_view org) {
  if (org.substr(0, 7) != "rackos:") return Role::none;
  auto r = parse_role(org.substr(7));
  return r ? *r : Role::none;
}

bool allows(Role have, Role need) {
  if (need == Role::none) return true;
  if (need == Role::node || have == Role::node) return have == need;
  return static_cast<int>(have) >= static_cast<int>(need);
}

Role needed_for(std::string_view method) {
  static const std::map<std::string_view, Role, std::less<>> table = {
      {"GetCA", Role::none},           {"JoinNode", Role::none},          {"RenewNodeCert", Role::node},
      {"Connect", Role::node},         {"ListServices", Role::view},      {"ListProcesses", Role::view},
      {"ListNodes", Role::view},       {"Logs", Role::view},              {"Watch", Role::view},
      {"WhoAmI", Role::none},          {"Apply", Role::operator_},        {"Scale", Role::operator_},
      {"Stop", Role::operator_},       {"Drain", Role::operator_},        {"KillNode", Role::admin},
      {"Handover", Role::admin},       {"UpgradeNode", Role::admin},      {"CreateToken", Role::admin},
      {"ListTokens", Role::admin},     {"RevokeToken", Role::admin},      {"AddUser", Role::admin},
      {"ListUsers", Role::admin},      {"RemoveUser", Role::admin},       {"State", Role::view},
      {"Metrics", Role::view},         {"Explain", Role::view},
  };
  auto it = table.find(method);
  return it == table.end() ? Role::admin : it->second;
}

std::string refusal(std::string_view what, Role need, std::string_view who, Role have) {
  std::string msg = "permission denied: " + std::string(what) + " needs the " + std::string(role_name(need)) + " role";
  if (have == Role::none) return msg + "; the caller presented no client certificate (use a client config from `rackos user add`, or the root-only Unix socket on the controller's machine)";
  return msg + "; " + std::string(who) + " has the " + std::string(role_name(have)) + " role";
}

}  // namespace rackos::auth

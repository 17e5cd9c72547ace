// Who may do what. Every caller of the controller has one role: a user's
// (admin, operator, view — from the O field of its client certificate, or
// admin for the root-only Unix socket), a node's (its shim, which may speak
// only for the node its certificate names), or none (a TLS client without a
// certificate: it may fetch the CA and join with a token, nothing else).
//   view      list, watch, logs, metrics
//   operator  + apply, scale, stop, drain (workloads as unprivileged users)
//   admin     + kill nodes, upgrade, hand over, tokens, users, `user: root`
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace rackos::auth {

enum class Role : uint8_t { none, view, operator_, admin, node };

std::string_view role_name(Role r);                         // "admin", "operator", "view", "node", "none"
std::optional<Role> parse_role(std::string_view name);       // admin|operator|view|node
std::string role_org(Role r);                                // "rackos:admin" (the certificate's O)
Role role_from_org(std::string_view org);                    // none when it is not one of ours
// `have` may do what needs `need`: users by rank (admin ⊇ operator ⊇ view); a
// node's role only what needs a node.
bool allows(Role have, Role need);
// The role a ClusterService method needs ("Apply" → operator); none for the
// methods anyone with TLS may call (GetCA, JoinNode). Unknown methods need admin.
Role needed_for(std::string_view method);
// One line for a refusal: what was asked, the role it needs, who asked.
std::string refusal(std::string_view what, Role need, std::string_view who, Role have);

}  // namespace rackos::auth

// Roles: users by rank, nodes apart, every method has a role, refusals name it.
#include "auth/roles.h"

#include <gtest/gtest.h>

namespace rackos::auth {
namespace {

TEST(Roles, UsersByRankNodesApart) {
  EXPECT_TRUE(allows(Role::admin, Role::operator_));
  EXPECT_TRUE(allows(Role::operator_, Role::view));
  EXPECT_FALSE(allows(Role::view, Role::operator_));
  EXPECT_FALSE(allows(Role::operator_, Role::admin));
  EXPECT_FALSE(allows(Role::node, Role::view));
  EXPECT_FALSE(allows(Role::admin, Role::node));
  EXPECT_TRUE(allows(Role::node, Role::node));
  EXPECT_TRUE(allows(Role::none, Role::none));
  EXPECT_FALSE(allows(Role::none, Role::view));
}

TEST(Roles, MethodsAndNames) {
  EXPECT_EQ(needed_for("Apply"), Role::operator_);
  EXPECT_EQ(needed_for("ListNodes"), Role::view);
  EXPECT_EQ(needed_for("KillNode"), Role::admin);
  EXPECT_EQ(needed_for("JoinNode"), Role::none);
  EXPECT_EQ(needed_for("SomethingNew"), Role::admin);
  for (Role r : {Role::view, Role::operator_, Role::admin, Role::node}) {
    EXPECT_EQ(role_from_org(role_org(r)), r);
    EXPECT_EQ(parse_role(role_name(r)), r);
  }
  EXPECT_EQ(role_from_org("Acme Inc"), Role::none);
  EXPECT_EQ(refusal("apply", Role::operator_, "bob", Role::view),
            "permission denied: apply needs the operator role; bob has the view role");
}

}  // namespace
}  // namespace rackos::auth

// Every record kind survives its JSON form field by field (a field renamed on
// one side fails here, instead of resetting state after a restart), and a
// record that does not parse is one error naming it.
#include "controller/store_schema.h"

#include <gtest/gtest.h>

namespace rackos::controller::schema {
namespace {

TEST(StoreSchema, EveryFieldRoundTrips) {
  ClusterRow c{"0123456789abcdef"};
  EXPECT_EQ(*cluster_from_json(to_json(c)), c);
  ServiceRow s{"name: web\n", 7, true};
  EXPECT_EQ(*service_from_json("web", to_json(s)), s);
  NodeRow n{16000, 64ll << 30, {{"rack", "r1"}, {"zone", "eu1"}}, {{"gpu", 2}}, true, 9, true};
  EXPECT_EQ(*node_from_json("n1", to_json(n)), n);
  ProcessRow p{"web", 3, "n1", "n2", ProcessState::backoff, 12, 5, 123456, -9, 1000, 2000, true, "exit code 1"};
  EXPECT_EQ(*process_from_json("web/3", to_json(p)), p);
  for (auto st : {ProcessState::pending, ProcessState::starting, ProcessState::running, ProcessState::stopping,
                  ProcessState::backoff, ProcessState::exited, ProcessState::lost}) {
    p.state = st;
    EXPECT_EQ(process_from_json("web/3", to_json(p))->state, st);
  }
  PkiRow k{"-----BEGIN CERTIFICATE-----\n", "-----BEGIN PRIVATE KEY-----\n"};
  EXPECT_EQ(*pki_from_json("ca", to_json(k)), k);
  TokenRow t{"ab12", "for rack 3", 1000, 601000, 4};
  EXPECT_EQ(*token_from_json("x7k2", to_json(t)), t);
  UserRow u{"operator", 1000, {"0A1B", "2C3D"}};
  EXPECT_EQ(*user_from_json("alice", to_json(u)), u);
  // Defaults survive too (a row with nothing set).
  EXPECT_EQ(*process_from_json("a/0", to_json(ProcessRow{"a"})), ProcessRow{"a"});
  EXPECT_EQ(*node_from_json("n", to_json(NodeRow{})), NodeRow{});
}

TEST(StoreSchema, ABadRecordIsOneErrorNamingIt) {
  auto r = process_from_json("web/3", "{\"service\":\"web\",\"instance\":3,\"state\":\"dancing\"}");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("process web/3"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("dancing"), std::string::npos) << r.error().message;
  auto n = node_from_json("n1", "not json");
  ASSERT_FALSE(n);
  EXPECT_NE(n.error().message.find("node n1"), std::string::npos);
  EXPECT_EQ(process_key("web", 3), "web/3");
}

}  // namespace
}  // namespace rackos::controller::schema

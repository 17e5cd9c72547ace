// Tests for the cluster state: binding keeps Σmin, lists and indexes in step.
#include "core/cluster_state.h"

#include <gtest/gtest.h>

#include "core/test_cluster.h"

namespace rackos {
namespace {
using namespace rackos::testing;

TEST(ClusterState, BindAndUnbindKeepIndexesInStep) {
  ClusterState st;
  NodeId n0 = add_node(st, "n0", 4000, 8 * GiB, {{"rack", "r1"}});
  NodeId n1 = add_node(st, "n1", 8000, 8 * GiB, {{"rack", "r2"}});
  ServiceId s = add_service(st, service_spec("web", 1000, GiB));
  ProcessId a = st.create_process(s, 0);
  ProcessId b = st.create_process(s, 0);
  st.bind(a, n0);
  st.bind(b, n1);
  EXPECT_EQ(st.node(n0).reserved.cpu_millis, 1000);
  EXPECT_EQ(st.service(s).on_node(n0), 1u);
  EXPECT_EQ(st.by_free_cpu().begin()->second, n0);  // 3000 free < 7000 free
  EXPECT_EQ(st.check_invariants(), "");
  st.unbind(a);
  EXPECT_EQ(st.node(n0).reserved.cpu_millis, 0);
  EXPECT_EQ(st.service(s).on_node(n0), 0u);
  st.remove_process(b);
  EXPECT_EQ(st.node(n1).processes.size(), 0u);
  EXPECT_EQ(st.service(s).processes.size(), 1u);
  EXPECT_EQ(st.check_invariants(), "");
}

TEST(ClusterState, UnschedulableNodesLeaveTheIndex) {
  ClusterState st;
  NodeId n0 = add_node(st, "n0", 4000, 8 * GiB);
  NodeHealth h = st.node(n0).health;
  h.draining = true;
  st.update_health(n0, h);
  EXPECT_TRUE(st.by_free_cpu().empty());
  h.draining = false;
  st.update_health(n0, h);
  EXPECT_EQ(st.by_free_cpu().size(), 1u);
  EXPECT_EQ(st.check_invariants(), "");
}

TEST(ClusterState, RejectsBadNodesAndDuplicates) {
  ClusterState st;
  add_node(st, "n0", 1000, GiB);
  NodeSpec dup{.name = "n0", .cpu_millis = 1000, .memory_bytes = GiB};
  EXPECT_FALSE(st.add_node(dup, 0));
  NodeSpec zero{.name = "z", .cpu_millis = 0, .memory_bytes = GiB};
  auto r = st.add_node(zero, 0);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("node z: cpu 0"), std::string::npos);
  ServiceId s = add_service(st, service_spec("a", 1, 1));
  (void)s;
  EXPECT_FALSE(st.add_service(service_spec("a", 1, 1)));
}

TEST(ClusterState, CountableResourcesGetSlots) {
  ClusterState st;
  NodeId g = add_node(st, "gpu0", 8000, 8 * GiB, {}, {{"gpu", 8}});
  auto spec = service_spec("train", 1000, GiB);
  spec.resources["gpu"] = 2;
  ServiceId s = add_service(st, spec);
  int slot = *st.resource_names().find("gpu");
  EXPECT_EQ(st.node(g).capacity.extended[static_cast<size_t>(slot)], 8);
  EXPECT_EQ(st.service(s).request.extended[static_cast<size_t>(slot)], 2);
}

TEST(ClusterState, ReplaceSpecReReservesMin) {
  ClusterState st;
  NodeId n0 = add_node(st, "n0", 4000, 8 * GiB);
  ServiceId s = add_service(st, service_spec("web", 1000, GiB));
  ProcessId a = st.create_process(s, 0);
  st.bind(a, n0);
  auto spec = st.service(s).spec;
  spec.envelope.cpu_millis.min = 2000;
  st.replace_spec(s, spec);
  EXPECT_EQ(st.node(n0).reserved.cpu_millis, 2000);
  EXPECT_EQ(st.check_invariants(), "");
}

}  // namespace
}  // namespace rackos

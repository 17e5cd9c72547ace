// Tests for the order of rescheduling lost processes.
#include "core/reschedule_order.h"

#include <gtest/gtest.h>

#include "core/test_cluster.h"

namespace rackos {
namespace {
using namespace rackos::testing;

TEST(RescheduleOrder, PriorityThenAge) {
  ClusterState st;
  NodeId n = add_node(st, "n0", 16000, 16 * GiB);
  ServiceId batch = add_service(st, service_spec("batch", 100, MiB, PriorityClass::batch));
  ServiceId sys = add_service(st, service_spec("sys", 100, MiB, PriorityClass::system));
  ServiceId web = add_service(st, service_spec("web", 100, MiB, PriorityClass::normal));
  ProcessId b = st.create_process(batch, 1);
  ProcessId w_new = st.create_process(web, 9);
  ProcessId w_old = st.create_process(web, 2);
  ProcessId s = st.create_process(sys, 5);
  for (ProcessId p : {b, w_new, w_old, s}) st.bind(p, n);
  auto lost = take_lost_processes(st, n, 100);
  EXPECT_EQ(lost, (std::vector<ProcessId>{s, w_old, w_new, b}));
  EXPECT_TRUE(st.node(n).processes.empty());
  EXPECT_EQ(st.node(n).reserved.cpu_millis, 0);
  EXPECT_EQ(st.process(b).state, ProcessState::lost);
  EXPECT_EQ(st.check_invariants(), "");
}

}  // namespace
}  // namespace rackos

// Tests for trace reading: the shipped formats, and bad files giving one clear
// error naming the file, the line and the column.
#include "sim/traces.h"

#include <gtest/gtest.h>

#include "sim/workload_map.h"

namespace rackos::sim {
namespace {

TEST(Traces, Machines) {
  auto m = parse_machines("nodes.csv", "sn,cpu_milli,memory_mib,gpu,model\nn0,32000,262144,0,\nn1,96000,786432,8,V100M32\n");
  ASSERT_TRUE(m) << m.error().message;
  ASSERT_EQ(m->size(), 2u);
  EXPECT_EQ((*m)[1].cpu_millis, 96000);
  EXPECT_EQ((*m)[1].memory_bytes, 786432ll << 20);
  EXPECT_EQ((*m)[1].gpus, 8);
  EXPECT_EQ((*m)[1].gpu_model, "V100M32");
}

TEST(Traces, PodsByColumnNameInAnyOrder) {
  auto p = parse_pods("pods.csv",
                      "qos,name,memory_mib,cpu_milli,creation_time,deletion_time,num_gpu,gpu_milli\n"
                      "LS,p0,1024,4000,10,500,1,460\nBE,p1,512,1000,20,,0,0\n");
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ((*p)[0].cpu_millis, 4000);
  EXPECT_EQ((*p)[0].deletion_s, 500);
  EXPECT_EQ((*p)[0].gpu_milli, 460);
  EXPECT_EQ((*p)[1].deletion_s, 0);  // empty: still running at the end
}

TEST(Traces, MissingColumn) {
  auto p = parse_pods("pods.csv", "name,cpu_milli,qos,creation_time\np0,1000,LS,0\n");
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().message, "pods.csv line 1: missing column \"memory_mib\"");
}

TEST(Traces, NotANumber) {
  auto m = parse_machines("nodes.csv", "sn,cpu_milli,memory_mib\nn0,32000,262144\nn1,lots,1024\n");
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().message, "nodes.csv line 3, column cpu_milli: \"lots\" is not a number");
}

TEST(Traces, NegativeSize) {
  auto p = parse_pods("pods.csv", "name,cpu_milli,memory_mib,qos,creation_time\np0,1000,-5,LS,0\n");
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().message, "pods.csv line 2, column memory_mib: -5 is negative");
}

TEST(Traces, RaggedLinesAndBadTimes) {
  auto r = parse_machines("nodes.csv", "sn,cpu_milli,memory_mib\nn0,32000\n");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "nodes.csv line 2: 2 fields, the header has 3");
  auto t = parse_pods("pods.csv", "name,cpu_milli,memory_mib,qos,creation_time,deletion_time\np0,1,1,LS,100,50\n");
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().message.find("line 2, column deletion_time: 50 is before creation_time 100"), std::string::npos);
  EXPECT_FALSE(read_pods("/nonexistent/pods.csv"));
  EXPECT_EQ(read_pods("/nonexistent/pods.csv").error().message.rfind("cannot read /nonexistent/pods.csv", 0), 0u);
}

TEST(Traces, UsageSeries) {
  auto u = parse_usage("usage.csv", "vm,s0,s1,s2\nvm-a,10,20,30\nvm-b,0,100,50\n");
  ASSERT_TRUE(u) << u.error().message;
  ASSERT_EQ(u->series.size(), 2u);
  EXPECT_EQ(u->series[1].percent[1], 100);
  EXPECT_DOUBLE_EQ(usage_at(u->series[0], 300, 150), 0.15);  // halfway between 10 and 20
  EXPECT_DOUBLE_EQ(usage_at(u->series[0], 300, 900), 0.10);  // wraps around
  auto bad = parse_usage("usage.csv", "vm,s0,s1\nvm-a,10,170\n");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message.rfind("usage.csv line 2, column s1:", 0), 0u) << bad.error().message;
}

TEST(WorkloadMap, EnvelopeAndPriorityFromTheTask) {
  TracePod p{"p", 4000, 8ll << 30, 1, 500, "LS", 0, 0};
  MappingConfig cfg;
  ServiceSpec s = map_pod(p, cfg, false);
  EXPECT_EQ(s.priority, PriorityClass::high);
  EXPECT_EQ(s.envelope.cpu_millis, (Range{1000, 4000, 8000}));
  EXPECT_EQ(s.resources.at("gpu_milli"), 500);
  EXPECT_TRUE(validate_service_spec(s).empty());
  ServiceSpec b = map_pod(p, cfg, true);
  EXPECT_EQ(b.envelope.cpu_millis, (Range{4000, 4000, 4000}));
  p.qos = "BE";
  EXPECT_EQ(map_pod(p, cfg, false).priority, PriorityClass::batch);
  EXPECT_EQ(series_for("p", 7, 1052), series_for("p", 7, 1052));
  EXPECT_NE(series_for("p", 7, 1052), series_for("p", 8, 1052));
}

}  // namespace
}  // namespace rackos::sim

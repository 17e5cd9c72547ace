// Tests of the cgroup v2 implementation against a directory laid out like a
// cgroup2 tree (the files the kernel would create, pre-made in a temp dir).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "core/allocator.h"
#include "shim/cgroup_files.h"
#include "shim/cgroups.h"

namespace rackos::shim {
namespace {

const char* kFiles[] = {"cgroup.procs", "cgroup.subtree_control", "cpu.weight", "cpu.max", "cpu.max.burst",
                        "memory.low", "memory.high", "memory.max"};

void touch_cgroup(const std::string& dir) {
  ASSERT_TRUE(make_dir(dir));
  for (const char* f : kFiles) std::ofstream(dir + "/" + f) << "";
}

std::string slurp(const std::string& path) { return read_file(path).value(); }

class CgroupV2Tree : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/rackos-cg2-XXXXXX";
    root_ = ::mkdtemp(tmpl);
    touch_cgroup(root_);
    touch_cgroup(root_ + "/rackos");
    touch_cgroup(root_ + "/rackos/n1");
    touch_cgroup(root_ + "/rackos/n1/web-0");
  }
  void TearDown() override { std::system(("rm -rf " + root_).c_str()); }
  std::string root_;
};

TEST_F(CgroupV2Tree, NodeSubtreeEnablesControllersAndCaps) {
  auto cg = make_cgroup_v2(root_);
  EXPECT_EQ(cg->name(), "cgroup v2");
  auto node = cg->create_node("n1", 4000, 8ll << 30);
  ASSERT_TRUE(node) << node.error().message;
  EXPECT_EQ(slurp(root_ + "/cgroup.subtree_control"), "+cpu +memory");
  EXPECT_EQ(slurp(root_ + "/rackos/cgroup.subtree_control"), "+cpu +memory");
  EXPECT_EQ(slurp(root_ + "/rackos/n1/cpu.max"), "400000 100000");
  EXPECT_EQ(slurp(root_ + "/rackos/n1/memory.max"), std::to_string(8ll << 30));
}

TEST_F(CgroupV2Tree, LimitsAreWrittenInV2Terms) {
  auto cg = make_cgroup_v2(root_);
  auto node = cg->create_node("n1", 4000, 8ll << 30);
  auto child = cg->create_child(*node, "web-0");
  ASSERT_TRUE(child);
  EXPECT_EQ(cg->procs_files(*child), (std::vector<std::string>{root_ + "/rackos/n1/web-0/cgroup.procs"}));
  CgroupLimits l{.cpu_shares = 1024, .cpu_quota_millis = 500, .cpu_burst_millis = 200,
                 .memory_low_bytes = 64 << 20, .memory_high_bytes = 256 << 20, .memory_max_bytes = 512 << 20};
  ASSERT_TRUE(cg->apply(*child, l, std::nullopt));
  const std::string d = root_ + "/rackos/n1/web-0/";
  EXPECT_EQ(slurp(d + "cpu.weight"), std::to_string(shares_to_weight(1024)));
  EXPECT_EQ(slurp(d + "cpu.max"), "50000 100000");
  EXPECT_EQ(slurp(d + "cpu.max.burst"), "20000");
  EXPECT_EQ(slurp(d + "memory.low"), std::to_string(64 << 20));
  EXPECT_EQ(slurp(d + "memory.high"), std::to_string(256 << 20));
  EXPECT_EQ(slurp(d + "memory.max"), std::to_string(512 << 20));

  // Only what changed is written: scribble on a file, change another field.
  std::ofstream(d + "memory.low") << "untouched";
  CgroupLimits l2 = l;
  l2.cpu_quota_millis = -1;
  l2.memory_high_bytes = -1;
  ASSERT_TRUE(cg->apply(*child, l2, l));
  EXPECT_EQ(slurp(d + "cpu.max"), "max 100000");
  EXPECT_EQ(slurp(d + "memory.high"), "max");
  EXPECT_EQ(slurp(d + "memory.low"), "untouched");
}

TEST_F(CgroupV2Tree, StatsAreRead) {
  auto cg = make_cgroup_v2(root_);
  CgroupPath p{{root_ + "/rackos/n1/web-0"}};
  const std::string d = p.dirs[0] + "/";
  std::ofstream(d + "cpu.stat") << "usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\nnr_periods 10\n"
                                   "nr_throttled 2\nthrottled_usec 30000\n";
  std::ofstream(d + "memory.current") << "104857600\n";
  std::ofstream(d + "memory.events") << "low 0\nhigh 3\nmax 1\noom 1\noom_kill 1\n";
  std::ofstream(d + "cpu.pressure") << "some avg10=1.50 avg60=0.20 avg300=0.05 total=123\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
  auto s = cg->read_stats(p);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->cpu_usage_ns, 1'500'000'000);
  EXPECT_EQ(s->cpu_throttled_ns, 30'000'000);
  EXPECT_EQ(s->memory_bytes, 104857600);
  ASSERT_TRUE(s->cpu_pressure_some_avg10.has_value());
  EXPECT_DOUBLE_EQ(*s->cpu_pressure_some_avg10, 1.5);
  EXPECT_EQ(cg->oom_file(p), d + "memory.events");
}

TEST_F(CgroupV2Tree, MissingFilesAreClearErrors) {
  auto cg = make_cgroup_v2(root_);
  CgroupPath p{{root_ + "/nope"}};
  auto s = cg->read_stats(p);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find(root_ + "/nope/cpu.stat"), std::string::npos);
}

}  // namespace
}  // namespace rackos::shim

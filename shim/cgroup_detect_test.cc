// Tests for reading cgroup mounts out of /proc/self/mountinfo text.
#include <gtest/gtest.h>

#include "shim/cgroups.h"

namespace rackos::shim {
namespace {

const char* kHybridV1 =
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

const char* kCoMounted =
    "25 24 0:22 / /sys/fs/cgroup/cpu,cpuacct ro,nosuid shared:9 - cgroup cgroup rw,cpu,cpuacct\n"
    "26 24 0:23 / /sys/fs/cgroup/memory rw,nosuid shared:10 - cgroup cgroup rw,memory\n";

const char* kUnified = "29 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";

TEST(CgroupMounts, HybridV1) {
  auto m = parse_cgroup_mounts(kHybridV1);
  ASSERT_EQ(m.size(), 5u);
  EXPECT_EQ(m[0].mount_point, "/sys/fs/cgroup/cpu");
  EXPECT_EQ(m[0].controllers, (std::vector<std::string>{"cpu"}));
  EXPECT_EQ(m[2].controllers, (std::vector<std::string>{"memory"}));
  EXPECT_TRUE(m[3].controllers.empty());  // name=systemd is not a controller
  EXPECT_TRUE(m[4].v2);
}

TEST(CgroupMounts, CoMountedAndReadOnly) {
  auto m = parse_cgroup_mounts(kCoMounted);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].controllers, (std::vector<std::string>{"cpu", "cpuacct"}));
  EXPECT_TRUE(m[0].read_only);
  EXPECT_FALSE(m[1].read_only);
}

TEST(CgroupMounts, UnifiedOnly) {
  auto m = parse_cgroup_mounts(kUnified);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_TRUE(m[0].v2);
  EXPECT_EQ(m[0].mount_point, "/sys/fs/cgroup");
}

TEST(CgroupMounts, GarbageIsIgnored) {
  EXPECT_TRUE(parse_cgroup_mounts("not a mountinfo line\n\n- - -\n").empty());
}

TEST(CgroupDetect, MissingMountinfoMeansEnforcementOff) {
  auto d = detect_cgroups("/nonexistent/mountinfo");
  EXPECT_EQ(d.cgroups, nullptr);
  EXPECT_EQ(d.description.rfind("enforcement off", 0), 0u) << d.description;
}

}  // namespace
}  // namespace rackos::shim

// Tests for the shim's per-process state files.
#include "shim/launch_spec.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "shim/cgroup_files.h"

namespace rackos::shim {
namespace {

TEST(LaunchSpec, RoundTrips) {
  LaunchSpec s;
  s.argv = {"/bin/echo", "a b", "ü"};
  s.env = {{"A", "1"}, {"B", "x=y"}};
  s.workdir = "/tmp";
  s.uid = 1000;
  s.cgroup_procs = {"/sys/fs/cgroup/cpu/rackos/n/p/cgroup.procs"};
  auto back = launch_from_json(to_json(s));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->argv, s.argv);
  EXPECT_EQ(back->env, s.env);
  EXPECT_EQ(back->uid, s.uid);
  EXPECT_FALSE(back->gid.has_value());
  EXPECT_EQ(back->cgroup_procs, s.cgroup_procs);

  ProcessSpec p{.id = "web-0", .service = "web", .envelope = {{100, 1000, 2000}, {1, 2, 3}},
                .priority = PriorityClass::high, .on_partition = OnPartition::stop, .created_ms = 5};
  auto pb = process_spec_from_json(to_json(p));
  ASSERT_TRUE(pb);
  EXPECT_EQ(pb->envelope, p.envelope);
  EXPECT_EQ(pb->priority, PriorityClass::high);
  EXPECT_EQ(pb->on_partition, OnPartition::stop);

  ExitRecord e{.exit_code = 137, .signal = 9, .oom_killed = true, .start_error = "", .ended_ms = 7};
  auto eb = exit_from_json(to_json(e));
  ASSERT_TRUE(eb);
  EXPECT_TRUE(eb->oom_killed);
  EXPECT_EQ(eb->signal, 9);
}

TEST(LaunchSpec, BadFilesAreErrorsNamingTheFile) {
  auto r = pid_from_json("{\"pid\": \"x\"}");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message.rfind("pid.json", 0), 0u);
  EXPECT_FALSE(exit_from_json("not json"));
}

TEST(LaunchSpec, AtomicWriteAndStartTicks) {
  std::string path = "/tmp/rackos-launch-test-" + std::to_string(::getpid());
  ASSERT_TRUE(write_atomic(path, "one"));
  ASSERT_TRUE(write_atomic(path, "two"));
  EXPECT_EQ(*read_file(path), "two");
  ::unlink(path.c_str());
  EXPECT_GT(process_start_ticks(::getpid()), 0u);
  EXPECT_EQ(process_start_ticks(0x7ffffff0), 0u);
}

}  // namespace
}  // namespace rackos::shim

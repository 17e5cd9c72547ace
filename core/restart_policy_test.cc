// Tests for restart policies and exponential backoff.
#include "core/restart_policy.h"

#include <gtest/gtest.h>

namespace rackos {
namespace {

TEST(RestartPolicy, ExponentialBackoffCapped) {
  RestartPolicy p;  // 100ms .. 30s
  EXPECT_EQ(backoff_ms(p, 0), 100);
  EXPECT_EQ(backoff_ms(p, 1), 200);
  EXPECT_EQ(backoff_ms(p, 5), 3200);
  EXPECT_EQ(backoff_ms(p, 20), 30000);
  EXPECT_EQ(backoff_ms(p, 60000), 30000);  // no overflow
}

TEST(RestartPolicy, CrashLoopBacksOff) {
  RestartPolicy p;
  uint32_t count = 0;
  int64_t t = 0;
  std::vector<int64_t> delays;
  for (int i = 0; i < 6; ++i) {
    auto d = decide_restart(p, {.exit_code = 1}, count, t, t + 10);
    ASSERT_TRUE(d.restart);
    delays.push_back(d.at_ms - (t + 10));
    count = d.restart_count;
    t = d.at_ms;
  }
  EXPECT_EQ(delays, (std::vector<int64_t>{100, 200, 400, 800, 1600, 3200}));
}

TEST(RestartPolicy, LongRunForgivesEarlierCrashes) {
  RestartPolicy p;
  auto d = decide_restart(p, {.exit_code = 1}, 7, 0, 60'000);
  EXPECT_TRUE(d.restart);
  EXPECT_EQ(d.at_ms, 60'100);
  EXPECT_EQ(d.restart_count, 1u);
}

TEST(RestartPolicy, PolicyKinds) {
  RestartPolicy on_failure{.kind = RestartKind::on_failure};
  EXPECT_FALSE(decide_restart(on_failure, {.exit_code = 0}, 0, 0, 1).restart);
  EXPECT_TRUE(decide_restart(on_failure, {.exit_code = 2}, 0, 0, 1).restart);
  EXPECT_TRUE(decide_restart(on_failure, {.signal = 9}, 0, 0, 1).restart);
  auto oom = decide_restart(on_failure, {.oom_killed = true}, 0, 0, 1);
  EXPECT_TRUE(oom.restart);
  EXPECT_NE(oom.reason.find("OOM"), std::string::npos);
  RestartPolicy never{.kind = RestartKind::never};
  EXPECT_FALSE(decide_restart(never, {.exit_code = 1}, 0, 0, 1).restart);
  RestartPolicy always;
  EXPECT_TRUE(decide_restart(always, {.exit_code = 0}, 0, 0, 1).restart);
  EXPECT_FALSE(decide_restart(always, {.signal = 15, .requested = true}, 0, 0, 1).restart);
}

}  // namespace
}  // namespace rackos

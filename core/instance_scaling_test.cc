// Tests for the elastic instance rule.
#include "core/instance_scaling.h"

#include <gtest/gtest.h>

namespace rackos {
namespace {

ServiceSpec spec(uint32_t mn, uint32_t mx) {
  ServiceSpec s;
  s.name = "web";
  s.envelope.cpu_millis = {500, 2000, 2000};
  s.instances = {mn, mx};
  return s;
}

InstanceLoad load(uint32_t id, int64_t demand, int64_t target, int64_t created = 0) {
  return {ProcessId::make(id, 1), demand, target, created};
}

TEST(InstanceScaling, BoundsActAtOnce) {
  ScalingState st;
  std::vector<InstanceLoad> one = {load(1, 0, 0)};
  EXPECT_EQ(decide_scaling(spec(2, 4), one, st, 0, {}).action, ScalingAction::add);
  std::vector<InstanceLoad> three = {load(1, 0, 0, 1), load(2, 0, 0, 3), load(3, 0, 0, 2)};
  auto d = decide_scaling(spec(1, 2), three, st, 0, {});
  EXPECT_EQ(d.action, ScalingAction::remove);
  EXPECT_EQ(d.target, ProcessId::make(2, 1));  // the newest
}

TEST(InstanceScaling, StarvedLongEnoughAddsOne) {
  ScalingConfig cfg;
  ScalingState st;
  std::vector<InstanceLoad> busy = {load(1, 2000, 1000), load(2, 2000, 1000)};
  EXPECT_EQ(decide_scaling(spec(1, 4), busy, st, 0, cfg).action, ScalingAction::none);
  EXPECT_EQ(decide_scaling(spec(1, 4), busy, st, cfg.up_after_ms - 1, cfg).action, ScalingAction::none);
  auto d = decide_scaling(spec(1, 4), busy, st, cfg.up_after_ms, cfg);
  EXPECT_EQ(d.action, ScalingAction::add);
  EXPECT_FALSE(d.reason.empty());
  // Cooldown: no second change at once.
  EXPECT_EQ(decide_scaling(spec(1, 4), busy, st, cfg.up_after_ms + 2 * cfg.up_after_ms, cfg).action,
            ScalingAction::none);
}

TEST(InstanceScaling, ABlipDoesNotScale) {
  ScalingConfig cfg;
  ScalingState st;
  std::vector<InstanceLoad> busy = {load(1, 2000, 1000)};
  std::vector<InstanceLoad> calm = {load(1, 500, 500)};
  decide_scaling(spec(1, 4), busy, st, 0, cfg);
  decide_scaling(spec(1, 4), calm, st, 1000, cfg);
  EXPECT_EQ(decide_scaling(spec(1, 4), busy, st, cfg.up_after_ms, cfg).action, ScalingAction::none);
}

TEST(InstanceScaling, SingletonOutgrowingItsNodeMoves) {
  ScalingConfig cfg;
  ScalingState st;
  std::vector<InstanceLoad> squeezed = {load(1, 2000, 800)};  // max 2000 but node gives 800
  decide_scaling(spec(1, 1), squeezed, st, 0, cfg);
  auto d = decide_scaling(spec(1, 1), squeezed, st, cfg.up_after_ms, cfg);
  EXPECT_EQ(d.action, ScalingAction::move);
  EXPECT_EQ(d.target, ProcessId::make(1, 1));
  // At its own max there is nothing to gain by moving.
  ScalingState st2;
  std::vector<InstanceLoad> capped = {load(1, 3000, 2000)};
  decide_scaling(spec(1, 1), capped, st2, 0, cfg);
  EXPECT_EQ(decide_scaling(spec(1, 1), capped, st2, cfg.up_after_ms, cfg).action, ScalingAction::none);
}

TEST(InstanceScaling, IdleLongEnoughRemovesNewest) {
  ScalingConfig cfg;
  ScalingState st;
  std::vector<InstanceLoad> idle = {load(1, 100, 100, 1), load(2, 100, 100, 5), load(3, 100, 100, 3)};
  decide_scaling(spec(1, 4), idle, st, 0, cfg);
  auto d = decide_scaling(spec(1, 4), idle, st, cfg.down_after_ms, cfg);
  EXPECT_EQ(d.action, ScalingAction::remove);
  EXPECT_EQ(d.target, ProcessId::make(2, 1));
  // Never below instances.min.
  ScalingState st2;
  std::vector<InstanceLoad> two = {load(1, 0, 0), load(2, 0, 0)};
  decide_scaling(spec(2, 4), two, st2, 0, cfg);
  EXPECT_EQ(decide_scaling(spec(2, 4), two, st2, cfg.down_after_ms * 2, cfg).action, ScalingAction::none);
}


TEST(InstanceReconciliation, SurplusGoesLeastBusyFirstThenHighestInstance) {
  std::vector<InstanceState> live = {{ProcessId{1}, ProcessState::running, 0},  {ProcessId{2}, ProcessState::running, 1},
                                     {ProcessId{3}, ProcessState::starting, 2}, {ProcessId{4}, ProcessState::backoff, 3},
                                     {ProcessId{5}, ProcessState::exited, 4},   {ProcessId{6}, ProcessState::pending, 5}};
  auto out = choose_surplus(live, 4);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0], ProcessId{5});  // exited
  EXPECT_EQ(out[1], ProcessId{6});  // waiting, highest instance first
  EXPECT_EQ(out[2], ProcessId{4});
  EXPECT_EQ(out[3], ProcessId{3});  // starting
  EXPECT_EQ(choose_surplus(live, 6).back(), ProcessId{1});  // running instance 0 goes last
  EXPECT_EQ(choose_surplus(live, 9).size(), 6u);
  EXPECT_TRUE(choose_surplus(live, 0).empty());
}

}  // namespace
}  // namespace rackos

// Tests for learned minimums: the decaying histogram and the raise/lower rule.
#include "core/recommender.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/spec_parse.h"

namespace rackos {
namespace {

constexpr int64_t kMin = 60'000;

TEST(DecayingHistogram, PercentileWithinOneBucket) {
  DecayingHistogram h(1);
  for (int64_t v = 1; v <= 1000; ++v) h.add(v, 0, kMin);
  const int64_t p90 = h.percentile(0.9);
  EXPECT_GE(p90, 900);
  EXPECT_LE(p90, 900 * 1.05 + 1);
  EXPECT_LE(h.percentile(0), 2);
  EXPECT_GE(h.percentile(1), 1000);
  EXPECT_EQ(h.samples(), 1000u);
}

TEST(DecayingHistogram, OldSamplesFade) {
  DecayingHistogram h(1);
  for (int i = 0; i < 100; ++i) h.add(1000, 0, kMin);
  // Ten half-lives later: the old samples weigh 1/1024 each.
  for (int i = 0; i < 10; ++i) h.add(100, 10 * kMin, kMin);
  EXPECT_LE(h.percentile(0.9), 105);
  EXPECT_GE(h.percentile(0.999), 1000);
}

TEST(DecayingHistogram, StaysFiniteOverLongSpans) {
  DecayingHistogram h(1 << 20);
  for (int64_t t = 0; t < 1000 * kMin; t += kMin / 2) h.add(int64_t{64} << 20, t, kMin);
  EXPECT_GT(h.total_weight(), 0);
  EXPECT_TRUE(std::isfinite(h.total_weight()));
  const int64_t p = h.percentile(0.99);
  EXPECT_GE(p, int64_t{64} << 20);
  EXPECT_LE(p, static_cast<int64_t>((int64_t{64} << 20) * 1.06));
  double sum = 0;
  for (auto [top, share] : h.buckets()) sum += share;
  EXPECT_NEAR(sum, 1.0, 1e-5);  // weights are floats
}

TEST(DecayingHistogram, EmptyAndZero) {
  DecayingHistogram h(1);
  EXPECT_TRUE(h.empty());
  EXPECT_EQ(h.percentile(0.9), 0);
  h.add(0, 5, kMin);
  h.add(-3, 5, kMin);  // never negative
  EXPECT_EQ(h.percentile(0.9), 1);
}

RecommenderConfig fast() {
  RecommenderConfig c;
  c.cpu_percentile = 0.90;
  c.half_life_ms = 10'000;
  c.lower_after_ms = 5'000;
  c.warmup_ms = 10'000;
  return c;
}

TEST(Recommender, RaisesAtOnceToThePercentilePlusMargin) {
  const auto cfg = fast();
  ServiceLearning s;
  const LearnedMin b{true, 0, 0};
  for (int i = 0; i < 20; ++i) observe(s, {400, 400, 400, 10 << 20}, 100, 64 << 20, 1000 + i, cfg);
  MinDecision d = decide_min(s.cpu, LearnedResource::cpu, b, 2000, 100, 1100, cfg);
  ASSERT_TRUE(d.change);
  EXPECT_TRUE(d.raise);
  EXPECT_GE(d.min, 440);
  EXPECT_LE(d.min, 465);
  EXPECT_NE(d.reason.find("p90 of use"), std::string::npos) << d.reason;
  EXPECT_NE(d.reason.find("was 100m"), std::string::npos) << d.reason;
}

TEST(Recommender, StarvedRaisesBeforeTheHistogramSaysSo) {
  const auto cfg = fast();
  ServiceLearning s;
  const LearnedMin b{true, 0, 0};
  // A long quiet history, then one starved sample: the percentile is still low.
  for (int i = 0; i < 200; ++i) observe(s, {50, 50, 50, 1 << 20}, 100, 64 << 20, i * 100, cfg);
  EXPECT_FALSE(decide_min(s.cpu, LearnedResource::cpu, b, 2000, 100, 20'000, cfg).change);
  observe(s, {300, 900, 300, 1 << 20}, 100, 64 << 20, 20'100, cfg);
  MinDecision d = decide_min(s.cpu, LearnedResource::cpu, b, 2000, 100, 20'100, cfg);
  ASSERT_TRUE(d.change);
  EXPECT_EQ(d.min, 990);
  EXPECT_NE(d.reason.find("starved"), std::string::npos) << d.reason;
  // Served above its min is not starvation: no urgent raise.
  ServiceLearning q;
  for (int i = 0; i < 200; ++i) observe(q, {50, 50, 50, 1 << 20}, 100, 64 << 20, i * 100, cfg);
  observe(q, {900, 900, 900, 1 << 20}, 100, 64 << 20, 20'100, cfg);
  EXPECT_FALSE(decide_min(q.cpu, LearnedResource::cpu, b, 2000, 100, 20'100, cfg).change);
}

TEST(Recommender, MemoryAboveItsMinRaisesAtOnce) {
  const auto cfg = fast();
  ServiceLearning s;
  const LearnedMin b{true, 0, 0};
  observe(s, {10, 10, 10, 300 << 20}, 100, 100 << 20, 0, cfg);
  MinDecision d = decide_min(s.memory, LearnedResource::memory, b, int64_t{1} << 30, 100 << 20, 0, cfg);
  ASSERT_TRUE(d.change);
  EXPECT_GE(d.min, 330 << 20);
  EXPECT_NE(d.reason.find("above its min"), std::string::npos) << d.reason;
}

TEST(Recommender, LowersOnlyAfterWarmupAndHolding) {
  const auto cfg = fast();
  ServiceLearning s;
  const LearnedMin b{true, 0, 0};
  int64_t t = 0;
  int64_t min = 1000;
  bool lowered = false;
  int64_t lowered_at = -1;
  for (; t <= 30'000; t += 100) {
    observe(s, {100, 100, 100, 1 << 20}, min, 64 << 20, t, cfg);
    MinDecision d = decide_min(s.cpu, LearnedResource::cpu, b, 2000, min, t, cfg);
    if (d.change) {
      EXPECT_FALSE(d.raise);
      min = d.min;
      lowered = true;
      lowered_at = t;
      break;
    }
  }
  ASSERT_TRUE(lowered);
  // Not before warmup (10 s) + holding below (5 s).
  EXPECT_GE(lowered_at, cfg.warmup_ms + cfg.lower_after_ms - 100);
  EXPECT_LE(min, 115);
  EXPECT_GE(min, 110);
}

TEST(Recommender, KeptWithinFloorCeilingAndMax) {
  const auto cfg = fast();
  ServiceLearning s;
  const LearnedMin b{true, 200, 800};
  for (int i = 0; i < 50; ++i) observe(s, {5000, 5000, 5000, 1 << 20}, 200, 64 << 20, i, cfg);
  EXPECT_EQ(recommend(s.cpu, LearnedResource::cpu, b, 2000, 200, cfg), 800);
  EXPECT_EQ(recommend(s.cpu, LearnedResource::cpu, LearnedMin{true, 0, 0}, 2000, 200, cfg), 2000);
  ServiceLearning q;
  for (int i = 0; i < 50; ++i) observe(q, {1, 1, 1, 1 << 20}, 200, 64 << 20, i, cfg);
  EXPECT_EQ(recommend(q.cpu, LearnedResource::cpu, b, 2000, 500, cfg), 200);
  // No samples: the current min stands.
  ServiceLearning e;
  EXPECT_EQ(recommend(e.cpu, LearnedResource::cpu, b, 2000, 500, cfg), 500);
  EXPECT_EQ(initial_learned_min(LearnedMin{true, 0, 0}, 2000), 500);
  EXPECT_EQ(initial_learned_min(LearnedMin{true, 700, 0}, 2000), 700);
  EXPECT_EQ(initial_learned_min(LearnedMin{true, 0, 300}, 2000), 300);
}

TEST(Recommender, SmallChangesInsideTheDeadbandAreNotMade) {
  const auto cfg = fast();
  ServiceLearning s;
  const LearnedMin b{true, 0, 0};
  for (int i = 0; i < 50; ++i) observe(s, {454, 454, 454, 1 << 20}, 500, 64 << 20, i, cfg);
  // p90 ≈ 454..477, + 10 % ≈ 500..525: within 5 % of 500.
  EXPECT_FALSE(decide_min(s.cpu, LearnedResource::cpu, b, 2000, 500, 100, cfg).change);
}

TEST(LearnedSpec, ScalarAndMapForms) {
  auto specs = parse_services_yaml(
      "name: a\ncommand: [x]\ncpu: auto:2:4\nmemory: {min: auto, floor: 64Mi, max: 1Gi}\n");
  ASSERT_TRUE(specs) << specs.error().message;
  const ServiceSpec& s = (*specs)[0];
  EXPECT_TRUE(s.auto_cpu.on);
  EXPECT_EQ(s.envelope.cpu_millis, (Range{500, 2000, 4000}));
  EXPECT_TRUE(s.auto_memory.on);
  EXPECT_EQ(s.auto_memory.floor, 64 << 20);
  EXPECT_EQ(s.envelope.memory_bytes.min, 256 << 20);
  EXPECT_EQ(s.envelope.memory_bytes.max, 1 << 30);
  // The normal form keeps what was learned, and reads back the same.
  ServiceSpec learned = s;
  learned.envelope.cpu_millis.min = 130;
  const std::string yaml = format_service_yaml(learned);
  EXPECT_NE(yaml.find("cpu: {min: auto, learned: 130m, max: 2, burst: 4}"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("memory: {min: auto, floor: 64Mi, learned: 256Mi"), std::string::npos) << yaml;
  auto again = parse_services_yaml(yaml);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(format_service_yaml((*again)[0]), yaml);
  EXPECT_EQ((*again)[0].envelope, learned.envelope);
  EXPECT_EQ((*again)[0].auto_cpu, learned.auto_cpu);
  EXPECT_EQ((*again)[0].auto_memory, learned.auto_memory);
}

TEST(LearnedSpec, ClearErrors) {
  auto bad = [](const std::string& cpu) {
    auto r = parse_services_yaml("name: a\ncommand: [x]\ncpu: " + cpu + "\nmemory: 64Mi\n");
    return r ? std::string() : r.error().message;
  };
  EXPECT_NE(bad("auto").find("needs a max"), std::string::npos) << bad("auto");
  EXPECT_NE(bad("{min: auto, floor: 3, max: 2}").find("cpu.floor 3 exceeds cpu.max 2"), std::string::npos)
      << bad("{min: auto, floor: 3, max: 2}");
  EXPECT_NE(bad("{min: 1, floor: 1, max: 2}").find("need cpu.min: auto"), std::string::npos);
  EXPECT_NE(bad("{min: auto, ceiling: 4, max: 2}").find("cpu.ceiling 4 exceeds cpu.max 2"), std::string::npos);
  EXPECT_NE(bad("{min: auto, floor: 1, ceiling: 500m, max: 2}").find("cpu.floor 1 exceeds cpu.ceiling 500m"),
            std::string::npos);
  EXPECT_NE(bad("{min: 1, learned: 1, max: 2}").find("learned needs cpu.min: auto"), std::string::npos);
  EXPECT_EQ(bad("{min: auto, floor: 100m, ceiling: 1, max: 2}"), "");
  // The flag form takes auto too.
  LearnedMin l;
  auto r = parse_cpu_range("auto:1", &l);
  ASSERT_TRUE(r);
  EXPECT_TRUE(l.on);
  EXPECT_EQ(r->min, 250);
  EXPECT_FALSE(parse_cpu_range("auto:1"));  // where no learning happens
}

}  // namespace
}  // namespace rackos

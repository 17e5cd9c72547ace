// Learned minimums: the decaying histogram and the rule (see recommender.h).
#include "core/recommender.h"

#include <algorithm>
#include <cmath>

#include "core/quantity.h"

namespace rackos {
namespace {

constexpr double kGrowth = 1.05;
constexpr size_t kMaxBuckets = 1200;  // 1.05^1200 ≈ 3e25: any value fits
constexpr double kRescaleAt = 40;     // exponents above this are folded into the weights

std::string format_value(LearnedResource r, int64_t v) {
  return r == LearnedResource::cpu ? format_cpu_millis(v) : format_memory_bytes(v);
}

int64_t ceiling_of(const LearnedMin& b, int64_t max) { return b.ceiling > 0 ? std::min(b.ceiling, max) : max; }

int64_t clamp_to(const LearnedMin& b, int64_t max, int64_t v) {
  const int64_t hi = ceiling_of(b, max);
  return std::clamp(v, std::min(b.floor, hi), hi);
}

int64_t with_margin(int64_t v, double margin) {
  return static_cast<int64_t>(std::ceil(static_cast<double>(v) * (1 + margin) - 1e-6));
}

std::string percent(double p) {
  const double v = p * 100;
  return v == std::floor(v) ? std::to_string(static_cast<int>(v)) : std::to_string(v);
}

}  // namespace

std::string_view to_string(LearnedResource r) { return r == LearnedResource::cpu ? "cpu" : "memory"; }

size_t DecayingHistogram::bucket_of(int64_t value) const {
  const double v = static_cast<double>(value);
  if (v < first_) return 0;
  const double i = 1 + std::floor(std::log(v / first_) / std::log(kGrowth));
  return std::min(static_cast<size_t>(i), kMaxBuckets - 1);
}

int64_t DecayingHistogram::bucket_top(size_t i) const {
  return static_cast<int64_t>(std::ceil(first_ * std::pow(kGrowth, static_cast<double>(i))));
}

void DecayingHistogram::add(int64_t value, int64_t now_ms, int64_t half_life_ms) {
  if (value < 0) value = 0;
  if (ref_ms_ < 0) ref_ms_ = now_ms;
  const double hl = static_cast<double>(std::max<int64_t>(half_life_ms, 1));
  double exponent = static_cast<double>(now_ms - ref_ms_) / hl;
  if (exponent > kRescaleAt) {
    // Fold the decay into the weights so they stay finite: every weight is
    // now relative to `now`.
    const double scale = std::exp2(-exponent);
    total_ = 0;
    for (auto& [b, w] : weight_) {
      w = static_cast<float>(w * scale);
      total_ += w;
    }
    std::erase_if(weight_, [](const auto& bw) { return bw.second < 1e-30f; });
    ref_ms_ = now_ms;
    exponent = 0;
  }
  const auto b = static_cast<uint16_t>(bucket_of(value));
  const double w = std::exp2(exponent);
  auto it = std::lower_bound(weight_.begin(), weight_.end(), b, [](const auto& bw, uint16_t k) { return bw.first < k; });
  if (it == weight_.end() || it->first != b) it = weight_.insert(it, {b, 0.0f});
  it->second = static_cast<float>(it->second + w);
  total_ += w;
  if (first_ms_ < 0) first_ms_ = now_ms;
  last_ms_ = std::max(last_ms_, now_ms);
  ++samples_;
}

int64_t DecayingHistogram::percentile(double p) const {
  if (total_ <= 0) return 0;
  const double want = std::clamp(p, 0.0, 1.0) * total_;
  double acc = 0;
  for (const auto& [b, w] : weight_) {
    acc += w;
    if (acc >= want && w > 0) return bucket_top(b);
  }
  return bucket_top(weight_.back().first);
}

std::vector<std::pair<int64_t, double>> DecayingHistogram::buckets() const {
  std::vector<std::pair<int64_t, double>> out;
  for (const auto& [b, w] : weight_) {
    if (w > 0 && total_ > 0) out.emplace_back(bucket_top(b), w / total_);
  }
  return out;
}

void observe(ServiceLearning& s, const UsageSample& u, int64_t cpu_min, int64_t memory_min, int64_t now_ms,
             const RecommenderConfig& cfg) {
  const int64_t gap = u.cpu_demand_millis - u.cpu_target_millis;
  const bool starved = gap > 0 && gap * 100 > u.cpu_target_millis * cfg.starved_percent;
  s.cpu.histogram.add(starved ? u.cpu_demand_millis : u.cpu_used_millis, now_ms, cfg.half_life_ms);
  s.memory.histogram.add(u.memory_bytes, now_ms, cfg.half_life_ms);
  if (starved && u.cpu_demand_millis > cpu_min) s.cpu.urgent = std::max(s.cpu.urgent, u.cpu_demand_millis);
  if (u.memory_bytes > memory_min) s.memory.urgent = std::max(s.memory.urgent, u.memory_bytes);
}

int64_t recommend(const LearnedState& st, LearnedResource r, const LearnedMin& bounds, int64_t max, int64_t current,
                  const RecommenderConfig& cfg) {
  if (st.histogram.empty()) return current;
  const double p = r == LearnedResource::cpu ? cfg.cpu_percentile : cfg.memory_percentile;
  return clamp_to(bounds, max, with_margin(st.histogram.percentile(p), cfg.margin));
}

MinDecision decide_min(LearnedState& st, LearnedResource r, const LearnedMin& bounds, int64_t max, int64_t current,
                       int64_t now_ms, const RecommenderConfig& cfg) {
  MinDecision d;
  const int64_t rec = recommend(st, r, bounds, max, current, cfg);
  const int64_t urgent = st.urgent > 0 ? clamp_to(bounds, max, with_margin(st.urgent, cfg.margin)) : 0;
  const int64_t urgent_seen = st.urgent;
  st.urgent = 0;
  const double p = r == LearnedResource::cpu ? cfg.cpu_percentile : cfg.memory_percentile;
  const std::string from = " (was " + format_value(r, current) + ")";
  const int64_t up = std::max(rec, urgent);
  const double cur = static_cast<double>(current);
  if (up > current && static_cast<double>(up) > cur * (1 + cfg.deadband)) {
    d.change = d.raise = true;
    d.min = up;
    if (urgent_seen > 0) {
      d.reason = r == LearnedResource::cpu ? "starved: wanted " + format_value(r, urgent_seen) + " and did not get it; "
                                           : "used " + format_value(r, urgent_seen) + ", above its min; ";
    }
    if (urgent >= rec) {
      d.reason += format_value(r, urgent_seen) + " + " + percent(cfg.margin) + " % = " + format_value(r, up) + from;
    } else {
      d.reason += "p" + percent(p) + " of use " + format_value(r, st.histogram.percentile(p)) + " + " +
                  percent(cfg.margin) + " % = " + format_value(r, up) + from;
    }
    if (up == ceiling_of(bounds, max)) d.reason += "; at its ceiling";
    st.below_since_ms = -1;
    st.last = {urgent_seen > 0 ? (r == LearnedResource::cpu ? LastChange::Why::starved : LastChange::Why::above_min)
                               : LastChange::Why::percentile,
               now_ms, current, up, urgent >= rec ? urgent_seen : st.histogram.percentile(p)};
    return d;
  }
  const bool warm = st.histogram.first_sample_ms() >= 0 && now_ms - st.histogram.first_sample_ms() >= cfg.warmup_ms;
  if (rec < current && static_cast<double>(rec) < cur * (1 - cfg.deadband) && warm) {
    if (st.below_since_ms < 0) st.below_since_ms = now_ms;
    if (now_ms - st.below_since_ms >= cfg.lower_after_ms) {
      d.change = true;
      d.min = rec;
      d.reason = "p" + percent(p) + " of use " + format_value(r, st.histogram.percentile(p)) + " + " +
                 percent(cfg.margin) + " % = " + format_value(r, rec) + ", below the min for " +
                 format_duration_ms(now_ms - st.below_since_ms) + from;
      if (rec == std::min(bounds.floor, ceiling_of(bounds, max))) d.reason += "; at its floor";
      st.below_since_ms = -1;
      st.last = {LastChange::Why::lowered, now_ms, current, rec, st.histogram.percentile(p)};
    }
    return d;
  }
  st.below_since_ms = -1;
  return d;
}

std::string describe(const LastChange& c, LearnedResource r, const RecommenderConfig& cfg) {
  const double p = r == LearnedResource::cpu ? cfg.cpu_percentile : cfg.memory_percentile;
  const std::string change = format_value(r, c.from) + " -> " + format_value(r, c.to);
  switch (c.why) {
    case LastChange::Why::none: return "";
    case LastChange::Why::percentile:
      return "raised " + change + ": p" + percent(p) + " of use was " + format_value(r, c.seen) + ", + " + percent(cfg.margin) + " %";
    case LastChange::Why::starved:
      return "raised " + change + " at once: starved, it wanted " + format_value(r, c.seen) + " and did not get it";
    case LastChange::Why::above_min:
      return "raised " + change + " at once: it used " + format_value(r, c.seen) + ", above its min";
    case LastChange::Why::lowered:
      return "lowered " + change + ": p" + percent(p) + " of use was " + format_value(r, c.seen) + ", + " + percent(cfg.margin) +
             " %, below the min for " + format_duration_ms(cfg.lower_after_ms) + " or more";
  }
  return "";
}

int64_t initial_learned_min(const LearnedMin& bounds, int64_t max) { return clamp_to(bounds, max, max / 4); }

}  // namespace rackos

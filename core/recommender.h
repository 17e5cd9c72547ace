// Learned minimums (`cpu: auto:2:4`, `memory: {min: auto, floor: 64Mi}`): per
// service and resource, a histogram of observed use whose samples lose half
// their weight every `half_life_ms`, and the rule that turns it into the
// guaranteed min. Pure and deterministic: samples and the time come in, a
// decision comes out; the controller applies it (and the simulator runs the
// controller), so both use this one rule.
//
// The rule (docs/rightsizing.md says why, and how it compares with Autopilot):
//   recommended = percentile P of the decayed histogram × (1 + margin),
//                 kept in [floor, ceiling] (ceiling: the max when not given).
//   CPU samples are what a process used, or, when it was starved (its demand
//   above what it got), what it wanted — so a starved process is not learned
//   at its starved level, and an idle one is not learned at the node's
//   slowly decaying demand estimate; memory samples are its resident use.
//   CPU P 50 %, memory P 99 %: CPU above the min is served from the node's
//   pile whenever it is free (the allocator is work-conserving) and a
//   starved process is raised at once, so the min need only be the typical
//   use; memory cannot be taken back without reclaim or the OOM killer, so
//   its min covers nearly every peak.
//   Raise at once: when the recommendation is above the min, and, without
//   waiting for the histogram, when a process is starved (its demand not
//   served on its node) or uses more memory than its min — the new min is
//   that sample × (1 + margin).
//   Lower slowly: only after the recommendation has stayed below the min by
//   more than the deadband for `lower_after_ms`, and not before the
//   histogram holds `warmup_ms` of samples (a restarted controller starts
//   with empty histograms and keeps the mins it stored).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/service_spec.h"

namespace rackos {

struct RecommenderConfig {
  int64_t half_life_ms = 30 * 60'000;      // a sample's weight halves every 30 min
  double cpu_percentile = 0.50;            // CPU above the min is lent by the node: the min is the share under contention
  double memory_percentile = 0.99;
  double margin = 0.10;                    // added on top of the percentile
  double deadband = 0.05;                  // changes smaller than 5 % of the min are not made
  int64_t lower_after_ms = 5 * 60'000;     // a lower recommendation must hold this long
  int64_t warmup_ms = 10 * 60'000;         // samples spanning this long before any lowering
  int64_t starved_percent = 10;            // demand above what it got by this much is starved
};

// Buckets grow by 5 %: bucket 0 holds [0, first), bucket i ≥ 1 holds
// [first × 1.05^(i−1), first × 1.05^i). A percentile answers with the top of
// its bucket, so it overestimates by less than 5 %.
class DecayingHistogram {
 public:
  DecayingHistogram() = default;
  explicit DecayingHistogram(double first_bucket) : first_(first_bucket) {}
  void add(int64_t value, int64_t now_ms, int64_t half_life_ms);
  // The smallest value with a share ≥ p of the weight below it (0 when empty).
  int64_t percentile(double p) const;
  double total_weight() const { return total_; }
  bool empty() const { return total_ <= 0; }
  // (bucket top, share of the weight) for every non-empty bucket, ascending.
  std::vector<std::pair<int64_t, double>> buckets() const;
  int64_t first_sample_ms() const { return first_ms_; }
  int64_t last_sample_ms() const { return last_ms_; }
  size_t samples() const { return samples_; }

 private:
  size_t bucket_of(int64_t value) const;
  int64_t bucket_top(size_t i) const;

  double first_ = 1;
  // Non-empty buckets only, by index: a service's use spans a few dozen
  // buckets, and half a million services each keep two of these.
  std::vector<std::pair<uint16_t, float>> weight_;
  double total_ = 0;
  int64_t ref_ms_ = -1;          // weights are relative to 2^((t − ref)/half_life)
  int64_t first_ms_ = -1, last_ms_ = -1;
  size_t samples_ = 0;
};

enum class LearnedResource : uint8_t { cpu, memory };
std::string_view to_string(LearnedResource r);

// One process's use, as its node reported it.
struct UsageSample {
  int64_t cpu_used_millis = 0;     // what it used
  int64_t cpu_demand_millis = 0;   // what it would use (the node's estimate)
  int64_t cpu_target_millis = 0;   // what its node gave it
  int64_t memory_bytes = 0;
};

// The last change of a min, kept as values (half a million services keep
// two each); describe() turns it into the sentence `rackos explain` shows.
struct LastChange {
  enum class Why : uint8_t { none, percentile, starved, above_min, lowered };
  Why why = Why::none;
  int64_t at_ms = -1;
  int64_t from = 0, to = 0;
  int64_t seen = 0;                // the sample or percentile it came from
};
std::string describe(const LastChange& c, LearnedResource r, const RecommenderConfig& cfg);

struct LearnedState {
  DecayingHistogram histogram;
  int64_t urgent = 0;              // a starved / over-min sample since the last decision (0: none)
  int64_t below_since_ms = -1;     // the recommendation has been below the min since
  LastChange last;                 // why the min is what it is
};

struct ServiceLearning {
  LearnedState cpu{DecayingHistogram(1)};          // millicores
  LearnedState memory{DecayingHistogram(1 << 20)}; // bytes, from 1 MiB
};

// Adds one process's sample (a service's instances all add to its histograms).
// `cpu_min`/`memory_min`: the service's current mins (for the raise-at-once test).
void observe(ServiceLearning& s, const UsageSample& u, int64_t cpu_min, int64_t memory_min, int64_t now_ms,
             const RecommenderConfig& cfg);

// What the histogram recommends now for a resource, within the spec's bounds
// (its learned-min floor and ceiling, and max); 0 samples: `current`.
int64_t recommend(const LearnedState& st, LearnedResource r, const LearnedMin& bounds, int64_t max, int64_t current,
                  const RecommenderConfig& cfg);

struct MinDecision {
  bool change = false;
  int64_t min = 0;
  bool raise = false;
  std::string reason;              // e.g. "p90 of use 412m + 10 % = 453m (was 250m)"
};
// Whether to change a resource's min now; updates the state's timers.
MinDecision decide_min(LearnedState& st, LearnedResource r, const LearnedMin& bounds, int64_t max, int64_t current,
                       int64_t now_ms, const RecommenderConfig& cfg);

// The min a new `min: auto` service starts with, before any use is seen: a
// quarter of its max, within its floor and ceiling.
int64_t initial_learned_min(const LearnedMin& bounds, int64_t max);

}  // namespace rackos

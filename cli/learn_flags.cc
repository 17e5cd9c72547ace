// The learned-min rule's flags (see learn_flags.h).
#include "cli/learn_flags.h"

#include "core/quantity.h"

namespace rackos::cli {

void LearnFlags::add_to(CLI::App* cmd) {
  cmd->add_option("--learn-half-life", half_life, "Learned mins: a usage sample's weight halves this often")
      ->capture_default_str();
  cmd->add_option("--learn-cpu-percentile", cpu_percentile, "Learned cpu min: this percentile of use, plus the margin")
      ->capture_default_str();
  cmd->add_option("--learn-memory-percentile", memory_percentile,
                  "Learned memory min: this percentile of use, plus the margin")
      ->capture_default_str();
  cmd->add_option("--learn-margin", margin, "Learned mins: percent added to the percentile")->capture_default_str();
  cmd->add_option("--learn-lower-after", lower_after, "Learned mins: lowered only after the use stays lower this long")
      ->capture_default_str();
  cmd->add_option("--learn-warmup", warmup, "Learned mins: never lowered before this much use is seen")
      ->capture_default_str();
}

std::string LearnFlags::apply(RecommenderConfig& cfg) const {
  auto dur = [](const char* flag, const std::string& v, int64_t& out) -> std::string {
    auto ms = parse_duration_ms(v);
    if (!ms) return std::string(flag) + ": " + ms.error().message;
    if (*ms <= 0) return std::string(flag) + " must be positive";
    out = *ms;
    return "";
  };
  if (auto e = dur("--learn-half-life", half_life, cfg.half_life_ms); !e.empty()) return e;
  if (auto e = dur("--learn-lower-after", lower_after, cfg.lower_after_ms); !e.empty()) return e;
  if (auto e = dur("--learn-warmup", warmup, cfg.warmup_ms); !e.empty()) return e;
  if (cpu_percentile <= 0 || cpu_percentile > 100) return "--learn-cpu-percentile must be in (0, 100]";
  if (memory_percentile <= 0 || memory_percentile > 100) return "--learn-memory-percentile must be in (0, 100]";
  if (margin < 0 || margin > 1000) return "--learn-margin must be in [0, 1000] percent";
  cfg.cpu_percentile = cpu_percentile / 100;
  cfg.memory_percentile = memory_percentile / 100;
  cfg.margin = margin / 100;
  return "";
}

std::vector<std::string> LearnFlags::args() const {
  auto num = [](double v) {
    std::string s = std::to_string(v);
    s.erase(s.find_last_not_of('0') + 1);
    if (!s.empty() && s.back() == '.') s.pop_back();
    return s;
  };
  return {"--learn-half-life", half_life, "--learn-lower-after", lower_after, "--learn-warmup", warmup,
          "--learn-cpu-percentile", num(cpu_percentile), "--learn-memory-percentile", num(memory_percentile),
          "--learn-margin", num(margin)};
}

}  // namespace rackos::cli

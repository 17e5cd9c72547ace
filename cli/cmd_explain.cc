// `rackos explain SERVICE`: a service's learned mins (min: auto) — the bounds
// the spec allows, the min in force, the decayed usage histogram the
// controller keeps, what it recommends now, and why the min is what it is.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <string>

#include "cli/client.h"
#include "cli/commands.h"
#include "core/quantity.h"

namespace rackos::cli {
namespace {

using nlohmann::json;

std::string ago(int64_t now_ms, int64_t then_ms) {
  if (then_ms < 0) return "never";
  return format_duration_ms(std::max<int64_t>(0, now_ms - then_ms)) + " ago";
}

std::string explain_text(const v1::ExplainResponse& r) {
  std::string o;
  char line[512];
  std::snprintf(line, sizeof line,
                "service %s: %u instance(s) placed; samples halve in weight every %s, min = percentile + %.0f %%, "
                "lowered only after %s below and %s of samples\n",
                r.service().c_str(), r.instances(), format_duration_ms(r.half_life_ms()).c_str(), r.margin() * 100,
                format_duration_ms(r.lower_after_ms()).c_str(), format_duration_ms(r.warmup_ms()).c_str());
  o += line;
  for (const auto& x : r.resources()) {
    const bool cpu = x.resource() == "cpu";
    auto f = [&](int64_t v) { return cpu ? format_cpu_millis(v) : format_memory_bytes(v); };
    o += "\n" + x.resource() + ": ";
    if (!x.learned()) {
      o += "min " + f(x.min()) + " fixed by the spec (not learned; `min: auto` learns it)\n";
      continue;
    }
    o += "min auto, now " + f(x.min()) + " (floor " + f(x.floor()) + ", ceiling " +
         (x.ceiling() > 0 ? f(x.ceiling()) : f(x.max()) + " = max") + ")\n";
    std::snprintf(line, sizeof line, "  p%.0f of use + margin recommends %s; %llu samples, the last %s\n",
                  x.percentile() * 100, f(x.recommended()).c_str(), static_cast<unsigned long long>(x.samples()),
                  ago(x.now_ms(), x.last_sample_ms()).c_str());
    o += line;
    o += "  last change: " + (x.last_change_ms() < 0 ? std::string("none by this controller")
                                                      : ago(x.now_ms(), x.last_change_ms()) + ": " + x.last_reason()) +
         "\n";
    o += "  next: " + x.next() + "\n";
    if (x.buckets_size() == 0) continue;
    o += "  use (share of the decayed weight):\n";
    // At most 16 rows: neighbouring buckets merged.
    const int n = x.buckets_size();
    const int per = (n + 15) / 16;
    for (int i = 0; i < n; i += per) {
      double share = 0;
      int64_t upto = 0;
      for (int k = i; k < std::min(n, i + per); ++k) {
        share += x.buckets(k).share();
        upto = x.buckets(k).upto();
      }
      const int bar = static_cast<int>(share * 40 + 0.5);
      std::snprintf(line, sizeof line, "    <= %-9s %5.1f %% %s\n", f(upto).c_str(), share * 100,
                    std::string(static_cast<size_t>(bar), '#').c_str());
      o += line;
    }
  }
  return o;
}

json explain_json(const v1::ExplainResponse& r) {
  json out = {{"service", r.service()},          {"instances", r.instances()},
              {"half_life_ms", r.half_life_ms()}, {"margin", r.margin()},
              {"lower_after_ms", r.lower_after_ms()}, {"warmup_ms", r.warmup_ms()}};
  json res = json::array();
  for (const auto& x : r.resources()) {
    json b = json::array();
    for (const auto& k : x.buckets()) b.push_back({{"upto", k.upto()}, {"share", k.share()}});
    res.push_back({{"resource", x.resource()},
                   {"learned", x.learned()},
                   {"min", x.min()},
                   {"floor", x.floor()},
                   {"ceiling", x.ceiling()},
                   {"max", x.max()},
                   {"recommended", x.recommended()},
                   {"percentile", x.percentile()},
                   {"samples", x.samples()},
                   {"first_sample_ms", x.first_sample_ms()},
                   {"last_sample_ms", x.last_sample_ms()},
                   {"last_change_ms", x.last_change_ms()},
                   {"last_reason", x.last_reason()},
                   {"next", x.next()},
                   {"buckets", b}});
  }
  out["resources"] = res;
  return out;
}

}  // namespace

void add_explain(CLI::App& app) {
  static std::string service;
  static bool as_json = false;
  auto* cmd = app.add_subcommand("explain", "A service's learned mins (min: auto): the usage histogram, the min now, and why");
  cmd->add_option("service", service, "The service")->required();
  cmd->add_flag("--json", as_json, "JSON");
  add_controller_flag(cmd);
  cmd->callback([] {
    auto c = connect_controller(controller_flag());
    v1::ExplainRequest req;
    req.set_service(service);
    v1::ExplainResponse resp;
    auto ctx = call_context();
    check(c.stub->Explain(ctx.get(), req, &resp), c, "explain");
    if (as_json) std::printf("%s\n", explain_json(resp).dump(2).c_str());
    else std::fputs(explain_text(resp).c_str(), stdout);
  });
}

}  // namespace rackos::cli

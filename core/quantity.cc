// Exact parsing of CPU and memory quantities (see quantity.h).
#include "core/quantity.h"

#include <array>
#include <cstdio>
#include <limits>

#include "core/int128.h"

namespace rackos {
namespace {

struct Decimal {
  int128 whole = 0;
  int128 frac = 0;        // fractional digits as an integer
  int128 frac_scale = 1;  // 10^(number of fractional digits)
  std::string_view suffix;
};

constexpr int128 kInt64Max = std::numeric_limits<int64_t>::max();

// Splits "1.5Gi" into 1 . 5 and "Gi". Returns false when there is no number.
bool split_decimal(std::string_view text, Decimal& out) {
  size_t i = 0;
  bool any_digit = false;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    out.whole = out.whole * 10 + (text[i] - '0');
    if (out.whole > kInt64Max) return false;
    any_digit = true;
    ++i;
  }
  if (i < text.size() && text[i] == '.') {
    ++i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      if (out.frac_scale < int128{1000000000000000000}) {  // ignore digits past 18
        out.frac = out.frac * 10 + (text[i] - '0');
        out.frac_scale *= 10;
      } else if (text[i] != '0') {
        return false;
      }
      any_digit = true;
      ++i;
    }
  }
  out.suffix = text.substr(i);
  return any_digit;
}

std::string quoted(std::string_view text) { return "\"" + std::string(text) + "\""; }

}  // namespace

Result<int64_t> parse_cpu_millis(std::string_view text) {
  Decimal d;
  if (text.empty() || !split_decimal(text, d)) {
    return Error{quoted(text) + " is not a CPU quantity (use cores like 0.5 or 2, or millicores like 500m)"};
  }
  int128 scale = 0;
  if (d.suffix.empty()) {
    scale = 1000;
  } else if (d.suffix == "m") {
    scale = 1;
  } else {
    return Error{quoted(text) + " is not a CPU quantity: unknown unit " + quoted(d.suffix) +
                 " (use cores like 0.5 or 2, or millicores like 500m)"};
  }
  int128 value = d.whole * scale;
  int128 frac_part = d.frac * scale;
  if (frac_part % d.frac_scale != 0) {
    return Error{quoted(text) + " is finer than 1m (one millicore), the smallest CPU unit"};
  }
  value += frac_part / d.frac_scale;
  if (value > kInt64Max) return Error{quoted(text) + " is too large a CPU quantity"};
  return static_cast<int64_t>(value);
}

Result<int64_t> parse_memory_bytes(std::string_view text) {
  Decimal d;
  if (text.empty() || !split_decimal(text, d)) {
    return Error{quoted(text) + " is not a size (use bytes or a unit: 64Mi, 6Gi, 512G, 1.5Ti)"};
  }
  struct Unit {
    std::string_view name;
    int128 bytes;
  };
  constexpr int128 K = 1024;
  static const std::array<Unit, 26> units = {{
      {"", 1},           {"B", 1},
      {"Ki", K},         {"Mi", K * K},          {"Gi", K * K * K},
      {"Ti", K * K * K * K}, {"Pi", K * K * K * K * K}, {"Ei", K * K * K * K * K * K},
      {"KiB", K},        {"MiB", K * K},         {"GiB", K * K * K},
      {"TiB", K * K * K * K}, {"PiB", K * K * K * K * K},
      {"k", 1000},       {"K", 1000},            {"M", 1000000},
      {"G", 1000000000}, {"T", int128{1000000000000}},
      {"P", int128{1000000000000000}}, {"E", int128{1000000000000000000}},
      {"KB", 1000},      {"kB", 1000},           {"MB", 1000000},
      {"GB", 1000000000}, {"TB", int128{1000000000000}},
      {"PB", int128{1000000000000000}},
  }};
  if (d.suffix == "m") {
    return Error{quoted(text) + " is not a size: \"m\" means milli-bytes; did you mean \"Mi\" (mebibytes) or \"M\" (megabytes)?"};
  }
  const Unit* unit = nullptr;
  for (const auto& u : units) {
    if (u.name == d.suffix) { unit = &u; break; }
  }
  if (unit == nullptr) {
    return Error{quoted(text) + " is not a size: unknown unit " + quoted(d.suffix) +
                 " (use Ki Mi Gi Ti, or k M G T)"};
  }
  int128 value = d.whole * unit->bytes;
  int128 frac_part = d.frac * unit->bytes;
  if (frac_part % d.frac_scale != 0) {
    return Error{quoted(text) + " is not a whole number of bytes"};
  }
  value += frac_part / d.frac_scale;
  if (value > kInt64Max) return Error{quoted(text) + " is too large a size"};
  return static_cast<int64_t>(value);
}

Result<int64_t> parse_count(std::string_view text) {
  if (text.empty()) return Error{"\"\" is not a count (a whole number like 0, 1, 8)"};
  int128 v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return Error{quoted(text) + " is not a count (a whole number like 0, 1, 8)"};
    v = v * 10 + (c - '0');
    if (v > kInt64Max) return Error{quoted(text) + " is too large a count"};
  }
  return static_cast<int64_t>(v);
}

std::string format_cpu_millis(int64_t millis) {
  if (millis % 1000 == 0) return std::to_string(millis / 1000);
  if (millis < 1000) return std::to_string(millis) + "m";
  std::string frac = std::to_string(millis % 1000);
  frac = std::string(3 - frac.size(), '0') + frac;
  while (!frac.empty() && frac.back() == '0') frac.pop_back();
  return std::to_string(millis / 1000) + "." + frac;
}

std::string format_memory_bytes(int64_t bytes) {
  static const std::array<std::string_view, 6> names = {"Ei", "Pi", "Ti", "Gi", "Mi", "Ki"};
  if (bytes == 0) return "0";
  for (size_t i = 0; i < names.size(); ++i) {
    int64_t unit = int64_t{1} << (10 * (names.size() - i));
    if (bytes % unit == 0) return std::to_string(bytes / unit) + std::string(names[i]);
  }
  return std::to_string(bytes);
}

std::string format_memory_human(int64_t bytes) {
  static const std::array<std::string_view, 5> names = {"Ki", "Mi", "Gi", "Ti", "Pi"};
  if (bytes < 1024) return std::to_string(bytes);
  double v = static_cast<double>(bytes);
  size_t i = 0;
  v /= 1024.0;
  while (v >= 1024.0 && i + 1 < names.size()) {
    v /= 1024.0;
    ++i;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%s", v, std::string(names[i]).c_str());
  return buf;
}

}  // namespace rackos

namespace rackos {

Result<int64_t> parse_duration_ms(std::string_view text) {
  Decimal d;
  const std::string hint = " (use a number and a unit: 100ms, 1.5s, 2m, 1h, 1d)";
  if (text.empty() || !split_decimal(text, d)) return Error{quoted(text) + " is not a duration" + hint};
  int128 unit = 0;
  if (d.suffix == "ms") unit = 1;
  else if (d.suffix == "s") unit = 1000;
  else if (d.suffix == "m") unit = 60'000;
  else if (d.suffix == "h") unit = 3'600'000;
  else if (d.suffix == "d") unit = 86'400'000;
  else if (d.suffix.empty()) return Error{quoted(text) + " is not a duration: the unit is missing" + hint};
  else return Error{quoted(text) + " is not a duration: unknown unit " + quoted(d.suffix) + hint};
  int128 value = d.whole * unit;
  int128 frac_part = d.frac * unit;
  if (frac_part % d.frac_scale != 0) return Error{quoted(text) + " is finer than 1ms"};
  value += frac_part / d.frac_scale;
  if (value > kInt64Max) return Error{quoted(text) + " is too long a duration"};
  return static_cast<int64_t>(value);
}

std::string format_duration_ms(int64_t ms) {
  if (ms != 0 && ms % 86'400'000 == 0) return std::to_string(ms / 86'400'000) + "d";
  if (ms != 0 && ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms != 0 && ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms >= 1000) {
    std::string s = format_cpu_millis(ms);  // same shape: whole.fraction of 1000
    return s + "s";
  }
  return std::to_string(ms) + "ms";
}

}  // namespace rackos

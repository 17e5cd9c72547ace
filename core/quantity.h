// Parsing and printing of resource quantities: CPU in millicores ("500m",
// "0.5", "32") and memory in bytes ("64Mi", "6Gi", "512G", "1.5Ti", "1048576").
// Exact integer arithmetic, no floating point; every error names the value and
// what is allowed.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.h"

namespace rackos {

// "500m" -> 500, "0.5" -> 500, "2" -> 2000. Finer than 1m is an error.
Result<int64_t> parse_cpu_millis(std::string_view text);
// "64Mi" -> 67108864, "512G" -> 512e9, "1.5Ti", "100" (bytes). Binary suffixes
// Ki Mi Gi Ti Pi Ei (also KiB..), decimal k K M G T P E (also KB..).
Result<int64_t> parse_memory_bytes(std::string_view text);
// A plain non-negative integer count ("4") for countable resources and instances.
Result<int64_t> parse_count(std::string_view text);

// Shortest exact form: 500 -> "500m", 2000 -> "2", 1500 -> "1.5".
std::string format_cpu_millis(int64_t millis);
// Largest binary unit that divides exactly: 67108864 -> "64Mi", 1000 -> "1000".
std::string format_memory_bytes(int64_t bytes);
// For humans: 1610612736 -> "1.5Gi" (rounded to one decimal).
std::string format_memory_human(int64_t bytes);

}  // namespace rackos

namespace rackos {
// "100ms", "1.5s", "2m", "1h", "1d" -> milliseconds. A unit is required.
Result<int64_t> parse_duration_ms(std::string_view text);
// 1500 -> "1.5s", 100 -> "100ms", 120000 -> "2m".
std::string format_duration_ms(int64_t ms);
}  // namespace rackos

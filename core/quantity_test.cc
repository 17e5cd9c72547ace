// Tests for CPU, memory, count and duration parsing and printing.
#include "core/quantity.h"

#include <gtest/gtest.h>

namespace rackos {
namespace {

TEST(Quantity, CpuForms) {
  EXPECT_EQ(*parse_cpu_millis("500m"), 500);
  EXPECT_EQ(*parse_cpu_millis("0.5"), 500);
  EXPECT_EQ(*parse_cpu_millis("32"), 32000);
  EXPECT_EQ(*parse_cpu_millis("1.25"), 1250);
  EXPECT_EQ(*parse_cpu_millis(".5"), 500);
  EXPECT_EQ(*parse_cpu_millis("0"), 0);
}

TEST(Quantity, CpuErrorsNameTheValue) {
  auto r = parse_cpu_millis("0.0005");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("\"0.0005\""), std::string::npos);
  EXPECT_NE(r.error().message.find("1m"), std::string::npos);
  EXPECT_FALSE(parse_cpu_millis("2x"));
  EXPECT_FALSE(parse_cpu_millis(""));
  EXPECT_FALSE(parse_cpu_millis("-1"));
  EXPECT_FALSE(parse_cpu_millis("abc"));
  EXPECT_FALSE(parse_cpu_millis("99999999999999999999"));
}

TEST(Quantity, MemoryForms) {
  EXPECT_EQ(*parse_memory_bytes("64Mi"), 64ll << 20);
  EXPECT_EQ(*parse_memory_bytes("6Gi"), 6ll << 30);
  EXPECT_EQ(*parse_memory_bytes("512G"), 512'000'000'000ll);
  EXPECT_EQ(*parse_memory_bytes("1.5Ti"), (3ll << 40) / 2);
  EXPECT_EQ(*parse_memory_bytes("1024"), 1024);
  EXPECT_EQ(*parse_memory_bytes("1k"), 1000);
  EXPECT_EQ(*parse_memory_bytes("2KiB"), 2048);
  EXPECT_EQ(*parse_memory_bytes("1GB"), 1'000'000'000);
}

TEST(Quantity, MemoryErrors) {
  auto r = parse_memory_bytes("12Q");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message.rfind("\"12Q\" is not a size", 0), 0u) << r.error().message;
  auto milli = parse_memory_bytes("64m");
  ASSERT_FALSE(milli);
  EXPECT_NE(milli.error().message.find("did you mean \"Mi\""), std::string::npos);
  EXPECT_FALSE(parse_memory_bytes("0.5"));       // half a byte
  EXPECT_FALSE(parse_memory_bytes("99999Ei"));   // overflow
  EXPECT_FALSE(parse_memory_bytes("Mi"));
}

TEST(Quantity, Counts) {
  EXPECT_EQ(*parse_count("8"), 8);
  EXPECT_FALSE(parse_count("1.5"));
  EXPECT_FALSE(parse_count("-1"));
  EXPECT_FALSE(parse_count(""));
}

TEST(Quantity, Durations) {
  EXPECT_EQ(*parse_duration_ms("100ms"), 100);
  EXPECT_EQ(*parse_duration_ms("1.5s"), 1500);
  EXPECT_EQ(*parse_duration_ms("2m"), 120000);
  EXPECT_EQ(*parse_duration_ms("1d"), 86400000);
  EXPECT_FALSE(parse_duration_ms("10"));
  EXPECT_FALSE(parse_duration_ms("10y"));
  EXPECT_EQ(format_duration_ms(1500), "1.5s");
  EXPECT_EQ(format_duration_ms(100), "100ms");
  EXPECT_EQ(format_duration_ms(120000), "2m");
}

TEST(Quantity, FormatRoundTrips) {
  for (int64_t m : {0, 1, 10, 500, 1000, 1500, 2250, 32000, 128001}) {
    EXPECT_EQ(*parse_cpu_millis(format_cpu_millis(m)), m) << m;
  }
  for (int64_t b : {0ll, 1ll, 1000ll, 1024ll, 64ll << 20, 3ll << 39, (1ll << 30) + 1}) {
    EXPECT_EQ(*parse_memory_bytes(format_memory_bytes(b)), b) << b;
  }
  EXPECT_EQ(format_cpu_millis(500), "500m");
  EXPECT_EQ(format_cpu_millis(1500), "1.5");
  EXPECT_EQ(format_memory_bytes(64ll << 20), "64Mi");
  EXPECT_EQ(format_memory_human(1610612736), "1.5Gi");
}

}  // namespace
}  // namespace rackos

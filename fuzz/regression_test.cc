// Every input the fuzzers kept (tests/data/fuzz/<target>/: crashes found and
// fixed, and the seeds) runs through the same entry points in the ordinary
// build, so a fixed crash cannot come back unnoticed.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

extern "C" int spec_fuzz_one(const uint8_t* data, size_t size);
extern "C" int node_stream_fuzz_one(const uint8_t* data, size_t size);

namespace {

size_t run_all(const std::string& dir, int (*fn)(const uint8_t*, size_t)) {
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(e.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string bytes = ss.str();
    SCOPED_TRACE(e.path().string());
    fn(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    ++n;
  }
  return n;
}

TEST(FuzzRegressions, SpecInputs) { EXPECT_GT(run_all(RACKOS_FUZZ_DATA "/spec", spec_fuzz_one), 0u); }
TEST(FuzzRegressions, NodeStreamInputs) { EXPECT_GT(run_all(RACKOS_FUZZ_DATA "/node_stream", node_stream_fuzz_one), 0u); }

}  // namespace

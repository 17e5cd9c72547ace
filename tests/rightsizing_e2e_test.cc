// End-to-end: learned mins on a real cluster. A process whose load follows a
// cycle (a busy loop for 6 s, idle for 8 s) under `cpu: auto:1`, with the
// learning window accelerated (half-life 1 s): its min follows the use up and
// down within a few cycles, in place — same pid, never restarted, checked on
// the host — and its node's unreserved min grows when the min is lowered.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/cluster_harness.h"

namespace rackos::testing {
namespace {

const std::string kBin = RACKOS_BINARY;

constexpr const char* kCyclic =
    "name: cyclic\n"
    "command: [sh, -c, 'while true; do timeout 6 sh -c \"while :; do :; done\"; sleep 8; done']\n"
    "cpu: auto:1\n"
    "memory: {min: auto, floor: 16Mi, max: 256Mi}\n";

int64_t reserved_cpu(LocalCluster& c) {
  v1::ListNodesResponse r;
  c.call([&](grpc::ClientContext* ctx) { return c.api().ListNodes(ctx, v1::ListRequest{}, &r); });
  int64_t sum = 0;
  for (const auto& n : r.nodes()) sum += n.reserved_cpu_millis();
  return sum;
}

TEST(RightsizingE2E, LearnedMinFollowsACyclicLoadInPlace) {
  ClusterOptions opt;
  opt.nodes = 1;
  opt.controller_extra = {"--learn-half-life", "1s", "--learn-lower-after", "1s", "--learn-warmup", "3s"};
  LocalCluster c(kBin, opt);
  ASSERT_TRUE(c.start()) << c.file(c.dir() + "/controller.log");
  ASSERT_EQ(c.apply(kCyclic).errors_size(), 0);
  ASSERT_TRUE(wait_until(15000, [&] { return c.running("cyclic") == 1; }));
  const auto first = c.processes("cyclic").processes(0);
  const int pid = first.pid();
  ASSERT_GT(pid, 0);
  EXPECT_TRUE(first.cpu_min_learned());
  EXPECT_EQ(first.envelope().cpu_millis().min(), 250);  // a quarter of max until use is seen

  // Watch for up to 70 s (five cycles): the min must go up with the busy
  // phase and down with the idle one, twice each, while the process runs on.
  int64_t highest = 0, lowest_after_high = INT64_MAX;
  int64_t reserved_high = 0, reserved_low = INT64_MAX;
  int ups = 0, downs = 0;
  int64_t last = first.envelope().cpu_millis().min();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(70);
  while (std::chrono::steady_clock::now() < deadline && (ups < 2 || downs < 2)) {
    ASSERT_TRUE(host_running(pid)) << "the workload stopped";
    auto ps = c.processes("cyclic");
    ASSERT_EQ(ps.processes_size(), 1);
    const auto& p = ps.processes(0);
    ASSERT_EQ(p.pid(), pid) << "restarted";
    ASSERT_EQ(p.restarts(), 0u);
    ASSERT_EQ(p.launch(), first.launch());
    const int64_t min = p.envelope().cpu_millis().min();
    const int64_t reserved = reserved_cpu(c);
    if (min >= 400) {
      highest = std::max(highest, min);
      reserved_high = std::max(reserved_high, reserved);
    }
    if (highest > 0 && min <= 150) {
      lowest_after_high = std::min(lowest_after_high, min);
      reserved_low = std::min(reserved_low, reserved);
    }
    if (min >= 400 && last < 400) ++ups;
    if (min <= 150 && last > 150) ++downs;
    last = min;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_GE(ups, 2) << c.file(c.dir() + "/controller.log");
  EXPECT_GE(downs, 2);
  EXPECT_GE(highest, 400);
  EXPECT_LE(lowest_after_high, 150);
  // The node holds the process's min: lowering it gave the rest back.
  EXPECT_LT(reserved_low, reserved_high);
  EXPECT_LE(reserved_low, 150);

  // What the operator sees: ps names the learned value, explain says why.
  auto [code, out] = c.cli("ps cyclic");
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("auto="), std::string::npos) << out;
  std::tie(code, out) = c.cli("explain cyclic");
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("cpu: min auto, now"), std::string::npos) << out;
  EXPECT_NE(out.find("last change:"), std::string::npos) << out;
  EXPECT_NE(out.find("% #"), std::string::npos) << out;  // the histogram
  EXPECT_NE(out.find("memory: min auto"), std::string::npos) << out;
  std::tie(code, out) = c.cli("explain cyclic --json");
  ASSERT_EQ(code, 0) << out;
  auto j = nlohmann::json::parse(out);
  EXPECT_GT(j["resources"][0]["samples"].get<int>(), 10);
  EXPECT_GE(j["resources"][1]["min"].get<int64_t>(), int64_t{16} << 20);  // never below its floor
  std::tie(code, out) = c.cli("explain nosuch");
  EXPECT_NE(code, 0);
  EXPECT_NE(out.find("no service \"nosuch\""), std::string::npos) << out;
  // Every change was made in place: same pid still, on the host.
  EXPECT_TRUE(host_running(pid));
}

}  // namespace
}  // namespace rackos::testing

// Tests for the compact process table: ids, reuse of slots, never of ids.
#include "core/process_table.h"

#include <gtest/gtest.h>

namespace rackos {
namespace {

TEST(ProcessTable, AddFindRemove) {
  ProcessTable t;
  ProcessId a = t.add(0, 0, 10);
  ProcessId b = t.add(0, 1, 11);
  EXPECT_EQ(t.size(), 2u);
  EXPECT_NE(a, b);
  EXPECT_EQ(t.at(a).created_ms, 10);
  EXPECT_EQ(t.at(b).instance, 1u);
  t.remove(a);
  EXPECT_EQ(t.find(a), nullptr);
  EXPECT_EQ(t.size(), 1u);
  ProcessId c = t.add(1, 0, 12);
  EXPECT_EQ(c.slot(), a.slot());  // slot reused
  EXPECT_NE(c, a);                // id not reused
  EXPECT_EQ(t.find(a), nullptr);
  EXPECT_NE(t.find(c), nullptr);
}

TEST(ProcessTable, RecordsAreCompact) {
  EXPECT_LE(sizeof(ProcessRecord), 128u);
  ProcessTable t;
  for (int i = 0; i < 100000; ++i) t.add(0, static_cast<uint32_t>(i), i);
  EXPECT_LT(t.bytes_used() / t.size(), 256u);
}

TEST(ProcessTable, InvalidIdsAreNotFound) {
  ProcessTable t;
  EXPECT_EQ(t.find(ProcessId{}), nullptr);
  EXPECT_EQ(t.find(ProcessId::make(5, 1)), nullptr);
}

TEST(ProcessTable, IterationIsInSlotOrder) {
  ProcessTable t;
  std::vector<ProcessId> ids;
  for (int i = 0; i < 10; ++i) ids.push_back(t.add(0, static_cast<uint32_t>(i), 0));
  t.remove(ids[3]);
  std::vector<uint32_t> seen;
  t.for_each([&](const ProcessRecord& r) { seen.push_back(r.id.slot()); });
  EXPECT_EQ(seen.size(), 9u);
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
}

}  // namespace
}  // namespace rackos

// The leadership lease rules: the active stops before any standby may take
// over, whatever the interleaving of renewals and observations.
#include "core/leader_lease.h"

#include <gtest/gtest.h>

namespace rackos {
namespace {

TEST(LeaderLease, TheActiveStopsBeforeAStandbyMayTakeOver) {
  LeaderLeaseConfig c;
  // Renewal sent at 1000, committed at 1030 (revision 7), seen by the standby at 1040.
  LeaderWatch w;
  observe_leader(w, 7, 1040);
  EXPECT_TRUE(leader_may_act(1000, 1400, c));
  EXPECT_FALSE(leader_may_act(1000, 1450, c));  // 1000 + 600 − 150
  EXPECT_FALSE(may_take_over(w, 1639, c));
  EXPECT_TRUE(may_take_over(w, 1640, c));       // 1040 + 600: after the active's 1450
  // Every renewal moves both points on.
  observe_leader(w, 8, 1140);
  EXPECT_FALSE(may_take_over(w, 1700, c));
  EXPECT_TRUE(may_take_over(w, 1740, c));
}

TEST(LeaderLease, NoRecordMeansAnyoneMayCampaignButNotBeforeReadingIt) {
  LeaderLeaseConfig c;
  LeaderWatch w;
  EXPECT_FALSE(may_take_over(w, 0, c));
  observe_leader(w, 0, 5);
  EXPECT_TRUE(may_take_over(w, 5, c));
  observe_leader(w, 0, 9);  // unchanged: the first sighting counts
  EXPECT_EQ(w.since_ms, 5);
}

}  // namespace
}  // namespace rackos

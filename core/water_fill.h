// Weighted water-filling: share `capacity` among claimants that each have a
// floor, a ceiling and a weight. Every claimant first gets its floor; what is
// left rises like water, in proportion to weight, until each claimant reaches
// its ceiling or nothing is left. Integer arithmetic, deterministic remainder.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace rackos {

struct FillClaim {
  int64_t floor = 0;    // given first (must be ≤ ceiling)
  int64_t ceiling = 0;  // never exceeded
  int64_t weight = 1;   // > 0
};

// Returns one amount per claim, floor ≤ amount ≤ ceiling, and
// Σ amount = min(capacity, Σ ceiling) when Σ floor ≤ capacity (work-conserving).
// When Σ floor > capacity, floors are scaled down in proportion to them.
std::vector<int64_t> water_fill(int64_t capacity, std::span<const FillClaim> claims);

}  // namespace rackos

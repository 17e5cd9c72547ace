// Weighted water-filling by sorting claimants on ceiling headroom per weight
// (see water_fill.h). O(n log n).
#include "core/water_fill.h"

#include <algorithm>
#include <numeric>

#include "core/int128.h"

namespace rackos {

std::vector<int64_t> water_fill(int64_t capacity, std::span<const FillClaim> claims) {
  const size_t n = claims.size();
  std::vector<int64_t> out(n, 0);
  if (n == 0 || capacity <= 0) return out;

  int128 floors = 0;
  for (const auto& c : claims) floors += c.floor;
  if (floors > capacity) {
    // Over-committed floors (should not happen under admission control):
    // each gets its floor scaled by capacity / Σ floor, remainder by index.
    int64_t given = 0;
    for (size_t i = 0; i < n; ++i) {
      out[i] = static_cast<int64_t>(static_cast<int128>(claims[i].floor) * capacity / floors);
      given += out[i];
    }
    for (size_t i = 0; i < n && given < capacity; ++i) {
      if (out[i] < claims[i].floor) { ++out[i]; ++given; }
    }
    return out;
  }

  int64_t left = capacity - static_cast<int64_t>(floors);
  std::vector<size_t> active;
  for (size_t i = 0; i < n; ++i) {
    out[i] = claims[i].floor;
    if (claims[i].ceiling > claims[i].floor) active.push_back(i);
  }
  // Claimants that fill up first: smallest headroom per unit of weight.
  auto headroom = [&](size_t i) { return claims[i].ceiling - claims[i].floor; };
  std::sort(active.begin(), active.end(), [&](size_t a, size_t b) {
    int128 lhs = static_cast<int128>(headroom(a)) * claims[b].weight;
    int128 rhs = static_cast<int128>(headroom(b)) * claims[a].weight;
    if (lhs != rhs) return lhs < rhs;
    return a < b;
  });
  int128 weight_left = 0;
  for (size_t i : active) weight_left += claims[i].weight;
  size_t k = 0;
  // Fill to the ceiling everyone whose fair share of what is left covers its headroom.
  for (; k < active.size() && left > 0; ++k) {
    size_t i = active[k];
    int128 share_needed = static_cast<int128>(headroom(i)) * weight_left;
    if (share_needed > static_cast<int128>(left) * claims[i].weight) break;
    out[i] += headroom(i);
    left -= headroom(i);
    weight_left -= claims[i].weight;
  }
  if (left <= 0 || k == active.size()) return out;
  // The rest share `left` by weight; none of them reaches its ceiling.
  int64_t given = 0;
  for (size_t j = k; j < active.size(); ++j) {
    size_t i = active[j];
    int64_t share = static_cast<int64_t>(static_cast<int128>(left) * claims[i].weight / weight_left);
    share = std::min(share, headroom(i));
    out[i] += share;
    given += share;
  }
  // Rounding remainder (< number of claimants): one unit each, heaviest first.
  int64_t rem = left - given;
  std::vector<size_t> order(active.begin() + static_cast<std::ptrdiff_t>(k), active.end());
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (claims[a].weight != claims[b].weight) return claims[a].weight > claims[b].weight;
    return a < b;
  });
  while (rem > 0) {
    bool any = false;
    for (size_t i : order) {
      if (rem == 0) break;
      if (out[i] < claims[i].ceiling) {
        ++out[i];
        --rem;
        any = true;
      }
    }
    if (!any) break;
  }
  return out;
}

}  // namespace rackos

// Kernels of signVote's 'reduce' mode that live in their own source (vote_lanes.cc), with their
// N-API glue; addon.cc registers them with one call.
#ifndef ZCOLL_VOTE_LANES_H
#define ZCOLL_VOTE_LANES_H

#include <napi.h>

#include <cstddef>
#include <cstdint>

namespace zcoll {

// vote_lanes.cc: count lanes of lib/compress/vote-lanes.ts (c = bit length of ranks, 32 / c lanes
// per int32 word; group g = sign words [g·L, g·L + L) -> count words [32g, 32g + 32), lane l of
// word 32g + j = bit j of sign word g·L + l).
void SpreadVoteLanes(const uint32_t* packed, size_t d, uint32_t ranks, uint32_t* out, size_t groups);
// Returns the first coordinate (of the chunk) whose lane exceeds ranks, or -1.
int64_t VotesFromLanes(const uint32_t* counts, size_t groups, uint32_t ranks, uint32_t* neg, uint32_t* ties);

// Adds spreadVoteLanes and votesFromLanes to the addon's exports.
void InitVoteLanes(Napi::Env env, Napi::Object exports);

}  // namespace zcoll

#endif  // ZCOLL_VOTE_LANES_H

// Kernels of the Signum step and of the 'reduce' vote mode that live in their own sources
// (vote_lanes.cc, signum_step.cc), each with its N-API glue; addon.cc registers them with one call.
#ifndef ZCOLL_SIGNUM_KERNELS_H
#define ZCOLL_SIGNUM_KERNELS_H

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

// signum_step.cc: Signum's momentum pass into a second buffer (the first stays untouched).
int64_t MomentumSignPackTo(const float* grad, const float* momentum, float* next, size_t n, double beta, uint32_t* out,
                           const float* params, double wd);

// Adds spreadVoteLanes, votesFromLanes and momentumSignPackTo to the addon's exports.
void InitSignumKernels(Napi::Env env, Napi::Object exports);

}  // namespace zcoll

#endif  // ZCOLL_SIGNUM_KERNELS_H

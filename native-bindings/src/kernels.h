// The numeric kernels of lib/kernels/contract.ts in C++, free of N-API so they can be read (and
// tested) as plain loops. addon.cc validates the arguments and calls these; they assume valid
// pointers and lengths. Every kernel reproduces lib/kernels/js.ts: same evaluation order per
// element, float32 results computed the way the JS kernel computes them (through double then
// rounded once, as V8 stores `f32[i] = <expression>`; Signum's passes in fp32 arithmetic with a
// rounding after every operation, which js.ts writes with Math.fround), no FMA contraction
// (binding.gyp passes -ffp-contract=off), so results match the JS kernels bit for bit.
#ifndef ZCOLL_KERNELS_H
#define ZCOLL_KERNELS_H

#include <cstddef>
#include <cstdint>

// Loops the compiler vectorises get two bodies on x86-64 Linux: the baseline (SSE2, runs on every
// x86-64 CPU) and an AVX2 one, picked once at load time by the dynamic linker (GNU ifunc). No
// -march flag is ever set for the whole file, so the binary never executes an instruction the CPU
// lacks. ZCOLL_NO_CLONES (a build define) keeps only the baseline, to test it on an AVX2 machine.
#if defined(__x86_64__) && defined(__linux__) && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(ZCOLL_NO_CLONES)
#define ZCOLL_CLONES __attribute__((target_clones("avx2", "default")))
#define ZCOLL_HAVE_CLONES 1
#else
#define ZCOLL_CLONES
#define ZCOLL_HAVE_CLONES 0
#endif

namespace zcoll {

// elementwise.cc: dst[i] = op(dst[i], src[i]); scale; divide.
void SumF32(float* dst, const float* src, size_t n);
void SumF64(double* dst, const double* src, size_t n);
void SumI32(int32_t* dst, const int32_t* src, size_t n);
void MinF32(float* dst, const float* src, size_t n);
void MinF64(double* dst, const double* src, size_t n);
void MinI32(int32_t* dst, const int32_t* src, size_t n);
void MaxF32(float* dst, const float* src, size_t n);
void MaxF64(double* dst, const double* src, size_t n);
void MaxI32(int32_t* dst, const int32_t* src, size_t n);
void ScaleF32(float* dst, size_t n, double factor);
void ScaleF64(double* dst, size_t n, double factor);
void DivideF32(float* dst, size_t n, double divisor);
void DivideF64(double* dst, size_t n, double divisor);
void DivideI32(int32_t* dst, size_t n, double divisor);
bool AllFiniteF32(const float* values, size_t n);

// sign_vote.cc: whether the explicit AVX2 code paths may run (the CPU has AVX2 and the build did not
// define ZCOLL_NO_AVX2; always false off x86-64). Checked per call by the kernels written with AVX2
// intrinsics (signPack, augmentedScores), whose SSE2 or plain paths are the fallback.
bool CpuHasAvx2();

// sign_vote.cc: 1-bit sign packing and the bit-sliced majority vote.
int64_t SignPack(const float* src, size_t n, uint32_t* out);
void VoteCount(const uint32_t* const* packed, size_t m, size_t words, uint32_t* neg_out, uint32_t* tie_out);

// signum_passes.cc: Signum's fused per-step passes and the SGD update (contract.ts documents each).
// beta, wd and lr arrive as the caller's doubles; Signum's passes round them to fp32 once (the
// momentum's gain as fp32(1 - beta), 1 - beta in double) and compute in fp32 from there.
int64_t FirstNonFinite(const float* src, size_t n);
// params may be nullptr (no weight decay inside the momentum); returns the first non-finite new m or -1.
int64_t MomentumSignPack(const float* grad, float* momentum, size_t n, double beta, uint32_t* out,
                         const float* params, double wd);
// momentum is only read; the new one goes to next (no overlap with any other argument). Returns the
// first i whose g[i] (or x[i]) is NaN/Inf; else the first i whose next[i] overflowed fp32; else -1.
int64_t MomentumSignPackTo(const float* grad, const float* momentum, float* next, size_t n, double beta, uint32_t* out,
                           const float* params, double wd);
void SignApply(float* params, size_t n, const uint32_t* votes, double lr, double wd);
// The portable loop of SignApply (the fallback without AVX2), exported for the baseline build's tests.
void SignApplyPortable(float* params, size_t n, const uint32_t* votes, double lr, double wd);
void Axpy(float* y, size_t n, double alpha, const float* x);

// distances.cc: squared distances to a center and weighted sums of float32 points.
void SqDistancesF32(const float* const* points, size_t np, const float* center, size_t d, double* out);
void SqDistancesF64(const float* const* points, size_t np, const double* center, size_t d, double* out);
void WeightedSumF32(const float* const* points, size_t np, const double* weights, float* out, size_t d);
void WeightedSumF64(const float* const* points, size_t np, const double* weights, double* out, size_t d);
// out = weighted sum / divisor; returns sum (out - previous)^2 (0 without previous); fills the points'
// squared distances to out when distances is not null. out must not share memory with any argument.
double WeiszfeldStep(const float* const* points, size_t np, const double* weights, double divisor, double* out,
                     size_t d, const double* previous, double* distances);

// select_kth.cc: quickselect with the JS kernel's pivots, so it reorders exactly as js.ts does.
double SelectKthF32(float* values, size_t n, size_t k);
double SelectKthF64(double* values, size_t n, size_t k);
// top_k.cc: the indices of the k largest values, ascending (ties to the lowest indices); false when out of memory.
bool TopKIndices(const double* values, size_t n, size_t k, uint32_t* out);

// bgmd_passes.cc: BGMD's passes over all n x d values (score the augmented rows reading only, and
// collect the selection's candidates; then write the augmented rows and move the selected columns
// out). Arrays that are written must not share memory with any other argument (addon.cc checks).
struct AugmentedScoresArgs {
  const float* const* memory;
  const float* const* gradients;
  size_t rows;
  size_t length;
  float lr;
  double* scores;  // length doubles, or nullptr
  float threshold;
  size_t capacity;  // candidates at most; 0: none collected
  uint32_t* cand_index;
  double* cand_score;
  float* const* cand_values;  // ColumnScores only: rows arrays of capacity floats, or nullptr
};
// Returns -2 when some score is NaN or +-Inf, else -1 when there were more than capacity
// candidates, else their number (0 without candidates). Scores and candidates are written either way.
int64_t AugmentedScores(const AugmentedScoresArgs& args);
// AugmentedScores with a = gradients[p][j] (memory unused): rows augmented by their workers. With
// cand_values, candidate c's column goes to cand_values[p][c] for every row p.
int64_t ColumnScores(const AugmentedScoresArgs& args);
// out[j] = fround(fround(lr g[j]) + memory[j]) for j < d; true iff every g[j] is finite.
bool AugmentRow(const float* memory, const float* gradient, size_t d, float lr, float* out);
// out[p][t] = float(double(rows[p][indices[t]]) / divisor) for p < np, t < k (indices ascending).
void GatherColumns(const float* const* rows, size_t np, const uint32_t* indices, size_t k, double divisor, float* const* out);
void AugmentAndExtract(float* const* memory, const size_t* lengths, const float* const* gradients, size_t np, float lr,
                       const uint32_t* indices, size_t k, double divisor, float* const* out);

// Which instruction set the vectorised loops run with on this CPU ("avx2", "sse2" or "generic").
const char* SimdLevel();

}  // namespace zcoll

#endif  // ZCOLL_KERNELS_H

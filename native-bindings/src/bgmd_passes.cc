// The passes of one BGMD round (lib/robust/bgmd.ts; Acharya et al., AISTATS 2022) that touch all
// n x d values, so that they run at memory speed instead of being JavaScript loops:
//  - AugmentedScores: scores[j] = sum_p a_p[j]^2 with a_p[j] = float(lr * g_p[j] + m_p[j]), reading
//    only (8 bytes per value). Nothing is written to the memory, so a row found non-finite here
//    leaves its memory as it was, and the caller's NaN/Inf screen of the gradients needs no pass of
//    its own: a non-finite gradient makes its a, hence its score, non-finite, and the return value
//    says so (the caller then finds the rows, a rare path).
//  - AugmentAndExtract: after the selection, one streaming pass per row writes a_p into the memory
//    and moves the selected columns out (out_p[t] = float(a_p[idx[t]] / divisor), then 0 in the
//    memory). 12 bytes per value, sequential, instead of a second, scattered pass over the cache
//    lines holding the selection.
//    Recomputing a costs arithmetic, not memory traffic: the former in-place augment pass plus the
//    separate screen and the scattered extraction moved 16 bytes per value and more.
// Evaluation order and rounding are those of lib/kernels/js.ts: float32 values widened to double,
// the arithmetic in double, one rounding to float32 where JS applies Math.fround or stores into a
// Float32Array; scores accumulate in double over p = 0..np-1 for each j, starting from 0. No FMA
// (-ffp-contract=off), so the results are the JS ones bit for bit. addon.cc rejects arrays that
// share memory where one of them is written, which is what makes __restrict below true.
#include "kernels.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define ZCOLL_BGMD_AVX2 1
#else
#define ZCOLL_BGMD_AVX2 0
#endif

namespace zcoll {
namespace {

// 4096 doubles (32 KiB) of scores per block: the four rows of a sweep stream 16 KiB each through
// it. Blocks of 2048 were measurably slower (row switches every 8 KiB defeat the prefetchers).
constexpr size_t kScoreBlock = 4096;
// Coordinates per chunk of AugmentAndExtract: the chunk's memory is still in L1 when the selected
// columns inside it are moved out.
constexpr size_t kExtractChunk = 2048;

inline __attribute__((always_inline)) double AugmentedSquare(double lr, float g, float m) {
  const float a = static_cast<float>(lr * static_cast<double>(g) + static_cast<double>(m));
  const double w = static_cast<double>(a);
  return w * w;
}

// Adds four rows to a block of scores (or starts it from 0 when kFirst): one load and one store of
// each score per four rows, the four squares still added one by one in ascending p.
template <bool kFirst>
inline __attribute__((always_inline)) void ScoreFourRows(const float* const* m, const float* const* g, size_t j0,
                                                         double lr, double* __restrict s, size_t cols) {
  const float* __restrict m0 = m[0] + j0;
  const float* __restrict m1 = m[1] + j0;
  const float* __restrict m2 = m[2] + j0;
  const float* __restrict m3 = m[3] + j0;
  const float* __restrict g0 = g[0] + j0;
  const float* __restrict g1 = g[1] + j0;
  const float* __restrict g2 = g[2] + j0;
  const float* __restrict g3 = g[3] + j0;
  for (size_t c = 0; c < cols; c++) {
    double acc = kFirst ? 0.0 : s[c];
    acc += AugmentedSquare(lr, g0[c], m0[c]);
    acc += AugmentedSquare(lr, g1[c], m1[c]);
    acc += AugmentedSquare(lr, g2[c], m2[c]);
    acc += AugmentedSquare(lr, g3[c], m3[c]);
    s[c] = acc;
  }
}

#if ZCOLL_BGMD_AVX2
// ScoreFourRows in AVX2 intrinsics, the same operations in the same order (widen g and m, lr * g,
// + m, round to float, widen, square, add to the score). Written out because the compiler's AVX2
// clone loads every float vector twice (a widening 128-bit load for the low half, a 256-bit load
// and an extract for the high half); this pass is bound by that arithmetic as much as by memory,
// and the explicit loop measured ~10 % faster at d = 10M (70 vs 80 ms for 16 rows).
__attribute__((target("avx2"))) inline __m256d AugmentedSquare4(__m256d lr, const float* g, const float* m) {
  const __m256d x = _mm256_add_pd(_mm256_mul_pd(lr, _mm256_cvtps_pd(_mm_loadu_ps(g))), _mm256_cvtps_pd(_mm_loadu_ps(m)));
  const __m256d w = _mm256_cvtps_pd(_mm256_cvtpd_ps(x));
  return _mm256_mul_pd(w, w);
}

template <bool kFirst>
__attribute__((target("avx2"))) void ScoreFourRowsAvx2(const float* const* m, const float* const* g, size_t j0,
                                                        double lr_value, double* s, size_t cols) {
  const __m256d lr = _mm256_set1_pd(lr_value);
  const float* m0 = m[0] + j0;
  const float* m1 = m[1] + j0;
  const float* m2 = m[2] + j0;
  const float* m3 = m[3] + j0;
  const float* g0 = g[0] + j0;
  const float* g1 = g[1] + j0;
  const float* g2 = g[2] + j0;
  const float* g3 = g[3] + j0;
  size_t c = 0;
  for (; c + 4 <= cols; c += 4) {
    __m256d acc = kFirst ? _mm256_setzero_pd() : _mm256_loadu_pd(s + c);
    acc = _mm256_add_pd(acc, AugmentedSquare4(lr, g0 + c, m0 + c));
    acc = _mm256_add_pd(acc, AugmentedSquare4(lr, g1 + c, m1 + c));
    acc = _mm256_add_pd(acc, AugmentedSquare4(lr, g2 + c, m2 + c));
    acc = _mm256_add_pd(acc, AugmentedSquare4(lr, g3 + c, m3 + c));
    _mm256_storeu_pd(s + c, acc);
  }
  // The tail (fewer than 4 columns): the scalar sweep, same operations.
  ScoreFourRows<kFirst>(m, g, j0 + c, lr_value, s + c, cols - c);
}
#endif

// One sweep of four rows over a block: the AVX2 loop when the CPU has it, else the compiler's.
template <bool kFirst>
inline __attribute__((always_inline)) void ScoreFour(const float* const* m, const float* const* g, size_t j0, double lr,
                                                     double* s, size_t cols, bool avx2) {
#if ZCOLL_BGMD_AVX2
  if (avx2) {
    ScoreFourRowsAvx2<kFirst>(m, g, j0, lr, s, cols);
    return;
  }
#endif
  ScoreFourRows<kFirst>(m, g, j0, lr, s, cols);
}

template <bool kFirst>
inline __attribute__((always_inline)) void ScoreOneRow(const float* m, const float* g, size_t j0, double lr,
                                                       double* __restrict s, size_t cols) {
  const float* __restrict mr = m + j0;
  const float* __restrict gr = g + j0;
  for (size_t c = 0; c < cols; c++) s[c] = (kFirst ? 0.0 : s[c]) + AugmentedSquare(lr, gr[c], mr[c]);
}

}  // namespace

ZCOLL_CLONES bool AugmentedScores(const float* const* memory, const float* const* gradients, size_t np, double lr,
                                  double* scores, size_t d) {
  const bool avx2 = CpuHasAvx2();
  int nonfinite = 0;
  for (size_t j0 = 0; j0 < d; j0 += kScoreBlock) {
    const size_t cols = d - j0 < kScoreBlock ? d - j0 : kScoreBlock;
    double* __restrict s = scores + j0;
    size_t p = 0;
    if (np >= 4) {
      ScoreFour<true>(memory, gradients, j0, lr, s, cols, avx2);
      for (p = 4; p + 4 <= np; p += 4) ScoreFour<false>(memory + p, gradients + p, j0, lr, s, cols, avx2);
    } else if (np >= 1) {
      ScoreOneRow<true>(memory[0], gradients[0], j0, lr, s, cols);
      p = 1;
    } else {
      for (size_t c = 0; c < cols; c++) s[c] = 0;
    }
    for (; p < np; p++) ScoreOneRow<false>(memory[p], gradients[p], j0, lr, s, cols);
    // The block is in L1: x - x is NaN exactly for NaN and +-Inf (no early exit, an OR reduction).
    for (size_t c = 0; c < cols; c++) nonfinite |= (s[c] - s[c] == 0.0) ? 0 : 1;
  }
  return nonfinite == 0;
}

ZCOLL_CLONES void AugmentAndExtract(float* const* memory, const size_t* lengths, const float* const* gradients,
                                    size_t np, double lr, const uint32_t* indices, size_t k, double divisor,
                                    float* const* out) {
  for (size_t p = 0; p < np; p++) {
    float* __restrict m = memory[p];
    const float* __restrict g = gradients[p];
    float* __restrict dst = out[p];
    const size_t d = lengths[p];
    size_t t = 0;
    for (size_t j0 = 0; j0 < d; j0 += kExtractChunk) {
      const size_t j1 = d - j0 < kExtractChunk ? d : j0 + kExtractChunk;
      for (size_t j = j0; j < j1; j++) m[j] = static_cast<float>(lr * static_cast<double>(g[j]) + static_cast<double>(m[j]));
      // Indices are ascending: the ones inside this chunk come next. Gather first, divide after in
      // a loop the compiler vectorises (out holds the float a exactly, so the quotient is the same).
      const size_t t0 = t;
      for (; t < k && indices[t] < j1; t++) {
        const uint32_t j = indices[t];
        dst[t] = m[j];
        m[j] = 0;
      }
      for (size_t u = t0; u < t; u++) dst[u] = static_cast<float>(static_cast<double>(dst[u]) / divisor);
    }
  }
}

}  // namespace zcoll

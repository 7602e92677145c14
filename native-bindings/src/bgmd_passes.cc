// The passes of one BGMD round (lib/robust/bgmd.ts; Acharya et al., AISTATS 2022) that touch all
// n x d values, so that they run at memory speed instead of being JavaScript loops:
//  - AugmentScore: m_p[j] = float(lr * g_p[j] + m_p[j]) in place and scores[j] = sum_p m_p[j]^2.
//    One read of g and m and one write of m (12 bytes per value); the scores of a block of
//    coordinates stay in L1 while every row adds to it, so they cost one store per coordinate.
//  - ExtractColumns: out_p[t] = float(rows_p[idx[t]] / divisor), then rows_p[idx[t]] = 0.
//    Reads and writes only the cache lines holding a selected index (one pass, not two).
// Evaluation order and rounding are those of lib/kernels/js.ts: float32 values widened to double,
// the arithmetic in double, one rounding to float32 where JS applies Math.fround or stores into a
// Float32Array; scores accumulate in double over p = 0..np-1 for each j, starting from 0. No FMA
// (-ffp-contract=off), so the results are the JS ones bit for bit.
// No __restrict: when rows overlap, the compiler's run-time alias check keeps the plain loop.
#include "kernels.h"

namespace zcoll {
namespace {

// 2048 doubles (16 KiB) of scores stay in L1 next to the streaming rows.
constexpr size_t kScoreBlock = 2048;

inline __attribute__((always_inline)) void AugmentBlock(float* m, const float* g, double lr, double* s,
                                                        size_t cols) {
  for (size_t c = 0; c < cols; c++) {
    const float a = static_cast<float>(lr * static_cast<double>(g[c]) + static_cast<double>(m[c]));
    m[c] = a;
    const double w = static_cast<double>(a);
    s[c] += w * w;
  }
}

}  // namespace

ZCOLL_CLONES void AugmentScore(float* const* memory, const float* const* gradients, size_t np, double lr,
                               double* scores, size_t d) {
  for (size_t j0 = 0; j0 < d; j0 += kScoreBlock) {
    const size_t cols = d - j0 < kScoreBlock ? d - j0 : kScoreBlock;
    double* s = scores + j0;
    for (size_t c = 0; c < cols; c++) s[c] = 0;
    for (size_t p = 0; p < np; p++) AugmentBlock(memory[p] + j0, gradients[p] + j0, lr, s, cols);
  }
}

void ExtractColumns(float* const* rows, size_t np, const uint32_t* indices, size_t k, double divisor,
                    float* const* out) {
  for (size_t p = 0; p < np; p++) {
    float* row = rows[p];
    float* dst = out[p];
    for (size_t t = 0; t < k; t++) {
      const uint32_t j = indices[t];
      dst[t] = static_cast<float>(static_cast<double>(row[j]) / divisor);
      row[j] = 0;
    }
  }
}

}  // namespace zcoll

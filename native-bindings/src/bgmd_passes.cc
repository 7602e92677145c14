// The passes of one BGMD round (lib/robust/bgmd.ts; Acharya et al., AISTATS 2022) that touch all
// n x d values, so that they run at memory speed instead of being JavaScript loops:
//  - AugmentedScores: s_j = float32 sum over p of fround(a_p[j]^2), a_p[j] = fround(fround(lr g_p[j]) +
//    m_p[j]), reading only (8 bytes per value). Nothing is written to the memory, so a row found
//    non-finite here leaves its memory as it was, and the caller's NaN/Inf screen of the gradients
//    needs no pass of its own: a non-finite gradient makes its a, hence its score, non-finite.
//    It writes the scores (widened to double) when asked, and collects the candidates of the
//    selection: every j with s_j >= threshold (or NaN), its index and score, in ascending j. With a
//    threshold at most the k-th largest score, the top k of the candidates are the top k of all d,
//    so the selection reads ~1.3 k scores instead of d (the caller checks the count).
//  - ColumnScores: the same pass over rows that are already augmented (a_p = rows[p], the memory
//    kept by each worker, lib/robust/bgmd-residual.ts): 4 bytes read per value, and the candidates'
//    columns copied out too, so the aggregator gathers its block from them.
//  - AugmentRow: one worker's a = fround(fround(lr g) + m) into a buffer of its own, with the NaN/Inf
//    check of g (BgmdResidual.augment).
//  - GatherColumns: the selected columns of such rows (or of the candidates' columns), divided.
//  - AugmentAndExtract: after the selection, one streaming pass per row writes a_p into the memory
//    and moves the selected columns out (out_p[t] = float(a_p[idx[t]] / divisor), then 0 in the
//    memory). 12 bytes per value, sequential.
// Float32 arithmetic, as the reference code's torch tensors use, and as JS computes it with
// Math.fround after each operation (exact: double carries more than 2 x 24 + 2 bits, so one float
// + or * through double rounds the same). No FMA (-ffp-contract=off), so the results are the JS
// ones bit for bit. addon.cc rejects arrays that share memory where one of them is written, which
// is what makes __restrict below true.
#include "kernels.h"

#include <vector>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(ZCOLL_NO_AVX2)
#include <immintrin.h>
#define ZCOLL_BGMD_AVX2 1
#else
#define ZCOLL_BGMD_AVX2 0
#endif

namespace zcoll {
namespace {

// 16384 coordinates (64 KiB of float32 per row) per block: each row's part is a long sequential
// run, so the prefetchers keep up when a sweep moves to the next rows (in a bandwidth probe on the
// benchmark VM, 4096-coordinate blocks ran 12 % slower at n = 16, d = 10M), and the block's
// scores (64 KiB) stay in L2 while every row adds to them.
constexpr size_t kScoreBlock = 16384;
// Coordinates per chunk of AugmentAndExtract: the chunk's memory is still in L1 when the selected
// columns inside it are moved out.
constexpr size_t kExtractChunk = 2048;

// kMem false: the rows are already augmented (the memory lives at the workers, ColumnScores), a = g.
template <bool kMem>
inline __attribute__((always_inline)) float Augmented(float lr, float g, float m) { return kMem ? lr * g + m : g; }

// Adds four rows to a block of scores (or starts it when kFirst), the squares added one by one in
// ascending p: the scalar form, also the tail of the AVX2 loop.
template <bool kFirst, bool kMem>
inline __attribute__((always_inline)) void ScoreFourRows(const float* const* m, const float* const* g, size_t j0,
                                                         float lr, float* __restrict s, size_t cols) {
  const float* __restrict m0 = m[0] + j0;
  const float* __restrict m1 = m[1] + j0;
  const float* __restrict m2 = m[2] + j0;
  const float* __restrict m3 = m[3] + j0;
  const float* __restrict g0 = g[0] + j0;
  const float* __restrict g1 = g[1] + j0;
  const float* __restrict g2 = g[2] + j0;
  const float* __restrict g3 = g[3] + j0;
  for (size_t c = 0; c < cols; c++) {
    const float a0 = Augmented<kMem>(lr, g0[c], m0[c]);
    const float a1 = Augmented<kMem>(lr, g1[c], m1[c]);
    const float a2 = Augmented<kMem>(lr, g2[c], m2[c]);
    const float a3 = Augmented<kMem>(lr, g3[c], m3[c]);
    float acc = kFirst ? a0 * a0 : s[c] + a0 * a0;
    acc += a1 * a1;
    acc += a2 * a2;
    acc += a3 * a3;
    s[c] = acc;
  }
}

#if ZCOLL_BGMD_AVX2
template <bool kMem>
__attribute__((target("avx2"))) inline __m256 Square8(__m256 lr, const float* g, const float* m) {
  const __m256 a = kMem ? _mm256_add_ps(_mm256_mul_ps(lr, _mm256_loadu_ps(g)), _mm256_loadu_ps(m)) : _mm256_loadu_ps(g);
  return _mm256_mul_ps(a, a);
}

// ScoreFourRows eight coordinates at a time, the same operations in the same order.
template <bool kFirst, bool kMem>
__attribute__((target("avx2"))) void ScoreFourRowsAvx2(const float* const* m, const float* const* g, size_t j0,
                                                        float lr_value, float* s, size_t cols) {
  const __m256 lr = _mm256_set1_ps(lr_value);
  const float* m0 = m[0] + j0;
  const float* m1 = m[1] + j0;
  const float* m2 = m[2] + j0;
  const float* m3 = m[3] + j0;
  const float* g0 = g[0] + j0;
  const float* g1 = g[1] + j0;
  const float* g2 = g[2] + j0;
  const float* g3 = g[3] + j0;
  size_t c = 0;
  for (; c + 8 <= cols; c += 8) {
    __m256 acc = Square8<kMem>(lr, g0 + c, m0 + c);
    if (!kFirst) acc = _mm256_add_ps(_mm256_loadu_ps(s + c), acc);
    acc = _mm256_add_ps(acc, Square8<kMem>(lr, g1 + c, m1 + c));
    acc = _mm256_add_ps(acc, Square8<kMem>(lr, g2 + c, m2 + c));
    acc = _mm256_add_ps(acc, Square8<kMem>(lr, g3 + c, m3 + c));
    _mm256_storeu_ps(s + c, acc);
  }
  ScoreFourRows<kFirst, kMem>(m, g, j0 + c, lr_value, s + c, cols - c);
}

// ColumnScores' sweep of eight rows (twice the four-row sweep's streams, which reads only 4 bytes
// per value): the same additions in the same order as two four-row sweeps.
template <bool kFirst>
__attribute__((target("avx2"))) void ScoreEightRowsAvx2(const float* const* g, size_t j0, float* s, size_t cols) {
  const __m256 unused = _mm256_setzero_ps();
  const float* r[8];
  for (size_t q = 0; q < 8; q++) r[q] = g[q] + j0;
  size_t c = 0;
  for (; c + 8 <= cols; c += 8) {
    __m256 acc = Square8<false>(unused, r[0] + c, nullptr);
    if (!kFirst) acc = _mm256_add_ps(_mm256_loadu_ps(s + c), acc);
    for (size_t q = 1; q < 8; q++) acc = _mm256_add_ps(acc, Square8<false>(unused, r[q] + c, nullptr));
    _mm256_storeu_ps(s + c, acc);
  }
  ScoreFourRows<kFirst, false>(g, g, j0 + c, 0.0f, s + c, cols - c);
  ScoreFourRows<false, false>(g + 4, g + 4, j0 + c, 0.0f, s + c, cols - c);
}

// For each 8-bit lane mask, the positions of its set bits, packed low (the rest 0): CollectAvx2
// writes a chunk's hits with one store instead of a branch per hit (~1 hit in 8 lanes mispredicts).
struct CompressTable {
  uint8_t at[256][8];
  constexpr CompressTable() : at() {
    for (unsigned m = 0; m < 256; m++) {
      unsigned n = 0;
      for (unsigned b = 0; b < 8; b++) {
        if ((m >> b) & 1) at[m][n++] = static_cast<uint8_t>(b);
      }
    }
  }
};
constexpr CompressTable kCompress;

// Positions c < cols with s[c] >= threshold or s[c] NaN, ascending, eight lanes at a time. found
// has room for 8 entries past the last hit (a chunk's store always writes 8).
__attribute__((target("avx2"))) size_t CollectAvx2(const float* s, size_t cols, float threshold, uint32_t* found) {
  const __m256 t = _mm256_set1_ps(threshold);
  size_t count = 0;
  size_t c = 0;
  for (; c + 8 <= cols; c += 8) {
    // NLT_UQ: not (s < t), true for s >= t and for NaN.
    const unsigned bits = static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(s + c), t, _CMP_NLT_UQ)));
    const __m256i lanes = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(kCompress.at[bits])));
    const __m256i at = _mm256_add_epi32(lanes, _mm256_set1_epi32(static_cast<int>(c)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(found + count), at);
    count += static_cast<size_t>(__builtin_popcount(bits));
  }
  for (; c < cols; c++) {
    if (!(s[c] < threshold)) found[count++] = static_cast<uint32_t>(c);
  }
  return count;
}
#endif

// Whether some s[c] is NaN or +-Inf: s * 0 is NaN exactly for those, and NaN sticks in a sum. Eight
// independent sums, so the loop is not one chain of dependent adds (whether a NaN appears does not
// depend on the order).
inline bool AnyNonFinite(const float* s, size_t cols) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t c = 0;
  for (; c + 8 <= cols; c += 8) {
    for (size_t l = 0; l < 8; l++) acc[l] += s[c + l] * 0.0f;
  }
  for (; c < cols; c++) acc[0] += s[c] * 0.0f;
  float total = 0.0f;
  for (float v : acc) total += v;
  return total != 0.0f;
}

size_t CollectScalar(const float* s, size_t cols, float threshold, uint32_t* found) {
  size_t count = 0;
  for (size_t c = 0; c < cols; c++) {
    if (!(s[c] < threshold)) found[count++] = static_cast<uint32_t>(c);
  }
  return count;
}

// One sweep of four rows over a block: the AVX2 loop when the CPU has it, else the compiler's.
template <bool kFirst, bool kMem>
inline __attribute__((always_inline)) void ScoreFour(const float* const* m, const float* const* g, size_t j0, float lr,
                                                     float* s, size_t cols, bool avx2) {
#if ZCOLL_BGMD_AVX2
  if (avx2) {
    ScoreFourRowsAvx2<kFirst, kMem>(m, g, j0, lr, s, cols);
    return;
  }
#endif
  ScoreFourRows<kFirst, kMem>(m, g, j0, lr, s, cols);
}

template <bool kFirst, bool kMem>
inline __attribute__((always_inline)) void ScoreOneRow(const float* m, const float* g, size_t j0, float lr,
                                                       float* __restrict s, size_t cols) {
  const float* __restrict mr = m + j0;
  const float* __restrict gr = g + j0;
  for (size_t c = 0; c < cols; c++) {
    const float a = Augmented<kMem>(lr, gr[c], mr[c]);
    s[c] = kFirst ? a * a : s[c] + a * a;
  }
}

}  // namespace

namespace {

// AugmentedScores (kMem) and ColumnScores (!kMem: memory is not read, a = gradients[p][j]).
template <bool kMem>
inline __attribute__((always_inline)) int64_t ScoreColumns(const AugmentedScoresArgs& args) {
  const bool avx2 = CpuHasAvx2() && ZCOLL_BGMD_AVX2;
  const size_t np = args.rows;
  const size_t d = args.length;
  const float lr = args.lr;
  const float* const* gradients = args.gradients;
  const float* const* memory = kMem ? args.memory : gradients;
  std::vector<float> block(kScoreBlock);
  std::vector<uint32_t> found(args.capacity > 0 ? kScoreBlock + 8 : 0);
  float* s = block.data();
  bool nonfinite = false;
  size_t count = 0;
  bool overflow = false;
  for (size_t j0 = 0; j0 < d; j0 += kScoreBlock) {
    const size_t cols = d - j0 < kScoreBlock ? d - j0 : kScoreBlock;
    size_t p = 0;
#if ZCOLL_BGMD_AVX2
    if (!kMem && avx2 && np >= 8) {
      ScoreEightRowsAvx2<true>(gradients, j0, s, cols);
      for (p = 8; p + 8 <= np; p += 8) ScoreEightRowsAvx2<false>(gradients + p, j0, s, cols);
      for (; p + 4 <= np; p += 4) ScoreFour<false, kMem>(memory + p, gradients + p, j0, lr, s, cols, avx2);
    } else
#endif
    if (np >= 4) {
      ScoreFour<true, kMem>(memory, gradients, j0, lr, s, cols, avx2);
      for (p = 4; p + 4 <= np; p += 4) ScoreFour<false, kMem>(memory + p, gradients + p, j0, lr, s, cols, avx2);
    } else if (np >= 1) {
      ScoreOneRow<true, kMem>(memory[0], gradients[0], j0, lr, s, cols);
      p = 1;
    } else {
      for (size_t c = 0; c < cols; c++) s[c] = 0.0f;
    }
    for (; p < np; p++) ScoreOneRow<false, kMem>(memory[p], gradients[p], j0, lr, s, cols);
    if (AnyNonFinite(s, cols)) nonfinite = true;
    if (args.scores != nullptr) {
      for (size_t c = 0; c < cols; c++) args.scores[j0 + c] = static_cast<double>(s[c]);
    }
    if (args.capacity == 0 || overflow) continue;
#if ZCOLL_BGMD_AVX2
    const size_t hits = avx2 ? CollectAvx2(s, cols, args.threshold, found.data()) : CollectScalar(s, cols, args.threshold, found.data());
#else
    const size_t hits = CollectScalar(s, cols, args.threshold, found.data());
#endif
    if (count + hits > args.capacity) {
      overflow = true;
      continue;
    }
    for (size_t h = 0; h < hits; h++) {
      args.cand_index[count + h] = static_cast<uint32_t>(j0 + found[h]);
      args.cand_score[count + h] = static_cast<double>(s[found[h]]);
    }
    // The candidates' columns, while the block's rows are still in L2 (16 rows x 64 KiB): the
    // selected block is then gathered from ~1.2 k columns instead of from all of d.
    if (!kMem && args.cand_values != nullptr) {
      for (size_t q = 0; q < np; q++) {
        const float* __restrict row = gradients[q] + j0;
        float* __restrict dst = args.cand_values[q] + count;
        for (size_t h = 0; h < hits; h++) dst[h] = row[found[h]];
      }
    }
    count += hits;
  }
  if (nonfinite) return -2;
  return overflow ? -1 : static_cast<int64_t>(count);
}

}  // namespace

ZCOLL_CLONES int64_t AugmentedScores(const AugmentedScoresArgs& args) { return ScoreColumns<true>(args); }

ZCOLL_CLONES int64_t ColumnScores(const AugmentedScoresArgs& args) { return ScoreColumns<false>(args); }

// dst[t] = float(double(dst[t]) / divisor) for t < k. When the divisor is a float32 (BGMD's lr is),
// a float32 division gives the same bits at twice the lanes: for float operands, rounding the double
// quotient to float is the correctly rounded float quotient (53 >= 2 x 24 + 2 bits, as for JS's
// Math.fround after a double operation).
inline __attribute__((always_inline)) void DivideInPlace(float* __restrict dst, size_t k, double divisor) {
  const float f = static_cast<float>(divisor);
  if (static_cast<double>(f) == divisor) {
    for (size_t t = 0; t < k; t++) dst[t] = dst[t] / f;
  } else {
    for (size_t t = 0; t < k; t++) dst[t] = static_cast<float>(static_cast<double>(dst[t]) / divisor);
  }
}

ZCOLL_CLONES void GatherColumns(const float* const* rows, size_t np, const uint32_t* indices, size_t k, double divisor,
                                float* const* out) {
  for (size_t p = 0; p < np; p++) {
    const float* __restrict row = rows[p];
    float* __restrict dst = out[p];
    // Gather, then divide in a loop the compiler vectorises (as AugmentAndExtract does).
    for (size_t t = 0; t < k; t++) dst[t] = row[indices[t]];
    DivideInPlace(dst, k, divisor);
  }
}

#if ZCOLL_BGMD_AVX2
// AugmentRow with non-temporal stores: out is written once and read next round, after the whole row
// (tens of MB) went through the cache, so storing around it saves the read-for-ownership of every line.
__attribute__((target("avx2"))) bool AugmentRowStream(const float* m, const float* g, size_t d, float lr_value, float* a) {
  const __m256 lr = _mm256_set1_ps(lr_value);
  const __m256 zero = _mm256_setzero_ps();
  __m256 acc = zero;
  size_t j = 0;
  for (; j < d && (reinterpret_cast<uintptr_t>(a + j) & 31) != 0; j++) {
    a[j] = Augmented<true>(lr_value, g[j], m[j]);
    acc = _mm256_add_ps(acc, _mm256_set1_ps(g[j] * 0.0f));
  }
  for (; j + 8 <= d; j += 8) {
    const __m256 gv = _mm256_loadu_ps(g + j);
    _mm256_stream_ps(a + j, _mm256_add_ps(_mm256_mul_ps(lr, gv), _mm256_loadu_ps(m + j)));
    acc = _mm256_add_ps(acc, _mm256_mul_ps(gv, zero));
  }
  for (; j < d; j++) {
    a[j] = Augmented<true>(lr_value, g[j], m[j]);
    acc = _mm256_add_ps(acc, _mm256_set1_ps(g[j] * 0.0f));
  }
  _mm_sfence();
  float lanes[8];
  _mm256_storeu_ps(lanes, acc);
  float total = 0.0f;
  for (float v : lanes) total += v;
  return total == 0.0f;
}
#endif

ZCOLL_CLONES bool AugmentRow(const float* memory, const float* gradient, size_t d, float lr, float* out) {
#if ZCOLL_BGMD_AVX2
  // Rows past the last-level cache only; a short row's a is read back while still cached.
  if (d * sizeof(float) >= (size_t{8} << 20) && CpuHasAvx2()) return AugmentRowStream(memory, gradient, d, lr, out);
#endif
  const float* __restrict m = memory;
  const float* __restrict g = gradient;
  float* __restrict a = out;
  // g * 0 is NaN exactly for NaN and +-Inf; eight independent sums (see AnyNonFinite).
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t j = 0;
  for (; j + 8 <= d; j += 8) {
    for (size_t l = 0; l < 8; l++) {
      a[j + l] = Augmented<true>(lr, g[j + l], m[j + l]);
      acc[l] += g[j + l] * 0.0f;
    }
  }
  for (; j < d; j++) {
    a[j] = Augmented<true>(lr, g[j], m[j]);
    acc[0] += g[j] * 0.0f;
  }
  float total = 0.0f;
  for (float v : acc) total += v;
  return total == 0.0f;
}

ZCOLL_CLONES void AugmentAndExtract(float* const* memory, const size_t* lengths, const float* const* gradients,
                                    size_t np, float lr, const uint32_t* indices, size_t k, double divisor,
                                    float* const* out) {
  for (size_t p = 0; p < np; p++) {
    float* __restrict m = memory[p];
    const float* __restrict g = gradients[p];
    float* __restrict dst = out[p];
    const size_t d = lengths[p];
    size_t t = 0;
    for (size_t j0 = 0; j0 < d; j0 += kExtractChunk) {
      const size_t j1 = d - j0 < kExtractChunk ? d : j0 + kExtractChunk;
      for (size_t j = j0; j < j1; j++) m[j] = Augmented<true>(lr, g[j], m[j]);
      // Indices are ascending: the ones inside this chunk come next. Gather first, divide after in
      // a loop the compiler vectorises (out holds the float a exactly, so the quotient is the same).
      const size_t t0 = t;
      for (; t < k && indices[t] < j1; t++) {
        const uint32_t j = indices[t];
        dst[t] = m[j];
        m[j] = 0;
      }
      DivideInPlace(dst + t0, t - t0, divisor);
    }
  }
}

}  // namespace zcoll

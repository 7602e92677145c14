// signSGD's wire format and its majority vote (Bernstein et al., "signSGD with Majority Vote is
// Communication Efficient and Fault Tolerant", ICLR 2019).
//  - SignPack: bit (i & 31) of out[i >> 5] = (src[i] < 0); returns the first non-finite index or -1.
//    Cost: one pass over n floats, n/8 bytes written. Explicit SSE2 (baseline x86-64) and AVX2
//    (behind a CPUID check) compare+movemask paths; a scalar path elsewhere.
//  - VoteCount: per bit, count the workers that set it with bit-sliced counters (a ripple-carry
//    add of 1-bit numbers on whole words), then compare the count with m/2 plane by plane.
//    Cost: O(m x log2(m) x words) word operations, no unpacking; vectorised across words. With
//    AVX2 and m <= 15 the planes of 8 words stay in registers (reads m·words·4 bytes once, writes
//    2·words·4); otherwise blocks of 64 words keep them in L1.
#include <cstring>
#include <vector>

#include "kernels.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define ZCOLL_X86 1
#else
#define ZCOLL_X86 0
#endif

namespace zcoll {
namespace {

// Scalar pack of src[0..count), count <= 32; sets *bad to the first non-finite index + base.
inline uint32_t PackWordScalar(const float* src, size_t count, size_t base, int64_t* bad) {
  uint32_t word = 0;
  for (size_t j = 0; j < count; j++) {
    const float x = src[j];
    if (x < 0.0f) word |= 1u << j;
    // x - x is NaN exactly for NaN and +-Inf (the JS kernel's test).
    if (*bad < 0 && !(x - x == 0.0f)) *bad = static_cast<int64_t>(base + j);
  }
  return word;
}

#if !ZCOLL_X86
int64_t SignPackScalar(const float* src, size_t n, uint32_t* out) {
  int64_t bad = -1;
  const size_t words = (n + 31) / 32;
  for (size_t w = 0; w < words; w++) {
    const size_t base = w * 32;
    const size_t count = n - base < 32 ? n - base : 32;
    out[w] = PackWordScalar(src + base, count, base, &bad);
  }
  return bad;
}
#endif

#if ZCOLL_X86
// The non-finite test vectorised: x - x is unordered with itself iff x is NaN or +-Inf.
int64_t SignPackSse2(const float* src, size_t n, uint32_t* out) {
  int64_t bad = -1;
  const size_t full = n / 32;
  const __m128 zero = _mm_setzero_ps();
  for (size_t w = 0; w < full; w++) {
    const float* p = src + w * 32;
    uint32_t word = 0;
    uint32_t nonfinite = 0;
    for (int k = 0; k < 8; k++) {
      const __m128 x = _mm_loadu_ps(p + 4 * k);
      const __m128 d = _mm_sub_ps(x, x);
      word |= static_cast<uint32_t>(_mm_movemask_ps(_mm_cmplt_ps(x, zero))) << (4 * k);
      nonfinite |= static_cast<uint32_t>(_mm_movemask_ps(_mm_cmpunord_ps(d, d))) << (4 * k);
    }
    if (nonfinite != 0 && bad < 0) bad = static_cast<int64_t>(w * 32 + __builtin_ctz(nonfinite));
    out[w] = word;
  }
  if (full * 32 < n) out[full] = PackWordScalar(src + full * 32, n - full * 32, full * 32, &bad);
  return bad;
}

__attribute__((target("avx2"))) int64_t SignPackAvx2(const float* src, size_t n, uint32_t* out) {
  int64_t bad = -1;
  const size_t full = n / 32;
  const __m256 zero = _mm256_setzero_ps();
  for (size_t w = 0; w < full; w++) {
    const float* p = src + w * 32;
    uint32_t word = 0;
    uint32_t nonfinite = 0;
    for (int k = 0; k < 4; k++) {
      const __m256 x = _mm256_loadu_ps(p + 8 * k);
      const __m256 d = _mm256_sub_ps(x, x);
      word |= static_cast<uint32_t>(_mm256_movemask_ps(_mm256_cmp_ps(x, zero, _CMP_LT_OQ))) << (8 * k);
      nonfinite |= static_cast<uint32_t>(_mm256_movemask_ps(_mm256_cmp_ps(d, d, _CMP_UNORD_Q))) << (8 * k);
    }
    if (nonfinite != 0 && bad < 0) bad = static_cast<int64_t>(w * 32 + __builtin_ctz(nonfinite));
    out[w] = word;
  }
  if (full * 32 < n) out[full] = PackWordScalar(src + full * 32, n - full * 32, full * 32, &bad);
  return bad;
}

#endif

// Lanes whose bit-sliced counter is >= c (js.ts geConst), for `lanes` words at once.
// planes[b * kBlock + l] holds bit b of the count of lane-word l.
constexpr size_t kBlock = 64;

inline void GeConst(const uint32_t* planes, unsigned nplanes, uint64_t c, size_t lanes, uint32_t* out) {
  if (c >= (uint64_t{1} << nplanes)) {
    for (size_t l = 0; l < lanes; l++) out[l] = 0;
    return;
  }
  uint32_t gt[kBlock];
  uint32_t eq[kBlock];
  for (size_t l = 0; l < lanes; l++) {
    gt[l] = 0;
    eq[l] = 0xffffffffu;
  }
  for (int b = static_cast<int>(nplanes) - 1; b >= 0; b--) {
    const uint32_t* bit = planes + static_cast<size_t>(b) * kBlock;
    if ((c >> b) & 1) {
      for (size_t l = 0; l < lanes; l++) eq[l] &= bit[l];
    } else {
      for (size_t l = 0; l < lanes; l++) {
        gt[l] |= eq[l] & bit[l];
        eq[l] &= ~bit[l];
      }
    }
  }
  for (size_t l = 0; l < lanes; l++) out[l] = gt[l] | eq[l];
}

inline void EqConst(const uint32_t* planes, unsigned nplanes, uint64_t c, size_t lanes, uint32_t* out) {
  uint32_t eq[kBlock];
  for (size_t l = 0; l < lanes; l++) eq[l] = 0xffffffffu;
  for (unsigned b = 0; b < nplanes; b++) {
    const uint32_t* bit = planes + static_cast<size_t>(b) * kBlock;
    if ((c >> b) & 1) {
      for (size_t l = 0; l < lanes; l++) eq[l] &= bit[l];
    } else {
      for (size_t l = 0; l < lanes; l++) eq[l] &= ~bit[l];
    }
  }
  for (size_t l = 0; l < lanes; l++) out[l] = eq[l];
}

#if ZCOLL_X86
// VoteCount for few workers (kPlanes <= 4 counter planes: m <= 15), 8 words per step with the
// counter planes in registers: each row's 8 words are loaded once and rippled through the planes
// without a store, where the blocked loop below keeps its planes and carries in L1 (a load and a
// store per plane per row). The comparisons are js.ts's geConst and eqConst on the same planes,
// so the words are identical. Returns the number of words done (whole vectors of 8).
template <unsigned kPlanes>
__attribute__((target("avx2"))) size_t VoteCountAvx2(const uint32_t* const* packed, size_t m, size_t words, uint32_t* neg_out,
                                                     uint32_t* tie_out) {
  const uint64_t majority = (m >> 1) + 1;
  const uint64_t half = m >> 1;
  const bool even = m % 2 == 0;
  const __m256i ones = _mm256_set1_epi32(-1);
  const size_t full = words / 8 * 8;
  for (size_t w = 0; w < full; w += 8) {
    __m256i planes[kPlanes];
    for (unsigned b = 0; b < kPlanes; b++) planes[b] = _mm256_setzero_si256();
    for (size_t i = 0; i < m; i++) {
      __m256i carry = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(packed[i] + w));
      for (unsigned b = 0; b < kPlanes; b++) {
        const __m256i p = planes[b];
        planes[b] = _mm256_xor_si256(p, carry);
        carry = _mm256_and_si256(p, carry);
      }
    }
    // count >= majority (majority < 2^kPlanes since m < 2^kPlanes), scanning from the top plane.
    __m256i gt = _mm256_setzero_si256();
    __m256i eq = ones;
    for (int b = static_cast<int>(kPlanes) - 1; b >= 0; b--) {
      if ((majority >> b) & 1) {
        eq = _mm256_and_si256(eq, planes[b]);
      } else {
        gt = _mm256_or_si256(gt, _mm256_and_si256(eq, planes[b]));
        eq = _mm256_andnot_si256(planes[b], eq);
      }
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(neg_out + w), _mm256_or_si256(gt, eq));
    __m256i tie = _mm256_setzero_si256();
    if (even) {
      tie = ones;
      for (unsigned b = 0; b < kPlanes; b++) {
        tie = (half >> b) & 1 ? _mm256_and_si256(tie, planes[b]) : _mm256_andnot_si256(planes[b], tie);
      }
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(tie_out + w), tie);
  }
  return full;
}
#endif

}  // namespace

// ZCOLL_NO_AVX2 (a build define) pins the SSE2 paths, to test them on an AVX2 machine.
bool CpuHasAvx2() {
#if ZCOLL_X86 && !defined(ZCOLL_NO_AVX2)
  static const bool has = __builtin_cpu_supports("avx2");
  return has;
#else
  return false;
#endif
}

int64_t SignPack(const float* src, size_t n, uint32_t* out) {
#if ZCOLL_X86
  return CpuHasAvx2() ? SignPackAvx2(src, n, out) : SignPackSse2(src, n, out);
#else
  return SignPackScalar(src, n, out);
#endif
}

namespace {
// The blocked loop for any m: planes and carries of kBlock words in L1.
ZCOLL_CLONES void VoteCountBlocked(const uint32_t* const* packed, size_t m, size_t words, uint32_t* neg_out,
                                   uint32_t* tie_out) {
  // Smallest nplanes with 2^nplanes > m, as in js.ts (m < 2^32 so at most 33 planes).
  unsigned nplanes = 1;
  while ((uint64_t{1} << nplanes) <= m) nplanes++;
  uint32_t planes[33 * kBlock];
  uint32_t carry[kBlock];
  const uint64_t majority = (m >> 1) + 1;
  for (size_t w0 = 0; w0 < words; w0 += kBlock) {
    const size_t lanes = words - w0 < kBlock ? words - w0 : kBlock;
    std::memset(planes, 0, sizeof(uint32_t) * kBlock * nplanes);
    for (size_t i = 0; i < m; i++) {
      const uint32_t* row = packed[i] + w0;
      for (size_t l = 0; l < lanes; l++) carry[l] = row[l];
      // Without the JS loop's early exit (carry == 0 makes the remaining planes no-ops), so whole
      // blocks stay branch-free; the planes end up identical.
      for (unsigned b = 0; b < nplanes; b++) {
        uint32_t* plane = planes + static_cast<size_t>(b) * kBlock;
        for (size_t l = 0; l < lanes; l++) {
          const uint32_t p = plane[l];
          plane[l] = p ^ carry[l];
          carry[l] = p & carry[l];
        }
      }
    }
    GeConst(planes, nplanes, majority, lanes, neg_out + w0);
    if (m % 2 == 0) {
      EqConst(planes, nplanes, m >> 1, lanes, tie_out + w0);
    } else {
      for (size_t l = 0; l < lanes; l++) tie_out[w0 + l] = 0;
    }
  }
}
}  // namespace

void VoteCount(const uint32_t* const* packed, size_t m, size_t words, uint32_t* neg_out, uint32_t* tie_out) {
  size_t done = 0;
#if ZCOLL_X86
  // m workers need the planes of 2^planes > m: register planes for up to 15 workers (M = 2..15).
  if (CpuHasAvx2() && m >= 1 && m <= 15) {
    done = m <= 1 ? VoteCountAvx2<1>(packed, m, words, neg_out, tie_out)
         : m <= 3 ? VoteCountAvx2<2>(packed, m, words, neg_out, tie_out)
         : m <= 7 ? VoteCountAvx2<3>(packed, m, words, neg_out, tie_out)
                  : VoteCountAvx2<4>(packed, m, words, neg_out, tie_out);
  }
#endif
  if (done == words) return;
  // The rest (fewer than 8 words, or every word without AVX2 or with more workers): the blocked loop
  // over the rows' tails.
  const size_t rest = words - done;
  if (done == 0) {
    VoteCountBlocked(packed, m, rest, neg_out, tie_out);
    return;
  }
  std::vector<const uint32_t*> rows(m);
  for (size_t i = 0; i < m; i++) rows[i] = packed[i] + done;
  VoteCountBlocked(rows.data(), m, rest, neg_out + done, tie_out + done);
}

const char* SimdLevel() {
#if ZCOLL_X86
  return CpuHasAvx2() ? "avx2" : "sse2";
#else
  return "generic";
#endif
}

}  // namespace zcoll

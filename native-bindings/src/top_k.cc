// TopKIndices, BGMD's block selection (lib/robust/bgmd.ts; Acharya et al., AISTATS 2022): the indices
// of the k largest of n doubles, ascending; among values equal to the k-th largest the lowest
// indices win; -0 equals +0; NaN is above every number. The set is defined by the values alone, so
// this need not mimic the JS quickselect (lib/kernels/js.ts); the contract tests compare both with
// a sort.
// Radix select on order-preserving 64-bit keys, with each digit taken relative to the keys still in
// play (their min..max, split into kBuckets buckets) instead of fixed top bits: BGMD's scores are
// non-negative and span a few dozen binades, so fixed top-12-bit digits would be the exponent
// alone and put a large share of the values in the boundary bucket; relative to the range, the
// first histogram already narrows the k-th value to a few thousand candidates.
//   1. min and max key (one streaming pass over the doubles);
//   2. histogram of (key - min) >> shift (one pass; 4096 counters, 16 KiB, stay in L1);
//   3. one pass writes the indices above the boundary bucket to out (all taken, ascending) and the
//      boundary bucket's indices to a candidate list;
//   4. the threshold among the candidates by the same steps on their keys, then the candidates above
//      it and the first ties at it are merged into out (from the back, in place).
// Cost: three passes over the n values (each reads 8n bytes) plus O(candidates); the previous
// version made up to five passes with 16-bit digits of the absolute key. Values without a negative
// number or NaN (BGMD's scores) take key = bits | sign bit in the two passes that need every key:
// 21 ms instead of 42 ms at n = 10M on the benchmark VM (the old version: 56-78 ms). Values that are all equal
// stop after step 1; heavily repeated values only make the candidate list long (memory: 12 bytes per
// candidate, malloc'd; false when that fails).
#include <cstdlib>
#include <cstring>

#include "kernels.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <emmintrin.h>
#define ZCOLL_TOPK_SSE2 1
#else
#define ZCOLL_TOPK_SSE2 0
#endif

namespace zcoll {
namespace {

constexpr int kDigitBits = 12;
constexpr size_t kBuckets = size_t{1} << kDigitBits;

constexpr uint64_t kSignBit = uint64_t{1} << 63;
constexpr uint64_t kInfBits = uint64_t{0x7ff} << 52;

// Unsigned keys in the order of the values: -0 equals +0, every NaN is above +Inf. Written without
// branches (selects), since the passes below run it on every value.
inline uint64_t OrderKey(double x) {
  uint64_t u;
  std::memcpy(&u, &x, sizeof u);
  u = u == kSignBit ? 0 : u;
  const uint64_t negative = uint64_t{0} - (u >> 63);
  const uint64_t key = u ^ (negative | kSignBit);
  return (u & ~kSignBit) > kInfBits ? ~uint64_t{0} : key;
}

// The shift that maps [0, range] onto at most kBuckets buckets (range > 0). The smallest and the
// largest key then fall in different buckets, so no bucket holds all n values (counts fit uint32).
inline int ShiftFor(uint64_t range) {
  const int bits = 64 - __builtin_clzll(range);
  return bits > kDigitBits ? bits - kDigitBits : 0;
}

struct Boundary {
  size_t bucket;  // the bucket holding the need-th largest key
  size_t above;   // keys in higher buckets (all taken)
};

Boundary FindBoundary(const uint32_t* hist, size_t need) {
  size_t above = 0;
  size_t bucket = kBuckets - 1;
  while (bucket > 0 && above + hist[bucket] < need) above += hist[bucket--];
  return {bucket, above};
}

// Min and max key over the doubles: the double order equals the key order except that -0 and +0
// are equal keys and NaN keys are the largest, so min/max run on the doubles (NaN skipped: minpd and
// maxpd return their second operand, the running bound, when the first is NaN) and NaN is only
// flagged. SSE2 (every x86-64 CPU) because the compiler does not vectorise a strict-IEEE min/max.
void KeyRange(const double* values, size_t n, uint64_t* lo_key, uint64_t* hi_key) {
  double lo = __builtin_inf();
  double hi = -__builtin_inf();
  bool nan = false;
  size_t i = 0;
#if ZCOLL_TOPK_SSE2
  __m128d lo0 = _mm_set1_pd(lo), lo1 = lo0;
  __m128d hi0 = _mm_set1_pd(hi), hi1 = hi0;
  __m128d unordered = _mm_setzero_pd();
  for (; i + 4 <= n; i += 4) {
    const __m128d a = _mm_loadu_pd(values + i);
    const __m128d b = _mm_loadu_pd(values + i + 2);
    lo0 = _mm_min_pd(a, lo0);
    lo1 = _mm_min_pd(b, lo1);
    hi0 = _mm_max_pd(a, hi0);
    hi1 = _mm_max_pd(b, hi1);
    unordered = _mm_or_pd(unordered, _mm_or_pd(_mm_cmpunord_pd(a, a), _mm_cmpunord_pd(b, b)));
  }
  double lanes[2];
  _mm_storeu_pd(lanes, _mm_min_pd(lo0, lo1));
  lo = lanes[0] < lanes[1] ? lanes[0] : lanes[1];
  _mm_storeu_pd(lanes, _mm_max_pd(hi0, hi1));
  hi = lanes[0] > hi ? lanes[0] : hi;
  hi = lanes[1] > hi ? lanes[1] : hi;
  nan = _mm_movemask_pd(unordered) != 0;
#endif
  for (; i < n; i++) {
    const double v = values[i];
    lo = v < lo ? v : lo;
    hi = v > hi ? v : hi;
    nan = nan || v != v;
  }
  if (!(lo <= hi)) {
    // No number at all (every value NaN): one key.
    *lo_key = ~uint64_t{0};
    *hi_key = ~uint64_t{0};
    return;
  }
  *lo_key = OrderKey(lo);
  *hi_key = nan ? ~uint64_t{0} : OrderKey(hi);
}

// The need-th largest of keys[0..m) (1 <= need <= m); reorders keys.
uint64_t KthLargestKey(uint64_t* keys, size_t m, size_t need) {
  uint32_t hist[kBuckets];
  for (;;) {
    uint64_t lo = keys[0];
    uint64_t hi = keys[0];
    for (size_t i = 1; i < m; i++) {
      lo = keys[i] < lo ? keys[i] : lo;
      hi = keys[i] > hi ? keys[i] : hi;
    }
    // One distinct key left, or every key left is taken: the smallest of them is the threshold.
    if (lo == hi || need == m) return lo;
    const int shift = ShiftFor(hi - lo);
    std::memset(hist, 0, sizeof hist);
    for (size_t i = 0; i < m; i++) hist[(keys[i] - lo) >> shift]++;
    const Boundary b = FindBoundary(hist, need);
    need -= b.above;
    size_t kept = 0;
    for (size_t i = 0; i < m; i++) {
      if (((keys[i] - lo) >> shift) == b.bucket) keys[kept++] = keys[i];
    }
    m = kept;
  }
}

template <bool kNonNegative>
inline uint64_t KeyOf(double x) {
  if (!kNonNegative) return OrderKey(x);
  uint64_t u;
  std::memcpy(&u, &x, sizeof u);
  return u | kSignBit;
}

template <bool kNonNegative>
void Histogram(const double* values, size_t n, uint64_t lo, int shift, uint32_t* hist) {
  std::memset(hist, 0, kBuckets * sizeof(uint32_t));
  for (size_t i = 0; i < n; i++) hist[(KeyOf<kNonNegative>(values[i]) - lo) >> shift]++;
}

// Writes the indices above the boundary bucket to out and those in it to cand, both ascending.
// Branch-free: every index is stored to both lists and kept by advancing the matching cursor.
template <bool kNonNegative>
void Collect(const double* values, size_t n, uint64_t lo, int shift, size_t boundary, uint32_t* out, uint32_t* cand) {
  size_t t = 0;
  size_t c = 0;
  for (size_t i = 0; i < n; i++) {
    const uint64_t bucket = (KeyOf<kNonNegative>(values[i]) - lo) >> shift;
    out[t] = static_cast<uint32_t>(i);
    t += static_cast<size_t>(bucket > boundary);
    cand[c] = static_cast<uint32_t>(i);
    c += static_cast<size_t>(bucket == boundary);
  }
}

}  // namespace

bool TopKIndices(const double* values, size_t n, size_t k, uint32_t* out) {
  if (k == 0) return true;
  uint64_t lo = 0;
  uint64_t hi = 0;
  KeyRange(values, n, &lo, &hi);
  if (lo == hi || k == n) {
    // Every value equal (ties to the lowest indices), or every index taken.
    for (size_t i = 0; i < k; i++) out[i] = static_cast<uint32_t>(i);
    return true;
  }
  const int shift = ShiftFor(hi - lo);
  uint32_t hist[kBuckets];
  // BGMD's scores have no negative value and no NaN: then the key is the bits with the sign bit set
  // (-0 included), and the two passes over all n values run without OrderKey's selects.
  const bool plain = lo >= kSignBit && hi != ~uint64_t{0};
  if (plain) {
    Histogram<true>(values, n, lo, shift, hist);
  } else {
    Histogram<false>(values, n, lo, shift, hist);
  }
  const Boundary b = FindBoundary(hist, k);
  const size_t count = hist[b.bucket];
  size_t need = k - b.above;  // >= 1, so Collect writes out[t] at t <= b.above < k only
  uint32_t* cand = static_cast<uint32_t*>(std::malloc((count + 1) * sizeof(uint32_t)));
  if (cand == nullptr) return false;
  if (plain) {
    Collect<true>(values, n, lo, shift, b.bucket, out, cand);
  } else {
    Collect<false>(values, n, lo, shift, b.bucket, out, cand);
  }
  if (need < count) {
    uint64_t* keys = static_cast<uint64_t*>(std::malloc(count * sizeof(uint64_t)));
    if (keys == nullptr) {
      std::free(cand);
      return false;
    }
    for (size_t i = 0; i < count; i++) keys[i] = OrderKey(values[cand[i]]);
    const uint64_t threshold = KthLargestKey(keys, count, need);
    size_t above = 0;
    for (size_t i = 0; i < count; i++) above += OrderKey(values[cand[i]]) > threshold ? 1 : 0;
    size_t ties = need - above;
    // Candidates are in ascending index order, so the first ties kept are the lowest indices.
    size_t kept = 0;
    for (size_t i = 0; i < count; i++) {
      const uint64_t key = OrderKey(values[cand[i]]);
      if (key > threshold || (key == threshold && ties > 0)) {
        if (key == threshold) ties--;
        cand[kept++] = cand[i];
      }
    }
    std::free(keys);
  }
  // Merge out[0..b.above) and cand[0..need), both ascending, into out[0..k) from the back.
  size_t i = b.above;
  size_t j = need;
  size_t w = k;
  while (j > 0) {
    if (i > 0 && out[i - 1] > cand[j - 1]) {
      out[--w] = out[--i];
    } else {
      out[--w] = cand[--j];
    }
  }
  std::free(cand);
  return true;
}

}  // namespace zcoll

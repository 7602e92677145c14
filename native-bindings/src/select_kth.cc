// k-th smallest value by quickselect (Hoare, "Algorithm 65: FIND", CACM 1961) with Lomuto
// partitioning and a median-of-three pivot chosen by position. Expected O(n) comparisons, in place.
// It is a line-for-line port of lib/kernels/js.ts, so it leaves `values` in the same order and
// returns the same element. NaN orders after every number.
// TopKIndices (BGMD's block selection) needs the k largest as a set, which is defined by the values
// alone, so it need not mimic the JS quickselect: it is a radix select (MSD, 16-bit digits) on
// order-preserving 64-bit keys, four histogram passes at most plus one collecting pass, all
// streaming and branch-light, instead of quickselect's data-dependent swaps plus a copy.
#include <cstdlib>
#include <cstring>

#include "kernels.h"

namespace zcoll {
namespace {

template <typename T>
inline bool Less(T x, T y) {
  if (x != x) return false;
  if (y != y) return true;
  return x < y;
}

template <typename T>
size_t MedianOfThree(const T* a, size_t i, size_t j, size_t k) {
  const T x = a[i];
  const T y = a[j];
  const T z = a[k];
  if (Less(x, y)) {
    if (Less(y, z)) return j;
    return Less(x, z) ? k : i;
  }
  if (Less(x, z)) return i;
  return Less(y, z) ? k : j;
}

template <typename T>
size_t Partition(T* a, size_t lo, size_t hi, size_t pivot_index) {
  const T pivot = a[pivot_index];
  a[pivot_index] = a[hi];
  a[hi] = pivot;
  size_t store = lo;
  for (size_t i = lo; i < hi; i++) {
    if (Less(a[i], pivot)) {
      const T t = a[i];
      a[i] = a[store];
      a[store] = t;
      store++;
    }
  }
  a[hi] = a[store];
  a[store] = pivot;
  return store;
}

// Indices are signed because hi = p - 1 may reach -1, as in the JS loop.
template <typename T>
double SelectKth(T* values, size_t n, size_t k) {
  int64_t lo = 0;
  int64_t hi = static_cast<int64_t>(n) - 1;
  const int64_t target = static_cast<int64_t>(k);
  while (lo < hi) {
    const int64_t mid = lo + ((hi - lo) >> 1);
    const size_t pivot = MedianOfThree(values, static_cast<size_t>(lo), static_cast<size_t>(mid),
                                       static_cast<size_t>(hi));
    const int64_t p = static_cast<int64_t>(Partition(values, static_cast<size_t>(lo), static_cast<size_t>(hi), pivot));
    if (p == target) return static_cast<double>(values[p]);
    if (p < target) {
      lo = p + 1;
    } else {
      hi = p - 1;
    }
  }
  return static_cast<double>(values[k]);
}

// Unsigned keys in the order of the values: -0 equals +0, every NaN is above +Inf.
inline uint64_t OrderKey(double x) {
  if (x != x) return ~uint64_t{0};
  if (x == 0) x = 0.0;
  uint64_t u;
  std::memcpy(&u, &x, sizeof u);
  return (u >> 63) != 0 ? ~u : (u | (uint64_t{1} << 63));
}

constexpr int kDigitBits = 16;
constexpr size_t kBuckets = size_t{1} << kDigitBits;

}  // namespace

bool TopKIndices(const double* values, size_t n, size_t k, uint32_t* out) {
  if (k == 0) return true;
  uint32_t* hist = static_cast<uint32_t*>(std::malloc(kBuckets * sizeof(uint32_t)));
  if (hist == nullptr) return false;
  // Invariant: every key above `hi` is taken (k - need of them) and `need` more come from the keys
  // in [lo, hi], which share the digits fixed so far.
  uint64_t lo = 0;
  uint64_t hi = ~uint64_t{0};
  size_t need = k;
  for (int shift = 64 - kDigitBits; shift >= 0; shift -= kDigitBits) {
    std::memset(hist, 0, kBuckets * sizeof(uint32_t));
    for (size_t i = 0; i < n; i++) {
      const uint64_t key = OrderKey(values[i]);
      if (key >= lo && key <= hi) hist[(key >> shift) & (kBuckets - 1)]++;
    }
    size_t above = 0;
    size_t digit = kBuckets - 1;
    while (digit > 0 && above + hist[digit] < need) above += hist[digit--];
    need -= above;
    lo |= static_cast<uint64_t>(digit) << shift;
    hi = lo | ((uint64_t{1} << shift) - 1);
    if (hist[digit] == need) break;  // every key left in [lo, hi] is taken: no tie to break
  }
  std::free(hist);
  size_t t = 0;
  for (size_t i = 0; i < n && t < k; i++) {
    const uint64_t key = OrderKey(values[i]);
    if (key > hi) {
      out[t++] = static_cast<uint32_t>(i);
    } else if (key >= lo && need > 0) {
      out[t++] = static_cast<uint32_t>(i);
      need--;
    }
  }
  return true;
}

double SelectKthF32(float* values, size_t n, size_t k) { return SelectKth(values, n, k); }
double SelectKthF64(double* values, size_t n, size_t k) { return SelectKth(values, n, k); }

}  // namespace zcoll

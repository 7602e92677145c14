// k-th smallest value by quickselect (Hoare, "Algorithm 65: FIND", CACM 1961) with Lomuto
// partitioning and a median-of-three pivot chosen by position. Expected O(n) comparisons, in place.
// It is a line-for-line port of lib/kernels/js.ts, so it leaves `values` in the same order and
// returns the same element. NaN orders after every number.
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

}  // namespace

double SelectKthF32(float* values, size_t n, size_t k) { return SelectKth(values, n, k); }
double SelectKthF64(double* values, size_t n, size_t k) { return SelectKth(values, n, k); }

}  // namespace zcoll

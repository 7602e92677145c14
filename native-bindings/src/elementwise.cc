// Elementwise kernels: in-place sum/min/max of two arrays, scale and divide by a scalar, finiteness check.
// Cost: one pass, memory bound (3 x n x element bytes moved for reduce, 2 x for scale/divide).
// Semantics follow lib/kernels/js.ts exactly:
//  - float32 sums: V8 adds in double and rounds to float32; for +, *, / of float32 operands that
//    equals the float32 operation, and for float32 x double we convert, operate in double, round.
//  - min/max: a NaN in src replaces dst, a NaN in dst stays (y < NaN is false); min(-0, +0) = -0
//    and max(-0, +0) = +0 in either order (IEEE 754-2019 minimum/maximum), so that ranks that
//    combine the same values in another order still agree bit for bit.
//  - int32 sum wraps modulo 2^32 like (a + b) | 0.
//  - int32 divide is Math.trunc(x / divisor) stored into an Int32Array: ToInt32 of the truncated
//    double quotient (so division by 0 stores 0 and out-of-range quotients wrap).
// No __restrict: when dst and src overlap, the compiler's run-time alias check falls back to the
// plain forward loop, which is what the JS loop does.
#include <cmath>

#include "kernels.h"

namespace zcoll {
namespace {

template <typename T>
inline __attribute__((always_inline)) void SumLoop(T* dst, const T* src, size_t n) {
  for (size_t i = 0; i < n; i++) dst[i] = dst[i] + src[i];
}

template <typename T>
inline __attribute__((always_inline)) void MinFloatLoop(T* dst, const T* src, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const T x = dst[i];
    const T y = src[i];
    // On a tie (x == y: equal numbers, or -0 and +0) take y only when it is -0.
    dst[i] = (y < x || y != y || (x == y && std::signbit(y))) ? y : x;
  }
}

template <typename T>
inline __attribute__((always_inline)) void MaxFloatLoop(T* dst, const T* src, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const T x = dst[i];
    const T y = src[i];
    // On a tie take y only when it is +0 (or any equal number: the same bits).
    dst[i] = (y > x || y != y || (x == y && !std::signbit(y))) ? y : x;
  }
}

// ECMAScript ToInt32 of an arbitrary double (after Math.trunc): NaN and +-Inf give 0, everything
// else wraps modulo 2^32. Only reached when the quotient does not fit in int32.
int32_t ToInt32Slow(double q) {
  if (!std::isfinite(q)) return 0;
  double m = std::fmod(std::trunc(q), 4294967296.0);
  if (m < 0) m += 4294967296.0;
  return static_cast<int32_t>(static_cast<uint32_t>(m));
}

}  // namespace

ZCOLL_CLONES void SumF32(float* dst, const float* src, size_t n) { SumLoop(dst, src, n); }
ZCOLL_CLONES void SumF64(double* dst, const double* src, size_t n) { SumLoop(dst, src, n); }
ZCOLL_CLONES void SumI32(int32_t* dst, const int32_t* src, size_t n) {
  // Unsigned add: wraps modulo 2^32 without signed-overflow UB.
  for (size_t i = 0; i < n; i++) {
    dst[i] = static_cast<int32_t>(static_cast<uint32_t>(dst[i]) + static_cast<uint32_t>(src[i]));
  }
}

ZCOLL_CLONES void MinF32(float* dst, const float* src, size_t n) { MinFloatLoop(dst, src, n); }
ZCOLL_CLONES void MinF64(double* dst, const double* src, size_t n) { MinFloatLoop(dst, src, n); }
ZCOLL_CLONES void MinI32(int32_t* dst, const int32_t* src, size_t n) {
  for (size_t i = 0; i < n; i++) dst[i] = src[i] < dst[i] ? src[i] : dst[i];
}
ZCOLL_CLONES void MaxF32(float* dst, const float* src, size_t n) { MaxFloatLoop(dst, src, n); }
ZCOLL_CLONES void MaxF64(double* dst, const double* src, size_t n) { MaxFloatLoop(dst, src, n); }
ZCOLL_CLONES void MaxI32(int32_t* dst, const int32_t* src, size_t n) {
  for (size_t i = 0; i < n; i++) dst[i] = src[i] > dst[i] ? src[i] : dst[i];
}

ZCOLL_CLONES void ScaleF32(float* dst, size_t n, double factor) {
  // The factor is a JS number (double): multiply in double, round once to float32, as V8 does.
  for (size_t i = 0; i < n; i++) dst[i] = static_cast<float>(static_cast<double>(dst[i]) * factor);
}
ZCOLL_CLONES void ScaleF64(double* dst, size_t n, double factor) {
  for (size_t i = 0; i < n; i++) dst[i] = dst[i] * factor;
}

ZCOLL_CLONES void DivideF32(float* dst, size_t n, double divisor) {
  for (size_t i = 0; i < n; i++) dst[i] = static_cast<float>(static_cast<double>(dst[i]) / divisor);
}
ZCOLL_CLONES void DivideF64(double* dst, size_t n, double divisor) {
  for (size_t i = 0; i < n; i++) dst[i] = dst[i] / divisor;
}

ZCOLL_CLONES void DivideI32(int32_t* dst, size_t n, double divisor) {
  if (divisor == -1.0) {
    // The one divisor with |divisor| >= 1 whose quotient can leave int32: -(-2^31) = 2^31, which
    // ToInt32 wraps back to -2^31. Wrapping negation gives exactly that.
    for (size_t i = 0; i < n; i++) dst[i] = static_cast<int32_t>(0u - static_cast<uint32_t>(dst[i]));
    return;
  }
  if (std::fabs(divisor) >= 1.0) {
    // |x / divisor| <= 2^31 with equality only for -2^31 / 1, so the quotient always fits in int32
    // and the truncating conversion is ToInt32 (vectorised as cvttpd2dq).
    for (size_t i = 0; i < n; i++) dst[i] = static_cast<int32_t>(static_cast<double>(dst[i]) / divisor);
    return;
  }
  // |divisor| < 1, 0 or NaN: quotients may leave int32 or be non-finite.
  for (size_t i = 0; i < n; i++) {
    const double q = static_cast<double>(dst[i]) / divisor;
    dst[i] = std::fabs(q) < 2147483648.0 ? static_cast<int32_t>(q) : ToInt32Slow(q);
  }
}

// The row screening of every aggregator (lib/robust/row-screen.ts): true iff no NaN/+-Inf.
ZCOLL_CLONES bool AllFiniteF32(const float* values, size_t n) {
  // x * 0 is NaN exactly for NaN and +-Inf and NaN sticks in a sum; eight partial sums instead of
  // one chain let the loop run at memory speed (the answer does not depend on the order).
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (size_t l = 0; l < 8; l++) acc[l] += values[i + l] * 0.0f;
  }
  float tail = 0;
  for (; i < n; i++) tail += values[i] * 0.0f;
  for (size_t l = 0; l < 8; l++) tail += acc[l];
  return tail == 0;
}

}  // namespace zcoll

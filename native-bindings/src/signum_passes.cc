// The per-step passes of Signum (lib/compress/signum.ts; Bernstein et al., ICLR 2019, Alg. 1) and
// the plain SGD update of the float32 baseline, as fused loops over the parameter vector:
//  - FirstNonFinite: the finiteness check of a gradient before it may touch the momentum.
//    Cost: reads 4n bytes; a branch-free OR over chunks, an exact scan only in the chunk that failed.
//  - MomentumSignPack: m <- fp32(beta·m + (1-beta)·(g [+ wd·x])) and the sign bits of the new m,
//    chunk by chunk so the pack reads m from L1 right after the update wrote it.
//    Cost: reads 8n (12n with x) bytes, writes 4n + n/8; one pass over memory instead of two.
//  - SignApply: x <- fp32(x - lr·(s [+ wd·x])), s = +-1 from a packed vote. Reads/writes 4n, reads n/8.
//  - Axpy: y <- fp32(y + alpha·x). Reads 8n, writes 4n.
// Every loop reproduces lib/kernels/js.ts bit for bit: each fp32 operand is widened to double, the
// operations run in the JS source order in double (no FMA: binding.gyp passes -ffp-contract=off),
// and the result is rounded to fp32 once, which is what V8 does for `f32[i] = <double expression>`.
// The compiler vectorises these loops (double lanes: 2 in SSE2, 4 in AVX2 via ZCOLL_CLONES).
#include "kernels.h"

namespace zcoll {
namespace {

// Elements per chunk: a multiple of 32 (chunks end on word boundaries, so only the last word of
// the whole vector is partial) and small enough that m and the chunk's words stay in L1 (8 KiB).
constexpr size_t kChunk = 2048;

// x - x is NaN exactly for NaN and +-Inf (the JS kernel's test); compiled without -ffast-math, so
// the subtraction is not folded away.
inline bool NonFinite(float x) { return !(x - x == 0.0f); }

// One vote word applied to x[0..count), count <= 32: s = 1 - 2·bit exactly as js.ts writes it; lr·s
// is then exact (s = +-1), so the only rounding steps are the ones of the JS expression.
template <bool kDecay>
inline __attribute__((always_inline)) void ApplyWord(float* x, uint32_t word, size_t count, double lr, double wd) {
  for (size_t j = 0; j < count; j++) {
    const double s = static_cast<double>(1 - 2 * static_cast<int>((word >> j) & 1u));
    const double xj = static_cast<double>(x[j]);
    x[j] = static_cast<float>(kDecay ? xj - lr * (s + wd * xj) : xj - lr * s);
  }
}

}  // namespace

ZCOLL_CLONES int64_t FirstNonFinite(const float* src, size_t n) {
  for (size_t base = 0; base < n; base += kChunk) {
    const size_t count = n - base < kChunk ? n - base : kChunk;
    const float* p = src + base;
    // No early exit inside the chunk: an OR reduction the compiler can vectorise.
    int any = 0;
    for (size_t j = 0; j < count; j++) any |= NonFinite(p[j]) ? 1 : 0;
    if (any != 0) {
      for (size_t j = 0; j < count; j++) {
        if (NonFinite(p[j])) return static_cast<int64_t>(base + j);
      }
    }
  }
  return -1;
}

ZCOLL_CLONES int64_t MomentumSignPack(const float* grad, float* momentum, size_t n, double beta, uint32_t* out,
                                      const float* params, double wd) {
  // 1 - beta in double, as signum.ts / js.ts compute it.
  const double gain = 1.0 - beta;
  int64_t bad = -1;
  for (size_t base = 0; base < n; base += kChunk) {
    const size_t count = n - base < kChunk ? n - base : kChunk;
    float* m = momentum + base;
    const float* g = grad + base;
    if (params == nullptr) {
      for (size_t j = 0; j < count; j++) {
        m[j] = static_cast<float>(beta * static_cast<double>(m[j]) + gain * static_cast<double>(g[j]));
      }
    } else {
      const float* x = params + base;
      for (size_t j = 0; j < count; j++) {
        const double decayed = static_cast<double>(g[j]) + wd * static_cast<double>(x[j]);
        m[j] = static_cast<float>(beta * static_cast<double>(m[j]) + gain * decayed);
      }
    }
    // The pack of sign_vote.cc over the chunk just written (still in L1); it also finds the first
    // new m that overflowed fp32. The whole vector is still updated and packed after one, as in js.ts.
    const int64_t chunk_bad = SignPack(m, count, out + base / 32);
    if (bad < 0 && chunk_bad >= 0) bad = static_cast<int64_t>(base) + chunk_bad;
  }
  return bad;
}

ZCOLL_CLONES void SignApply(float* params, size_t n, const uint32_t* votes, double lr, double wd) {
  // Whole words get a loop of constant trip count 32 that the compiler unrolls into vector code;
  // the partial last word goes through the same body with its own count.
  const size_t full = n / 32;
  if (wd == 0) {
    for (size_t w = 0; w < full; w++) ApplyWord<false>(params + w * 32, votes[w], 32, lr, wd);
    if (full * 32 < n) ApplyWord<false>(params + full * 32, votes[full], n - full * 32, lr, wd);
  } else {
    for (size_t w = 0; w < full; w++) ApplyWord<true>(params + w * 32, votes[w], 32, lr, wd);
    if (full * 32 < n) ApplyWord<true>(params + full * 32, votes[full], n - full * 32, lr, wd);
  }
}

ZCOLL_CLONES void Axpy(float* y, size_t n, double alpha, const float* x) {
  for (size_t i = 0; i < n; i++) y[i] = static_cast<float>(static_cast<double>(y[i]) + alpha * static_cast<double>(x[i]));
}

}  // namespace zcoll

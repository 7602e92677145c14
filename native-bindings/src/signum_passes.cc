// The per-step passes of Signum (lib/compress/signum.ts; Bernstein et al., ICLR 2019, Alg. 1) and
// the plain SGD update of the float32 baseline, as fused loops over the parameter vector:
//  - FirstNonFinite: the finiteness check of a gradient before it may touch the momentum.
//    Cost: reads 4n bytes; a branch-free OR over chunks, an exact scan only in the chunk that failed.
//  - MomentumSignPack: m <- fp32(beta·m + (1-beta)·(g [+ wd·x])) and the sign bits of the new m,
//    chunk by chunk so the pack reads m from L1 right after the update wrote it.
//    Cost: reads 8n (12n with x) bytes, writes 4n + n/8; one pass over memory instead of two.
//  - MomentumSignPackTo: the same update with the finiteness check of g (and x) folded in, written
//    to a second buffer: m_next <- fp32(beta·m + (1-beta)·(g [+ wd·x])), sign bits of m_next, in one
//    pass. The old momentum is only read, so a bad gradient (or an fp32 overflow) leaves it as it was
//    without a checking pass before the update (the caller swaps the buffers on success).
//    Cost: reads 8n (12n with x), writes 4n + n/8, streamed (non-temporal) where the AVX2 path runs:
//    no read for ownership of m_next. Against check + in-place update (reads 12n, writes 4n): 16n -> 12n.
//  - SignApply: x <- fp32(x - lr·(s [+ wd·x])), s = +-1 from a packed vote. Reads/writes 4n, reads n/8.
//  - Axpy: y <- fp32(y + alpha·x). Reads 8n, writes 4n.
// Every loop reproduces lib/kernels/js.ts bit for bit: each fp32 operand is widened to double, the
// operations run in the JS source order in double (no FMA: binding.gyp passes -ffp-contract=off, and
// the intrinsics below spell each multiply and add separately), and the result is rounded to fp32
// once (round to nearest even, as fround), which is what V8 does for `f32[i] = <double expression>`.
// The compiler vectorises the portable loops (double lanes: 2 in SSE2, 4 in AVX2 via ZCOLL_CLONES);
// MomentumSignPackTo and SignApply have explicit AVX2 paths (behind CpuHasAvx2, like SignPack)
// because the compiler's versions spent most of their time on the bits: the per-element shifts
// that expand a vote word, and a second sub-pass over an L1 buffer to pack and check.
#include "kernels.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define ZCOLL_X86 1
#else
#define ZCOLL_X86 0
#endif

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


// Portable MomentumSignPackTo, chunk by chunk: the chunk's inputs are checked (a branch-free OR the
// compiler vectorises, exact scan only in a failing chunk), then updated into next and packed from
// there while it is in L1. Returns as the contract says; next and out are unspecified on >= 0.
ZCOLL_CLONES int64_t MomentumSignPackToPortable(const float* grad, const float* momentum, float* next, size_t n, double beta,
                                                uint32_t* out, const float* params, double wd) {
  const double gain = 1.0 - beta;
  int64_t overflow = -1;
  for (size_t base = 0; base < n; base += kChunk) {
    const size_t count = n - base < kChunk ? n - base : kChunk;
    const float* g = grad + base;
    const float* x = params != nullptr ? params + base : nullptr;
    int any = 0;
    for (size_t j = 0; j < count; j++) any |= NonFinite(g[j]) ? 1 : 0;
    if (x != nullptr) {
      for (size_t j = 0; j < count; j++) any |= NonFinite(x[j]) ? 1 : 0;
    }
    if (any != 0) {
      for (size_t j = 0; j < count; j++) {
        if (NonFinite(g[j]) || (x != nullptr && NonFinite(x[j]))) return static_cast<int64_t>(base + j);
      }
    }
    if (overflow >= 0) continue;  // decided, unless a later input is bad
    const float* m = momentum + base;
    float* mn = next + base;
    if (x == nullptr) {
      for (size_t j = 0; j < count; j++) mn[j] = static_cast<float>(beta * static_cast<double>(m[j]) + gain * static_cast<double>(g[j]));
    } else {
      for (size_t j = 0; j < count; j++) {
        const double decayed = static_cast<double>(g[j]) + wd * static_cast<double>(x[j]);
        mn[j] = static_cast<float>(beta * static_cast<double>(m[j]) + gain * decayed);
      }
    }
    const int64_t chunk_bad = SignPack(mn, count, out + base / 32);
    if (chunk_bad >= 0) overflow = static_cast<int64_t>(base) + chunk_bad;
  }
  return overflow;
}

#if ZCOLL_X86
// Eight elements of the fused pass in registers, returned as the new momentum in fp32. Each half is
// widened straight from memory (a 4-float load per cvtps2pd: no extract shuffles). kDecay adds
// wd·x to g first (in double, as js.ts).
template <bool kDecay>
__attribute__((target("avx2"), always_inline)) inline __m256 MomentumEight(const float* g, const float* m, const float* x,
                                                                           __m256d beta, __m256d gain, __m256d wd) {
  __m256d g0 = _mm256_cvtps_pd(_mm_loadu_ps(g));
  __m256d g1 = _mm256_cvtps_pd(_mm_loadu_ps(g + 4));
  if (kDecay) {
    g0 = _mm256_add_pd(g0, _mm256_mul_pd(wd, _mm256_cvtps_pd(_mm_loadu_ps(x))));
    g1 = _mm256_add_pd(g1, _mm256_mul_pd(wd, _mm256_cvtps_pd(_mm_loadu_ps(x + 4))));
  }
  const __m256d r0 = _mm256_add_pd(_mm256_mul_pd(beta, _mm256_cvtps_pd(_mm_loadu_ps(m))), _mm256_mul_pd(gain, g0));
  const __m256d r1 = _mm256_add_pd(_mm256_mul_pd(beta, _mm256_cvtps_pd(_mm_loadu_ps(m + 4))), _mm256_mul_pd(gain, g1));
  return _mm256_set_m128(_mm256_cvtpd_ps(r1), _mm256_cvtpd_ps(r0));
}

// Momenta of at least this many elements are written with streaming stores: they do not fit the
// caches anyway (16 MiB, half of a 32 MiB L3), so reading their lines before writing them (what a
// plain store does) is wasted traffic. Smaller ones stay cached for the next step (streaming a
// cache-resident array measured 2.3x slower than plain stores here).
constexpr size_t kStreamMin = size_t{1} << 22;

// Whole words (32 elements) in registers, then the partial last word through the portable code.
// One test per word covers both failure kinds: a NaN or Inf in g (or x) always makes the new
// momentum NaN or Inf (gain = 1 - beta > 0 and wd > 0 are finite, so nothing cancels it), and so
// does an fp32 overflow; only then the portable code re-runs the word to tell which and where.
// next is written with 16-byte streaming stores (V8's backing stores are 16-byte aligned; plain
// stores otherwise); the sfence orders them before JS reads next.
template <bool kDecay>
__attribute__((target("avx2"))) int64_t MomentumSignPackToAvx2(const float* grad, const float* momentum, float* next, size_t n,
                                                               double beta_d, uint32_t* out, const float* params, double wd_d) {
  const __m256d beta = _mm256_set1_pd(beta_d);
  const __m256d gain = _mm256_set1_pd(1.0 - beta_d);
  const __m256d wd = _mm256_set1_pd(wd_d);
  const __m256 zero = _mm256_setzero_ps();
  const bool stream = n >= kStreamMin && (reinterpret_cast<uintptr_t>(next) & 15) == 0;
  const size_t full = n / 32;
  int64_t overflow = -1;
  for (size_t w = 0; w < full; w++) {
    const size_t base = w * 32;
    __m256 bad = zero;
    uint32_t word = 0;
    for (int k = 0; k < 4; k++) {
      const size_t i = base + 8 * static_cast<size_t>(k);
      const __m256 mn = MomentumEight<kDecay>(grad + i, momentum + i, kDecay ? params + i : nullptr, beta, gain, wd);
      // mn - mn is unordered (NaN) exactly when mn is NaN or +-Inf.
      const __m256 md = _mm256_sub_ps(mn, mn);
      bad = _mm256_or_ps(bad, _mm256_cmp_ps(md, md, _CMP_UNORD_Q));
      word |= static_cast<uint32_t>(_mm256_movemask_ps(_mm256_cmp_ps(mn, zero, _CMP_LT_OQ))) << (8 * k);
      if (stream) {
        _mm_stream_ps(next + i, _mm256_castps256_ps128(mn));
        _mm_stream_ps(next + i + 4, _mm256_extractf128_ps(mn, 1));
      } else {
        _mm256_storeu_ps(next + i, mn);
      }
    }
    out[w] = word;
    if (__builtin_expect(_mm256_movemask_ps(bad) != 0, 0)) {
      // Rare: the portable code over this word (same arithmetic) says which input or overflow.
      const int64_t r = MomentumSignPackToPortable(grad + base, momentum + base, next + base, 32, beta_d, out + w,
                                                   kDecay ? params + base : nullptr, wd_d);
      if (r >= 0) {
        const bool input = NonFinite(grad[base + r]) || (kDecay && NonFinite(params[base + r]));
        if (input) {
          _mm_sfence();
          return static_cast<int64_t>(base) + r;
        }
        if (overflow < 0) overflow = static_cast<int64_t>(base) + r;
      }
    }
  }
  _mm_sfence();
  if (full * 32 < n) {
    const size_t base = full * 32;
    const int64_t r = MomentumSignPackToPortable(grad + base, momentum + base, next + base, n - base, beta_d, out + full,
                                                 kDecay ? params + base : nullptr, wd_d);
    if (r >= 0) {
      const bool input = NonFinite(grad[base + r]) || (kDecay && NonFinite(params[base + r]));
      if (input) return static_cast<int64_t>(base) + r;
      if (overflow < 0) overflow = static_cast<int64_t>(base) + r;
    }
  }
  return overflow;
}

// Signed steps of four lanes for each 4-bit nibble of a vote word: lane q holds `plus` where bit q
// is 0 (s = +1) and `minus` where it is 1 (s = -1). 16 x 32 bytes, built per call (cheap next to n).
struct NibbleTable {
  alignas(32) double v[16][4];
  NibbleTable(double plus, double minus) {
    for (int b = 0; b < 16; b++) {
      for (int q = 0; q < 4; q++) v[b][q] = ((b >> q) & 1) ? minus : plus;
    }
  }
};

// Whole words in registers: the nibbles of the word index a table of ready lanes instead of
// shifting each bit out (the compiler's version of ApplyWord). wd = 0: x + (-lr·s), one add (lr·s
// is exact, and x - lr·s = x + (-(lr·s)) in IEEE arithmetic, so this is js.ts's `x -= lr·s`).
// wd != 0: x - lr·(s + wd·x), the JS order.
template <bool kDecay>
__attribute__((target("avx2"))) void SignApplyAvx2(float* params, size_t n, const uint32_t* votes, double lr_d, double wd_d) {
  const NibbleTable table = kDecay ? NibbleTable(1.0, -1.0) : NibbleTable(-lr_d, lr_d);
  const __m256d lr = _mm256_set1_pd(lr_d);
  const __m256d wd = _mm256_set1_pd(wd_d);
  const size_t full = n / 32;
  for (size_t w = 0; w < full; w++) {
    const uint32_t word = votes[w];
    float* p = params + w * 32;
    for (int k = 0; k < 4; k++) {
      const __m256 xv = _mm256_loadu_ps(p + 8 * k);
      const __m256d x0 = _mm256_cvtps_pd(_mm256_castps256_ps128(xv));
      const __m256d x1 = _mm256_cvtps_pd(_mm256_extractf128_ps(xv, 1));
      const __m256d t0 = _mm256_load_pd(table.v[(word >> (8 * k)) & 15]);
      const __m256d t1 = _mm256_load_pd(table.v[(word >> (8 * k + 4)) & 15]);
      __m256d r0, r1;
      if (kDecay) {
        r0 = _mm256_sub_pd(x0, _mm256_mul_pd(lr, _mm256_add_pd(t0, _mm256_mul_pd(wd, x0))));
        r1 = _mm256_sub_pd(x1, _mm256_mul_pd(lr, _mm256_add_pd(t1, _mm256_mul_pd(wd, x1))));
      } else {
        r0 = _mm256_add_pd(x0, t0);
        r1 = _mm256_add_pd(x1, t1);
      }
      _mm256_storeu_ps(p + 8 * k, _mm256_set_m128(_mm256_cvtpd_ps(r1), _mm256_cvtpd_ps(r0)));
    }
  }
  if (full * 32 < n) {
    if (kDecay) ApplyWord<true>(params + full * 32, votes[full], n - full * 32, lr_d, wd_d);
    else ApplyWord<false>(params + full * 32, votes[full], n - full * 32, lr_d, wd_d);
  }
}
#endif

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

int64_t MomentumSignPackTo(const float* grad, const float* momentum, float* next, size_t n, double beta, uint32_t* out,
                           const float* params, double wd) {
#if ZCOLL_X86
  if (CpuHasAvx2()) {
    return params == nullptr ? MomentumSignPackToAvx2<false>(grad, momentum, next, n, beta, out, nullptr, wd)
                             : MomentumSignPackToAvx2<true>(grad, momentum, next, n, beta, out, params, wd);
  }
#endif
  return MomentumSignPackToPortable(grad, momentum, next, n, beta, out, params, wd);
}

void SignApply(float* params, size_t n, const uint32_t* votes, double lr, double wd) {
#if ZCOLL_X86
  if (CpuHasAvx2()) {
    if (wd == 0) SignApplyAvx2<false>(params, n, votes, lr, wd);
    else SignApplyAvx2<true>(params, n, votes, lr, wd);
    return;
  }
#endif
  SignApplyPortable(params, n, votes, lr, wd);
}

ZCOLL_CLONES void SignApplyPortable(float* params, size_t n, const uint32_t* votes, double lr, double wd) {
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

// The per-step passes of Signum (lib/compress/signum.ts; Bernstein et al., ICLR 2019, Alg. 1) and
// the plain SGD update of the float32 baseline, as fused loops over the parameter vector:
//  - FirstNonFinite: the finiteness check of a gradient before it may touch the momentum.
//    Cost: reads 4n bytes; a branch-free OR over chunks, an exact scan only in the chunk that failed.
//  - MomentumSignPack: m <- the fp32 momentum rule below, and the sign bits of the new m, chunk by
//    chunk so the pack reads m from L1 right after the update wrote it.
//    Cost: reads 8n (12n with x) bytes, writes 4n + n/8; one pass over memory instead of two.
//  - MomentumSignPackTo: the same update with the finiteness check of g (and x) folded in, written
//    to a second buffer, and the sign bits of m_next, in one pass. The old momentum is only read, so
//    a bad gradient (or an fp32 overflow) leaves it as it was without a checking pass before the
//    update (the caller swaps the buffers on success).
//    Cost: reads 8n (12n with x), writes 4n + n/8, streamed (non-temporal) where the AVX2 path runs:
//    no read for ownership of m_next. Against check + in-place update (reads 12n, writes 4n): 16n -> 12n.
//  - SignApply: x <- x - lr·(s [+ wd·x]) in fp32, s = +-1 from a packed vote. Reads/writes 4n, reads n/8.
//  - Axpy: y <- fp32(y + alpha·x) (the float32 SGD baseline). Reads 8n, writes 4n.
// Signum's arithmetic is float32, as PyTorch and the GPU frameworks compute a momentum update: every
// operation rounds to fp32, in this order and no other (contract.ts; b = fp32(beta),
// a = fp32(1 - beta) with 1 - beta taken in double, w = fp32(wd), l = fp32(lr)):
//    d = g                      or  d = fp32(g + fp32(w·x))         ('voted' decay)
//    m' = fp32(fp32(b·m) + fp32(a·d))
//    x' = fp32(x - fp32(l·s))   or  x' = fp32(x - fp32(l·fp32(s + fp32(w·x))))   (signApply, wd != 0)
// No FMA: binding.gyp passes -ffp-contract=off, the AVX2 code is compiled for "avx2" only (no "fma"
// target) and spells each multiply and add. The JS twin (lib/kernels/js.ts) gets the same bits with
// Math.fround after every operation: a product or sum of two fp32 values computed in double and
// rounded once to fp32 equals the fp32 operation (double has more than 2·24 + 2 significand bits, so
// the double rounding is harmless for +, -, ·). Doing it in fp32 rather than in double lets the AVX2
// loops work on 8 lanes without float <-> double conversions, which bounded the momentum pass.
// Axpy keeps the double-then-fp32 arithmetic of js.ts (`y[i] += alpha·x[i]` in V8).
// The compiler vectorises the portable loops (4 lanes in SSE2, 8 in AVX2 via ZCOLL_CLONES);
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

// The coefficients of the momentum rule in fp32, rounded once from the caller's doubles (as
// Math.fround rounds them in js.ts): b = fp32(beta), a = fp32(1 - beta) with 1 - beta in double.
struct MomentumCoefficients {
  float beta;
  float gain;
  float wd;
  MomentumCoefficients(double beta_d, double wd_d)
      : beta(static_cast<float>(beta_d)), gain(static_cast<float>(1.0 - beta_d)), wd(static_cast<float>(wd_d)) {}
};

// One element of the momentum rule, every operation in fp32 (x86-64 evaluates float in SSE
// registers, FLT_EVAL_METHOD 0: no wider intermediate; no contraction into FMA).
inline float MomentumOne(float m, float g, MomentumCoefficients c) {
  const float bm = c.beta * m;
  const float ag = c.gain * g;
  return bm + ag;
}
inline float MomentumOneDecayed(float m, float g, float x, MomentumCoefficients c) {
  const float wx = c.wd * x;
  const float d = g + wx;
  return MomentumOne(m, d, c);
}

// One vote word applied to x[0..count), count <= 32, in fp32: s = -1 where the bit is 1, else +1;
// l·s is then exact, so the only rounding steps are the contract's.
template <bool kDecay>
inline __attribute__((always_inline)) void ApplyWord(float* x, uint32_t word, size_t count, float lr, float wd) {
  for (size_t j = 0; j < count; j++) {
    const float s = ((word >> j) & 1u) != 0 ? -1.0f : 1.0f;
    const float xj = x[j];
    if (kDecay) {
      const float wx = wd * xj;
      const float step = s + wx;
      const float scaled = lr * step;
      x[j] = xj - scaled;
    } else {
      const float scaled = lr * s;
      x[j] = xj - scaled;
    }
  }
}

// Portable MomentumSignPackTo, chunk by chunk: the chunk's inputs are checked (a branch-free OR the
// compiler vectorises, exact scan only in a failing chunk), then updated into next and packed from
// there while it is in L1. Returns as the contract says; next and out are unspecified on >= 0.
ZCOLL_CLONES int64_t MomentumSignPackToPortable(const float* grad, const float* momentum, float* next, size_t n, double beta,
                                                uint32_t* out, const float* params, double wd) {
  const MomentumCoefficients c(beta, wd);
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
      for (size_t j = 0; j < count; j++) mn[j] = MomentumOne(m[j], g[j], c);
    } else {
      for (size_t j = 0; j < count; j++) mn[j] = MomentumOneDecayed(m[j], g[j], x[j], c);
    }
    const int64_t chunk_bad = SignPack(mn, count, out + base / 32);
    if (chunk_bad >= 0) overflow = static_cast<int64_t>(base) + chunk_bad;
  }
  return overflow;
}

#if ZCOLL_X86
// Eight elements of the fused pass in registers, in fp32 lanes (no widening: the double version
// spent its time converting). kDecay adds fp32(w·x) to g first.
template <bool kDecay>
__attribute__((target("avx2"), always_inline)) inline __m256 MomentumEight(const float* g, const float* m, const float* x,
                                                                           __m256 beta, __m256 gain, __m256 wd) {
  __m256 d = _mm256_loadu_ps(g);
  if (kDecay) d = _mm256_add_ps(d, _mm256_mul_ps(wd, _mm256_loadu_ps(x)));
  return _mm256_add_ps(_mm256_mul_ps(beta, _mm256_loadu_ps(m)), _mm256_mul_ps(gain, d));
}

// Momenta of at least this many elements are written with streaming stores: they do not fit the
// caches anyway (16 MiB, half of a 32 MiB L3), so reading their lines before writing them (what a
// plain store does) is wasted traffic. Smaller ones stay cached for the next step (streaming a
// cache-resident array measured 2.3x slower than plain stores here).
constexpr size_t kStreamMin = size_t{1} << 22;

// Whole words (32 elements) in registers, then the partial last word through the portable code.
// One test per word covers both failure kinds: a NaN or Inf in g (or x) always makes the new
// momentum NaN or Inf (a product with it is NaN or Inf whatever the fp32 coefficient, and a sum
// with NaN or Inf never comes back to a finite value), and so does an fp32 overflow; only then the
// portable code re-runs the word to tell which and where.
// next is written with 32-byte streaming stores when it is 32-byte aligned, else with 16-byte ones
// (V8's backing stores are 16-byte aligned) or plain stores; the sfence orders them before JS reads next.
template <bool kDecay>
__attribute__((target("avx2"))) int64_t MomentumSignPackToAvx2(const float* grad, const float* momentum, float* next, size_t n,
                                                               double beta_d, uint32_t* out, const float* params, double wd_d) {
  const MomentumCoefficients c(beta_d, wd_d);
  const __m256 beta = _mm256_set1_ps(c.beta);
  const __m256 gain = _mm256_set1_ps(c.gain);
  const __m256 wd = _mm256_set1_ps(c.wd);
  const __m256 zero = _mm256_setzero_ps();
  const uintptr_t address = reinterpret_cast<uintptr_t>(next);
  const int stream = n < kStreamMin ? 0 : (address & 31) == 0 ? 32 : (address & 15) == 0 ? 16 : 0;
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
      if (stream == 32) {
        _mm256_stream_ps(next + i, mn);
      } else if (stream == 16) {
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

// Whole words in registers. Lane q of group k takes bit 8k + q of the word: a variable left shift
// by 31 - (8k + q) moves it to the sign bit, and XOR-ing that sign bit into a constant gives the
// signed value with no table or branch. wd = 0: x + (-l·s) (l·s is exact, and x - y = x + (-y) in
// IEEE arithmetic, so this is the contract's fp32(x - fp32(l·s))). wd != 0: the contract's order.
template <bool kDecay>
__attribute__((target("avx2"))) void SignApplyAvx2(float* params, size_t n, const uint32_t* votes, float lr_f, float wd_f) {
  const __m256 lr = _mm256_set1_ps(lr_f);
  const __m256 wd = _mm256_set1_ps(wd_f);
  // wd = 0: the step for s = +1 is -l; a set bit flips it to +l. wd != 0: s itself, from +1.
  const __m256 base_value = _mm256_set1_ps(kDecay ? 1.0f : -lr_f);
  const __m256i sign_bit = _mm256_set1_epi32(static_cast<int>(0x80000000u));
  const __m256i shift0 = _mm256_setr_epi32(31, 30, 29, 28, 27, 26, 25, 24);
  const __m256i eight = _mm256_set1_epi32(8);
  const size_t full = n / 32;
  for (size_t w = 0; w < full; w++) {
    const __m256i word = _mm256_set1_epi32(static_cast<int>(votes[w]));
    float* p = params + w * 32;
    __m256i shift = shift0;
    for (int k = 0; k < 4; k++) {
      const __m256 flip = _mm256_castsi256_ps(_mm256_and_si256(_mm256_sllv_epi32(word, shift), sign_bit));
      const __m256 signed_value = _mm256_xor_ps(base_value, flip);
      const __m256 xv = _mm256_loadu_ps(p + 8 * k);
      __m256 r;
      if (kDecay) {
        r = _mm256_sub_ps(xv, _mm256_mul_ps(lr, _mm256_add_ps(signed_value, _mm256_mul_ps(wd, xv))));
      } else {
        r = _mm256_add_ps(xv, signed_value);
      }
      _mm256_storeu_ps(p + 8 * k, r);
      shift = _mm256_sub_epi32(shift, eight);
    }
  }
  if (full * 32 < n) {
    if (kDecay) ApplyWord<true>(params + full * 32, votes[full], n - full * 32, lr_f, wd_f);
    else ApplyWord<false>(params + full * 32, votes[full], n - full * 32, lr_f, wd_f);
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
  const MomentumCoefficients c(beta, wd);
  int64_t bad = -1;
  for (size_t base = 0; base < n; base += kChunk) {
    const size_t count = n - base < kChunk ? n - base : kChunk;
    float* m = momentum + base;
    const float* g = grad + base;
    if (params == nullptr) {
      for (size_t j = 0; j < count; j++) m[j] = MomentumOne(m[j], g[j], c);
    } else {
      const float* x = params + base;
      for (size_t j = 0; j < count; j++) m[j] = MomentumOneDecayed(m[j], g[j], x[j], c);
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
    // The formula is chosen on the caller's wd (0 or -0: the short one), as js.ts chooses it.
    if (wd == 0) SignApplyAvx2<false>(params, n, votes, static_cast<float>(lr), 0.0f);
    else SignApplyAvx2<true>(params, n, votes, static_cast<float>(lr), static_cast<float>(wd));
    return;
  }
#endif
  SignApplyPortable(params, n, votes, lr, wd);
}

ZCOLL_CLONES void SignApplyPortable(float* params, size_t n, const uint32_t* votes, double lr, double wd) {
  // Whole words get a loop of constant trip count 32 that the compiler unrolls into vector code;
  // the partial last word goes through the same body with its own count.
  const float lr_f = static_cast<float>(lr);
  const float wd_f = static_cast<float>(wd);
  const size_t full = n / 32;
  if (wd == 0) {
    for (size_t w = 0; w < full; w++) ApplyWord<false>(params + w * 32, votes[w], 32, lr_f, wd_f);
    if (full * 32 < n) ApplyWord<false>(params + full * 32, votes[full], n - full * 32, lr_f, wd_f);
  } else {
    for (size_t w = 0; w < full; w++) ApplyWord<true>(params + w * 32, votes[w], 32, lr_f, wd_f);
    if (full * 32 < n) ApplyWord<true>(params + full * 32, votes[full], n - full * 32, lr_f, wd_f);
  }
}

ZCOLL_CLONES void Axpy(float* y, size_t n, double alpha, const float* x) {
  for (size_t i = 0; i < n; i++) y[i] = static_cast<float>(static_cast<double>(y[i]) + alpha * static_cast<double>(x[i]));
}

}  // namespace zcoll

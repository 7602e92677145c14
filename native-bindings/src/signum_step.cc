// Signum's momentum pass with the finiteness check folded in (lib/compress/signum.ts):
//   next[i] <- fp32(beta·m[i] + (1 - beta)·(g[i] [+ wd·x[i]])), bit i of out <- next[i] < 0,
// chunk by chunk: the chunk's g (and x) are checked while they come into L1, the new momentum is
// computed into an L1 buffer (same arithmetic as MomentumSignPack, so the same bits as js.ts), packed
// from there, and streamed to `next` with non-temporal stores. The old momentum is only read, so a
// bad gradient leaves it untouched without a separate checking pass (the caller swaps the buffers
// on success). Memory traffic: reads 8n (12n with x), writes 4n + n/8: no read for ownership of
// `next` (streaming stores), no second read of g. Against check + in-place update: 16n -> 12n.
// Returns the first i with g[i] or x[i] non-finite; else the first i with next[i] non-finite (an
// fp32 overflow of finite inputs); else -1. On a return >= 0, next and out hold unspecified values.
#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "kernels.h"
#include "signum_kernels.h"

namespace zcoll {
namespace {

constexpr size_t kChunk = 2048;  // multiple of 32: chunks end on word boundaries

inline bool NonFinite(float x) { return !(x - x == 0.0f); }

// dst[0..n) <- src[0..n) bypassing the caches where dst is 16-byte aligned.
inline void StreamCopy(float* dst, const float* src, size_t n) {
#if defined(__SSE2__)
  size_t j = 0;
  for (; j < n && (reinterpret_cast<uintptr_t>(dst + j) & 15) != 0; j++) dst[j] = src[j];
  for (; j + 4 <= n; j += 4) _mm_stream_ps(dst + j, _mm_loadu_ps(src + j));
  for (; j < n; j++) dst[j] = src[j];
#else
  std::memcpy(dst, src, n * sizeof(float));
#endif
}

}  // namespace

ZCOLL_CLONES int64_t MomentumSignPackTo(const float* grad, const float* momentum, float* next, size_t n, double beta, uint32_t* out,
                                        const float* params, double wd) {
  const double gain = 1.0 - beta;
  int64_t overflow = -1;
  alignas(64) float fresh[kChunk];
  for (size_t base = 0; base < n; base += kChunk) {
    const size_t count = n - base < kChunk ? n - base : kChunk;
    const float* g = grad + base;
    const float* x = params != nullptr ? params + base : nullptr;
    int any = 0;  // branch-free OR, vectorised; the exact scan only in a failing chunk
    for (size_t j = 0; j < count; j++) any |= NonFinite(g[j]) ? 1 : 0;
    if (x != nullptr) {
      for (size_t j = 0; j < count; j++) any |= NonFinite(x[j]) ? 1 : 0;
    }
    if (any != 0) {
      for (size_t j = 0; j < count; j++) {
        if (NonFinite(g[j]) || (x != nullptr && NonFinite(x[j]))) return static_cast<int64_t>(base + j);
      }
    }
    if (overflow >= 0) continue;  // the result is decided unless a later input is bad
    const float* m = momentum + base;
    if (x == nullptr) {
      for (size_t j = 0; j < count; j++) {
        fresh[j] = static_cast<float>(beta * static_cast<double>(m[j]) + gain * static_cast<double>(g[j]));
      }
    } else {
      for (size_t j = 0; j < count; j++) {
        const double decayed = static_cast<double>(g[j]) + wd * static_cast<double>(x[j]);
        fresh[j] = static_cast<float>(beta * static_cast<double>(m[j]) + gain * decayed);
      }
    }
    const int64_t chunk_bad = SignPack(fresh, count, out + base / 32);
    if (chunk_bad >= 0) overflow = static_cast<int64_t>(base) + chunk_bad;
    StreamCopy(next + base, fresh, count);
  }
#if defined(__SSE2__)
  _mm_sfence();  // the streamed stores are visible before JS reads next
#endif
  return overflow;
}

}  // namespace zcoll

// The count lanes of signVote's 'reduce' mode (lib/compress/vote-lanes.ts has the layout and why).
// Each rank spreads its packed signs into c-bit lanes of int32 words, c = bit length of M, so the
// ring reduce-scatter's plain int32 sum adds M lanes at once without a carry between lanes (a lane
// never exceeds M < 2^c); the owner of a chunk turns its summed lanes back into vote bits.
//  - SpreadVoteLanes: reads d/8 bytes, writes 128 bytes per group of 32·L coordinates.
//  - VotesFromLanes: reads the chunk's count words, writes its neg and tie words.
// Integer only, so the JS twin (lib/kernels/js-vote-lanes.ts) gives the same bits by construction;
// the inner loops have a constant trip count of 32 and variable shifts (vpsrlvd under AVX2).
#include <string>
#if defined(__x86_64__) && !defined(ZCOLL_NO_AVX2)
#include <immintrin.h>
#define ZCOLL_LANES_AVX2 1
#endif

#include "kernels.h"
#include "vote_lanes.h"

namespace zcoll {
namespace {

inline unsigned LaneBits(uint32_t ranks) {
  unsigned c = 1;
  while (c < 31 && (uint64_t{1} << c) <= ranks) c++;
  return c;
}

}  // namespace

#if defined(ZCOLL_LANES_AVX2)
namespace {

// kBitBytes[b]: byte i = bit i of b, so one 8-bit slice of a sign word widens to 8 int32 lanes.
struct BitBytes {
  uint64_t v[256];
  BitBytes() {
    for (unsigned b = 0; b < 256; b++) {
      uint64_t e = 0;
      for (unsigned i = 0; i < 8; i++) e |= static_cast<uint64_t>((b >> i) & 1u) << (8 * i);
      v[b] = e;
    }
  }
};
const BitBytes kBitBytes;

// The same result as the portable loop: per sign word, 4 table look-ups widened to 8 int32 each,
// shifted to the word's lane and ORed into the group's 32 count words (4 AVX2 registers).
__attribute__((target("avx2"))) void SpreadAvx2(const uint32_t* packed, size_t words, uint32_t tail, unsigned c, size_t lanes,
                                                uint32_t* out, size_t groups) {
  for (size_t g = 0; g < groups; g++) {
    __m256i acc[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
    for (size_t l = 0; l < lanes; l++) {
      const size_t w = g * lanes + l;
      uint32_t s = w < words ? packed[w] : 0;
      if (w + 1 == words) s &= tail;
      if (s == 0) continue;
      const __m128i shift = _mm_cvtsi32_si128(static_cast<int>(c * l));
      for (unsigned k = 0; k < 4; k++) {
        const __m256i bits = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(static_cast<long long>(kBitBytes.v[(s >> (8 * k)) & 255u])));
        acc[k] = _mm256_or_si256(acc[k], _mm256_sll_epi32(bits, shift));
      }
    }
    for (unsigned k = 0; k < 4; k++) _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 32 * g + 8 * k), acc[k]);
  }
}

}  // namespace
#endif

void SpreadVoteLanes(const uint32_t* packed, size_t d, uint32_t ranks, uint32_t* out, size_t groups) {
  const unsigned c = LaneBits(ranks);
  const size_t lanes = 32 / c;
  const size_t words = (d + 31) / 32;
  const uint32_t tail = (d & 31) != 0 ? (uint32_t{1} << (d & 31)) - 1 : ~uint32_t{0};
#if defined(ZCOLL_LANES_AVX2)
  if (CpuHasAvx2()) {
    SpreadAvx2(packed, words, tail, c, lanes, out, groups);
    return;
  }
#endif
  for (size_t g = 0; g < groups; g++) {
    uint32_t* o = out + 32 * g;
    uint32_t acc[32];
    for (unsigned j = 0; j < 32; j++) acc[j] = 0;
    for (size_t l = 0; l < lanes; l++) {
      const size_t w = g * lanes + l;
      uint32_t s = w < words ? packed[w] : 0;
      if (w + 1 == words) s &= tail;
      const unsigned shift = c * static_cast<unsigned>(l);
      for (unsigned j = 0; j < 32; j++) acc[j] |= ((s >> j) & 1u) << shift;
    }
    for (unsigned j = 0; j < 32; j++) o[j] = acc[j];
  }
}

ZCOLL_CLONES int64_t VotesFromLanes(const uint32_t* counts, size_t groups, uint32_t ranks, uint32_t* neg, uint32_t* ties) {
  const unsigned c = LaneBits(ranks);
  const size_t lanes = 32 / c;
  const uint32_t mask = (uint32_t{1} << c) - 1;
  for (size_t g = 0; g < groups; g++) {
    const uint32_t* cw = counts + 32 * g;
    for (size_t l = 0; l < lanes; l++) {
      const unsigned shift = c * static_cast<unsigned>(l);
      uint32_t n = 0, t = 0, bad = 0;
      for (unsigned j = 0; j < 32; j++) {
        const uint32_t v = (cw[j] >> shift) & mask;  // v < 2^31, so 2v fits
        n |= static_cast<uint32_t>(2 * v > ranks) << j;
        t |= static_cast<uint32_t>(2 * v == ranks) << j;
        bad |= static_cast<uint32_t>(v > ranks) << j;
      }
      if (bad != 0) return static_cast<int64_t>((g * lanes + l) * 32 + static_cast<size_t>(__builtin_ctz(bad)));
      neg[g * lanes + l] = n;
      ties[g * lanes + l] = t;
    }
  }
  return -1;
}

namespace {

Napi::Value Fail(const Napi::Env& env, bool range, const std::string& message) {
  if (range) Napi::RangeError::New(env, "zcoll native " + message).ThrowAsJavaScriptException();
  else Napi::TypeError::New(env, "zcoll native " + message).ThrowAsJavaScriptException();
  return env.Undefined();
}

// A typed array of the given type at argument i, or a TypeError naming the function and argument.
template <typename T>
bool Arg(const Napi::CallbackInfo& info, size_t i, napi_typedarray_type type, const char* fn, const char* name, const char* what,
         T** data, size_t* length) {
  if (info.Length() > i && info[i].IsTypedArray()) {
    Napi::TypedArray a = info[i].As<Napi::TypedArray>();
    if (a.TypedArrayType() == type) {
      *data = reinterpret_cast<T*>(static_cast<uint8_t*>(a.ArrayBuffer().Data()) + a.ByteOffset());
      *length = a.ElementLength();
      return true;
    }
  }
  Fail(info.Env(), false, std::string(fn) + ": argument '" + name + "' must be " + what);
  return false;
}

// A non-negative integer at argument i below `limit`.
bool ArgCount(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* name, double limit, double* out) {
  if (info.Length() > i && info[i].IsNumber()) {
    const double v = info[i].As<Napi::Number>().DoubleValue();
    if (v >= 0 && v < limit && v == static_cast<double>(static_cast<int64_t>(v))) {
      *out = v;
      return true;
    }
  }
  Fail(info.Env(), true, std::string(fn) + ": argument '" + name + "' must be an integer in [0, " + std::to_string(static_cast<int64_t>(limit)) + ")");
  return false;
}

// spreadVoteLanes(packed: Uint32Array, d, ranks, out: Int32Array): out.length a multiple of 32.
Napi::Value SpreadVoteLanesFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* fn = "spreadVoteLanes";
  uint32_t* packed;
  uint32_t* out;
  size_t packed_len, out_len;
  double d, ranks;
  if (!Arg(info, 0, napi_uint32_array, fn, "packed", "a Uint32Array", &packed, &packed_len) || !ArgCount(info, 1, fn, "d", 9007199254740992.0, &d) ||
      !ArgCount(info, 2, fn, "ranks", 2147483648.0, &ranks) || !Arg(info, 3, napi_int32_array, fn, "out", "an Int32Array", &out, &out_len)) {
    return env.Undefined();
  }
  const size_t n = static_cast<size_t>(d);
  if (ranks < 1) return Fail(env, true, std::string(fn) + ": 'ranks' must be >= 1");
  if (packed_len < (n + 31) / 32) return Fail(env, true, std::string(fn) + ": packed has " + std::to_string(packed_len) + " words, needs " + std::to_string((n + 31) / 32));
  const size_t lanes = 32 / LaneBits(static_cast<uint32_t>(ranks));
  const size_t groups = out_len / 32;
  if (out_len % 32 != 0 || groups * lanes * 32 < n) {
    return Fail(env, true, std::string(fn) + ": out has " + std::to_string(out_len) + " words, needs a multiple of 32 covering " + std::to_string(n) + " coordinates");
  }
  SpreadVoteLanes(packed, n, static_cast<uint32_t>(ranks), out, groups);
  return env.Undefined();
}

// votesFromLanes(counts: Int32Array, ranks, negOut: Uint32Array, tieOut: Uint32Array): number.
Napi::Value VotesFromLanesFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* fn = "votesFromLanes";
  uint32_t* counts;
  uint32_t* neg;
  uint32_t* ties;
  size_t counts_len, neg_len, ties_len;
  double ranks;
  if (!Arg(info, 0, napi_int32_array, fn, "counts", "an Int32Array", &counts, &counts_len) || !ArgCount(info, 1, fn, "ranks", 2147483648.0, &ranks) ||
      !Arg(info, 2, napi_uint32_array, fn, "negOut", "a Uint32Array", &neg, &neg_len) ||
      !Arg(info, 3, napi_uint32_array, fn, "tieOut", "a Uint32Array", &ties, &ties_len)) {
    return env.Undefined();
  }
  if (ranks < 1) return Fail(env, true, std::string(fn) + ": 'ranks' must be >= 1");
  const size_t lanes = 32 / LaneBits(static_cast<uint32_t>(ranks));
  const size_t groups = counts_len / 32;
  if (counts_len % 32 != 0) return Fail(env, true, std::string(fn) + ": counts has " + std::to_string(counts_len) + " words, not a multiple of 32");
  if (neg_len < groups * lanes || ties_len < groups * lanes) {
    return Fail(env, true, std::string(fn) + ": negOut and tieOut need " + std::to_string(groups * lanes) + " words each");
  }
  if (neg == ties) return Fail(env, true, std::string(fn) + ": negOut and tieOut must be distinct arrays");
  return Napi::Number::New(env, static_cast<double>(VotesFromLanes(counts, groups, static_cast<uint32_t>(ranks), neg, ties)));
}

}  // namespace

void InitVoteLanes(Napi::Env env, Napi::Object exports) {
  exports.Set("spreadVoteLanes", Napi::Function::New(env, SpreadVoteLanesFn, "spreadVoteLanes"));
  exports.Set("votesFromLanes", Napi::Function::New(env, VotesFromLanesFn, "votesFromLanes"));
}

}  // namespace zcoll

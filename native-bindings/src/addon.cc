// N-API glue for the kernels of kernels.h: checks every argument (type, dtype, lengths) before a
// pointer is touched, so a wrong call from JS is a TypeError/RangeError with a message naming the
// function and the argument, never a crash. No C++ exception crosses the boundary (the addon is
// built with NAPI_DISABLE_CPP_EXCEPTIONS and -fno-exceptions).
#include <napi.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels.h"
#include "shm.h"
#include "futex.h"
#include "huge_pages.h"

namespace zcoll {
namespace {

struct ArrayView {
  napi_typedarray_type type;
  size_t length;
  void* data;
};

const char* TypedArrayName(napi_typedarray_type type) {
  switch (type) {
    case napi_int8_array: return "Int8Array";
    case napi_uint8_array: return "Uint8Array";
    case napi_uint8_clamped_array: return "Uint8ClampedArray";
    case napi_int16_array: return "Int16Array";
    case napi_uint16_array: return "Uint16Array";
    case napi_int32_array: return "Int32Array";
    case napi_uint32_array: return "Uint32Array";
    case napi_float32_array: return "Float32Array";
    case napi_float64_array: return "Float64Array";
    case napi_bigint64_array: return "BigInt64Array";
    case napi_biguint64_array: return "BigUint64Array";
  }
  return "TypedArray";
}

// What a JS value is, for error messages ("got Uint8Array", "got undefined").
std::string Describe(napi_env env, napi_value value) {
  bool is_typed = false;
  napi_is_typedarray(env, value, &is_typed);
  if (is_typed) {
    napi_typedarray_type type;
    napi_get_typedarray_info(env, value, &type, nullptr, nullptr, nullptr, nullptr);
    return TypedArrayName(type);
  }
  bool is_array = false;
  napi_is_array(env, value, &is_array);
  if (is_array) return "Array";
  napi_valuetype vt = napi_undefined;
  napi_typeof(env, value, &vt);
  switch (vt) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: return "boolean";
    case napi_number: return "number";
    case napi_string: return "string";
    case napi_symbol: return "symbol";
    case napi_object: return "object";
    case napi_function: return "function";
    case napi_external: return "external";
    case napi_bigint: return "bigint";
  }
  return "unknown";
}

Napi::Value ThrowType(const Napi::Env& env, const std::string& message) {
  Napi::TypeError::New(env, "zcoll native " + message).ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value ThrowRange(const Napi::Env& env, const std::string& message) {
  Napi::RangeError::New(env, "zcoll native " + message).ThrowAsJavaScriptException();
  return env.Undefined();
}

// Reads a typed array; false (no exception yet) when the value is not one.
bool GetView(napi_env env, napi_value value, ArrayView* view) {
  bool is_typed = false;
  if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed) return false;
  return napi_get_typedarray_info(env, value, &view->type, &view->length, &view->data, nullptr, nullptr) ==
         napi_ok;
}

bool IsNumericType(napi_typedarray_type t) {
  return t == napi_float32_array || t == napi_float64_array || t == napi_int32_array;
}
bool IsFloatType(napi_typedarray_type t) { return t == napi_float32_array || t == napi_float64_array; }

// Argument readers: each returns false after throwing a JS error.
bool ArgView(const Napi::CallbackInfo& info, size_t index, const char* fn, const char* arg, bool (*accept)(napi_typedarray_type),
             const char* expected, ArrayView* view) {
  if (index >= info.Length() || !GetView(info.Env(), info[index], view) || !accept(view->type)) {
    const std::string got = index < info.Length() ? Describe(info.Env(), info[index]) : "undefined";
    ThrowType(info.Env(), std::string(fn) + ": argument '" + arg + "' must be " + expected + " (got " + got + ")");
    return false;
  }
  return true;
}

bool AcceptNumeric(napi_typedarray_type t) { return IsNumericType(t); }
bool AcceptFloat(napi_typedarray_type t) { return IsFloatType(t); }
bool AcceptFloat32(napi_typedarray_type t) { return t == napi_float32_array; }
bool AcceptFloat64(napi_typedarray_type t) { return t == napi_float64_array; }
bool AcceptUint32(napi_typedarray_type t) { return t == napi_uint32_array; }

bool ArgNumber(const Napi::CallbackInfo& info, size_t index, const char* fn, const char* arg, double* out) {
  if (index >= info.Length() || !info[index].IsNumber()) {
    const std::string got = index < info.Length() ? Describe(info.Env(), info[index]) : "undefined";
    ThrowType(info.Env(), std::string(fn) + ": argument '" + arg + "' must be a number (got " + got + ")");
    return false;
  }
  *out = info[index].As<Napi::Number>().DoubleValue();
  return true;
}

// A non-negative integer index/count below `limit` (inclusive when inclusive is set).
bool ArgIndex(const Napi::CallbackInfo& info, size_t index, const char* fn, const char* arg, size_t limit,
              bool inclusive, size_t* out) {
  double v;
  if (!ArgNumber(info, index, fn, arg, &v)) return false;
  const double top = static_cast<double>(limit);
  if (!(v >= 0) || v != std::floor(v) || (inclusive ? v > top : v >= top)) {
    ThrowRange(info.Env(), std::string(fn) + ": argument '" + arg + "' must be an integer in [0, " +
                               std::to_string(limit) + (inclusive ? "]" : ")") + " (got " +
                               std::to_string(v) + ")");
    return false;
  }
  *out = static_cast<size_t>(v);
  return true;
}

// Reads an Array of typed arrays of one type, each with at least min_length elements; `shortest`
// (when given) receives the smallest length seen, from the same reads the pointers came from.
template <typename P>
bool ArgViewList(const Napi::CallbackInfo& info, size_t index, const char* fn, const char* arg,
                 napi_typedarray_type type, size_t min_length, std::vector<P>* out, size_t* shortest = nullptr,
                 std::vector<size_t>* lengths = nullptr) {
  napi_env env = info.Env();
  bool is_array = false;
  if (index < info.Length()) napi_is_array(env, info[index], &is_array);
  if (!is_array) {
    const std::string got = index < info.Length() ? Describe(env, info[index]) : "undefined";
    ThrowType(info.Env(), std::string(fn) + ": argument '" + arg + "' must be an Array of " + TypedArrayName(type) +
                              " (got " + got + ")");
    return false;
  }
  uint32_t count = 0;
  napi_get_array_length(env, info[index], &count);
  out->resize(count);
  if (lengths != nullptr) lengths->resize(count);
  for (uint32_t i = 0; i < count; i++) {
    napi_value element;
    ArrayView view;
    if (napi_get_element(env, info[index], i, &element) != napi_ok || !GetView(env, element, &view) ||
        view.type != type) {
      if (info.Env().IsExceptionPending()) return false;
      ThrowType(info.Env(), std::string(fn) + ": " + arg + "[" + std::to_string(i) + "] must be a " +
                                TypedArrayName(type) + " (got " + Describe(env, element) + ")");
      return false;
    }
    if (view.length < min_length) {
      ThrowRange(info.Env(), std::string(fn) + ": " + arg + "[" + std::to_string(i) + "] has " +
                                 std::to_string(view.length) + " elements, needs at least " +
                                 std::to_string(min_length));
      return false;
    }
    (*out)[i] = static_cast<P>(view.data);
    if (shortest != nullptr && view.length < *shortest) *shortest = view.length;
    if (lengths != nullptr) (*lengths)[i] = view.length;
  }
  return true;
}

// The bytes one kernel call reads or writes in one array.
struct Span {
  uintptr_t begin;
  uintptr_t end;
  bool written;
};

inline Span SpanOf(const void* data, size_t bytes, bool written) {
  const uintptr_t begin = reinterpret_cast<uintptr_t>(data);
  return {begin, begin + bytes, written};
}

// True when an array that is written shares a byte with another array. Arrays only read may share
// (BGMD passes one zero row for several invalid workers). Sorted by start, then one sweep: a span
// overlaps an earlier one iff it starts before the largest end seen so far.
bool WrittenOverlap(std::vector<Span>* spans) {
  std::sort(spans->begin(), spans->end(), [](const Span& a, const Span& b) { return a.begin < b.begin; });
  uintptr_t end_any = 0;
  uintptr_t end_written = 0;
  for (const Span& s : *spans) {
    if (s.end == s.begin) continue;
    if (s.begin < (s.written ? end_any : end_written)) return true;
    if (s.end > end_any) end_any = s.end;
    if (s.written && s.end > end_written) end_written = s.end;
  }
  return false;
}

// Two row lists that pair up one to one; false after throwing when their counts differ.
bool SameCount(const Napi::Env& env, const char* fn, const char* a, size_t na, const char* b, size_t nb) {
  if (na == nb) return true;
  ThrowRange(env, std::string(fn) + ": " + a + " has " + std::to_string(na) + " entries, " + b + " has " +
                      std::to_string(nb) + "; they must be equal");
  return false;
}

Napi::Value ReduceInto(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ArrayView dst, src;
  double op;
  if (!ArgView(info, 0, "reduceInto", "dst", AcceptNumeric, "a Float32Array, Float64Array or Int32Array", &dst) ||
      !ArgView(info, 1, "reduceInto", "src", AcceptNumeric, "a Float32Array, Float64Array or Int32Array", &src) ||
      !ArgNumber(info, 2, "reduceInto", "op", &op)) {
    return env.Undefined();
  }
  if (dst.type != src.type) {
    return ThrowType(env, std::string("reduceInto: dst and src must have the same type (got ") +
                              TypedArrayName(dst.type) + " and " + TypedArrayName(src.type) + ")");
  }
  if (src.length < dst.length) {
    return ThrowRange(env, "reduceInto: src has " + std::to_string(src.length) + " elements, dst has " +
                               std::to_string(dst.length) + "; src must be at least as long");
  }
  const size_t n = dst.length;
  const int code = op == 0 ? 0 : op == 1 ? 1 : op == 2 ? 2 : -1;
  if (code < 0) return ThrowRange(env, "reduceInto: op code must be 0 (sum), 1 (min) or 2 (max)");
  switch (dst.type) {
    case napi_float32_array: {
      float* d = static_cast<float*>(dst.data);
      const float* s = static_cast<const float*>(src.data);
      if (code == 0) SumF32(d, s, n); else if (code == 1) MinF32(d, s, n); else MaxF32(d, s, n);
      break;
    }
    case napi_float64_array: {
      double* d = static_cast<double*>(dst.data);
      const double* s = static_cast<const double*>(src.data);
      if (code == 0) SumF64(d, s, n); else if (code == 1) MinF64(d, s, n); else MaxF64(d, s, n);
      break;
    }
    default: {
      int32_t* d = static_cast<int32_t*>(dst.data);
      const int32_t* s = static_cast<const int32_t*>(src.data);
      if (code == 0) SumI32(d, s, n); else if (code == 1) MinI32(d, s, n); else MaxI32(d, s, n);
      break;
    }
  }
  return env.Undefined();
}

Napi::Value Scale(const Napi::CallbackInfo& info) {
  ArrayView dst;
  double factor;
  if (!ArgView(info, 0, "scale", "dst", AcceptFloat, "a Float32Array or Float64Array", &dst) ||
      !ArgNumber(info, 1, "scale", "factor", &factor)) {
    return info.Env().Undefined();
  }
  if (dst.type == napi_float32_array) ScaleF32(static_cast<float*>(dst.data), dst.length, factor);
  else ScaleF64(static_cast<double*>(dst.data), dst.length, factor);
  return info.Env().Undefined();
}

Napi::Value Divide(const Napi::CallbackInfo& info) {
  ArrayView dst;
  double divisor;
  if (!ArgView(info, 0, "divide", "dst", AcceptNumeric, "a Float32Array, Float64Array or Int32Array", &dst) ||
      !ArgNumber(info, 1, "divide", "divisor", &divisor)) {
    return info.Env().Undefined();
  }
  if (dst.type == napi_float32_array) DivideF32(static_cast<float*>(dst.data), dst.length, divisor);
  else if (dst.type == napi_float64_array) DivideF64(static_cast<double*>(dst.data), dst.length, divisor);
  else DivideI32(static_cast<int32_t*>(dst.data), dst.length, divisor);
  return info.Env().Undefined();
}

Napi::Value SignPackFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ArrayView src, out;
  if (!ArgView(info, 0, "signPack", "src", AcceptFloat32, "a Float32Array", &src) ||
      !ArgView(info, 1, "signPack", "out", AcceptUint32, "a Uint32Array", &out)) {
    return env.Undefined();
  }
  const size_t words = (src.length + 31) / 32;
  if (out.length < words) {
    return ThrowRange(env, "signPack: out has " + std::to_string(out.length) + " words, " +
                               std::to_string(src.length) + " signs need " + std::to_string(words));
  }
  const int64_t bad = SignPack(static_cast<const float*>(src.data), src.length, static_cast<uint32_t*>(out.data));
  return Napi::Number::New(env, static_cast<double>(bad));
}

Napi::Value FirstNonFiniteFn(const Napi::CallbackInfo& info) {
  ArrayView src;
  if (!ArgView(info, 0, "firstNonFinite", "src", AcceptFloat32, "a Float32Array", &src)) return info.Env().Undefined();
  const int64_t bad = FirstNonFinite(static_cast<const float*>(src.data), src.length);
  return Napi::Number::New(info.Env(), static_cast<double>(bad));
}

// A Float32Array of at least `needed` elements (the length the kernel will read).
bool CheckReads(const Napi::CallbackInfo& info, const char* fn, const char* arg, const ArrayView& view, size_t needed,
                const char* unit) {
  if (view.length >= needed) return true;
  ThrowRange(info.Env(), std::string(fn) + ": " + arg + " has " + std::to_string(view.length) + " " + unit + ", needs at least " +
                             std::to_string(needed));
  return false;
}

Napi::Value MomentumSignPackFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* fn = "momentumSignPack";
  ArrayView grad, momentum, out, params;
  double beta, wd;
  if (!ArgView(info, 0, fn, "grad", AcceptFloat32, "a Float32Array", &grad) ||
      !ArgView(info, 1, fn, "momentum", AcceptFloat32, "a Float32Array", &momentum) ||
      !ArgNumber(info, 2, fn, "beta", &beta) ||
      !ArgView(info, 3, fn, "out", AcceptUint32, "a Uint32Array", &out)) {
    return env.Undefined();
  }
  const bool decayed = info.Length() > 4 && !info[4].IsUndefined();
  if (decayed && !ArgView(info, 4, fn, "params", AcceptFloat32, "a Float32Array or undefined", &params)) return env.Undefined();
  if (!ArgNumber(info, 5, fn, "wd", &wd)) return env.Undefined();
  const size_t n = momentum.length;
  if (!CheckReads(info, fn, "grad", grad, n, "elements") ||
      (decayed && !CheckReads(info, fn, "params", params, n, "elements")) ||
      !CheckReads(info, fn, "out", out, (n + 31) / 32, "words")) {
    return env.Undefined();
  }
  const int64_t bad = MomentumSignPack(static_cast<const float*>(grad.data), static_cast<float*>(momentum.data), n, beta,
                                       static_cast<uint32_t*>(out.data),
                                       decayed ? static_cast<const float*>(params.data) : nullptr, wd);
  return Napi::Number::New(env, static_cast<double>(bad));
}

// momentumSignPackTo(grad, momentum, next, beta, out, params | undefined, wd): the fused pass into a
// second momentum buffer. The written arrays (next, out) must not share memory with any argument:
// the AVX2 path reads momentum a word ahead of the words it has written.
Napi::Value MomentumSignPackToFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* fn = "momentumSignPackTo";
  ArrayView grad, momentum, next, out, params;
  double beta, wd;
  if (!ArgView(info, 0, fn, "grad", AcceptFloat32, "a Float32Array", &grad) ||
      !ArgView(info, 1, fn, "momentum", AcceptFloat32, "a Float32Array", &momentum) ||
      !ArgView(info, 2, fn, "next", AcceptFloat32, "a Float32Array", &next) ||
      !ArgNumber(info, 3, fn, "beta", &beta) ||
      !ArgView(info, 4, fn, "out", AcceptUint32, "a Uint32Array", &out)) {
    return env.Undefined();
  }
  const bool decayed = info.Length() > 5 && !info[5].IsUndefined();
  if (decayed && !ArgView(info, 5, fn, "params", AcceptFloat32, "a Float32Array or undefined", &params)) return env.Undefined();
  if (!ArgNumber(info, 6, fn, "wd", &wd)) return env.Undefined();
  const size_t n = momentum.length;
  if (next.length != n) {
    return ThrowRange(env, std::string(fn) + ": next has " + std::to_string(next.length) + " elements, momentum has " +
                               std::to_string(n) + "; they must be equal");
  }
  const size_t words = (n + 31) / 32;
  if (!CheckReads(info, fn, "grad", grad, n, "elements") ||
      (decayed && !CheckReads(info, fn, "params", params, n, "elements")) ||
      !CheckReads(info, fn, "out", out, words, "words")) {
    return env.Undefined();
  }
  std::vector<Span> spans{SpanOf(next.data, n * sizeof(float), true), SpanOf(out.data, words * sizeof(uint32_t), true),
                          SpanOf(momentum.data, n * sizeof(float), false), SpanOf(grad.data, n * sizeof(float), false)};
  if (decayed) spans.push_back(SpanOf(params.data, n * sizeof(float), false));
  if (WrittenOverlap(&spans)) return ThrowRange(env, std::string(fn) + ": next or out shares memory with another argument");
  const int64_t bad = MomentumSignPackTo(static_cast<const float*>(grad.data), static_cast<const float*>(momentum.data),
                                         static_cast<float*>(next.data), n, beta, static_cast<uint32_t*>(out.data),
                                         decayed ? static_cast<const float*>(params.data) : nullptr, wd);
  return Napi::Number::New(env, static_cast<double>(bad));
}

Napi::Value SignApplyFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* fn = "signApply";
  ArrayView params, votes;
  double lr, wd;
  if (!ArgView(info, 0, fn, "params", AcceptFloat32, "a Float32Array", &params) ||
      !ArgView(info, 1, fn, "votes", AcceptUint32, "a Uint32Array", &votes) ||
      !ArgNumber(info, 2, fn, "lr", &lr) || !ArgNumber(info, 3, fn, "wd", &wd) ||
      !CheckReads(info, fn, "votes", votes, (params.length + 31) / 32, "words")) {
    return env.Undefined();
  }
  SignApply(static_cast<float*>(params.data), params.length, static_cast<const uint32_t*>(votes.data), lr, wd);
  return env.Undefined();
}

Napi::Value AxpyFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ArrayView y, x;
  double alpha;
  if (!ArgView(info, 0, "axpy", "y", AcceptFloat32, "a Float32Array", &y) ||
      !ArgNumber(info, 1, "axpy", "alpha", &alpha) ||
      !ArgView(info, 2, "axpy", "x", AcceptFloat32, "a Float32Array", &x) ||
      !CheckReads(info, "axpy", "x", x, y.length, "elements")) {
    return env.Undefined();
  }
  Axpy(static_cast<float*>(y.data), y.length, alpha, static_cast<const float*>(x.data));
  return env.Undefined();
}

Napi::Value VoteCountFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ArrayView neg, tie;
  size_t words;
  if (!ArgIndex(info, 1, "voteCount", "words", size_t{1} << 40, true, &words) ||
      !ArgView(info, 2, "voteCount", "negOut", AcceptUint32, "a Uint32Array", &neg) ||
      !ArgView(info, 3, "voteCount", "tieOut", AcceptUint32, "a Uint32Array", &tie)) {
    return env.Undefined();
  }
  std::vector<const uint32_t*> rows;
  if (!ArgViewList(info, 0, "voteCount", "packed", napi_uint32_array, words, &rows)) return env.Undefined();
  if (neg.length < words || tie.length < words) {
    return ThrowRange(env, "voteCount: negOut and tieOut need " + std::to_string(words) + " words (have " +
                               std::to_string(neg.length) + " and " + std::to_string(tie.length) + ")");
  }
  VoteCount(rows.data(), rows.size(), words,
            static_cast<uint32_t*>(neg.data), static_cast<uint32_t*>(tie.data));
  return env.Undefined();
}

Napi::Value SqDistancesFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ArrayView center, out;
  if (!ArgView(info, 1, "sqDistances", "center", AcceptFloat, "a Float32Array or Float64Array", &center) ||
      !ArgView(info, 2, "sqDistances", "out", AcceptFloat64, "a Float64Array", &out)) {
    return env.Undefined();
  }
  std::vector<const float*> rows;
  if (!ArgViewList(info, 0, "sqDistances", "points", napi_float32_array, center.length, &rows)) {
    return env.Undefined();
  }
  if (out.length < rows.size()) {
    return ThrowRange(env, "sqDistances: out has " + std::to_string(out.length) + " elements for " +
                               std::to_string(rows.size()) + " points");
  }
  const float* const* points = rows.data();
  if (center.type == napi_float32_array) {
    SqDistancesF32(points, rows.size(), static_cast<const float*>(center.data), center.length,
                   static_cast<double*>(out.data));
  } else {
    SqDistancesF64(points, rows.size(), static_cast<const double*>(center.data), center.length,
                   static_cast<double*>(out.data));
  }
  return env.Undefined();
}

Napi::Value WeightedSumFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ArrayView weights, out;
  if (!ArgView(info, 1, "weightedSum", "weights", AcceptFloat64, "a Float64Array", &weights) ||
      !ArgView(info, 2, "weightedSum", "out", AcceptFloat, "a Float32Array or Float64Array", &out)) {
    return env.Undefined();
  }
  std::vector<const float*> rows;
  if (!ArgViewList(info, 0, "weightedSum", "points", napi_float32_array, out.length, &rows)) {
    return env.Undefined();
  }
  if (weights.length < rows.size()) {
    return ThrowRange(env, "weightedSum: weights has " + std::to_string(weights.length) + " elements for " +
                               std::to_string(rows.size()) + " points");
  }
  const float* const* points = rows.data();
  const double* w = static_cast<const double*>(weights.data);
  if (out.type == napi_float32_array) {
    WeightedSumF32(points, rows.size(), w, static_cast<float*>(out.data), out.length);
  } else {
    WeightedSumF64(points, rows.size(), w, static_cast<double*>(out.data), out.length);
  }
  return env.Undefined();
}

// An optional Float64Array argument: undefined gives nullptr; otherwise it needs >= min_length elements.
bool ArgOptionalFloat64(const Napi::CallbackInfo& info, size_t index, const char* fn, const char* arg, size_t min_length,
                        ArrayView* view, bool* present) {
  *present = index < info.Length() && !info[index].IsUndefined();
  if (!*present) return true;
  if (!ArgView(info, index, fn, arg, AcceptFloat64, "a Float64Array or undefined", view)) return false;
  return CheckReads(info, fn, arg, *view, min_length, "elements");
}

Napi::Value WeiszfeldStepFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* fn = "weiszfeldStep";
  ArrayView weights, out, previous, distances;
  double divisor;
  bool has_previous = false, has_distances = false;
  if (!ArgView(info, 1, fn, "weights", AcceptFloat64, "a Float64Array", &weights) ||
      !ArgNumber(info, 2, fn, "divisor", &divisor) ||
      !ArgView(info, 3, fn, "out", AcceptFloat64, "a Float64Array", &out)) {
    return env.Undefined();
  }
  const size_t d = out.length;
  std::vector<const float*> rows;
  if (!ArgViewList(info, 0, fn, "points", napi_float32_array, d, &rows)) return env.Undefined();
  const size_t np = rows.size();
  if (weights.length < np) {
    return ThrowRange(env, std::string(fn) + ": weights has " + std::to_string(weights.length) + " elements for " + std::to_string(np) + " points");
  }
  if (!ArgOptionalFloat64(info, 4, fn, "previous", d, &previous, &has_previous) ||
      !ArgOptionalFloat64(info, 5, fn, "distances", np, &distances, &has_distances)) {
    return env.Undefined();
  }
  std::vector<Span> spans{SpanOf(out.data, d * sizeof(double), true), SpanOf(weights.data, np * sizeof(double), false)};
  if (has_previous) spans.push_back(SpanOf(previous.data, d * sizeof(double), false));
  if (has_distances) spans.push_back(SpanOf(distances.data, np * sizeof(double), true));
  for (const float* row : rows) spans.push_back(SpanOf(row, d * sizeof(float), false));
  if (WrittenOverlap(&spans)) return ThrowRange(env, std::string(fn) + ": out or distances shares memory with another argument");
  const double move = WeiszfeldStep(rows.data(), np, static_cast<const double*>(weights.data), divisor, static_cast<double*>(out.data), d,
                                    has_previous ? static_cast<const double*>(previous.data) : nullptr,
                                    has_distances ? static_cast<double*>(distances.data) : nullptr);
  return Napi::Number::New(env, move);
}

Napi::Value SelectKthFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ArrayView values;
  size_t k;
  if (!ArgView(info, 0, "selectKth", "values", AcceptFloat, "a Float32Array or Float64Array", &values)) {
    return env.Undefined();
  }
  if (values.length == 0) return ThrowRange(env, "selectKth: values is empty");
  if (!ArgIndex(info, 1, "selectKth", "k", values.length, false, &k)) return env.Undefined();
  const double kth = values.type == napi_float32_array
                         ? SelectKthF32(static_cast<float*>(values.data), values.length, k)
                         : SelectKthF64(static_cast<double*>(values.data), values.length, k);
  return Napi::Number::New(env, kth);
}

Napi::Value TopKIndicesFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ArrayView values, out;
  size_t k;
  if (!ArgView(info, 0, "topKIndices", "values", AcceptFloat64, "a Float64Array", &values) ||
      !ArgIndex(info, 1, "topKIndices", "k", values.length, true, &k) ||
      !ArgView(info, 2, "topKIndices", "out", AcceptUint32, "a Uint32Array", &out)) {
    return env.Undefined();
  }
  // Indices are stored as uint32.
  if (values.length > (size_t{1} << 32)) {
    return ThrowRange(env, "topKIndices: values has " + std::to_string(values.length) + " elements, at most 2^32 allowed");
  }
  if (out.length < k) {
    return ThrowRange(env, "topKIndices: out has " + std::to_string(out.length) + " elements, k is " + std::to_string(k));
  }
  if (!TopKIndices(static_cast<const double*>(values.data), values.length, k, static_cast<uint32_t*>(out.data))) {
    Napi::Error::New(env, "zcoll native topKIndices: out of memory").ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

Napi::Value AllFiniteFn(const Napi::CallbackInfo& info) {
  ArrayView values;
  if (!ArgView(info, 0, "allFinite", "values", AcceptFloat32, "a Float32Array", &values)) return info.Env().Undefined();
  return Napi::Boolean::New(info.Env(), AllFiniteF32(static_cast<const float*>(values.data), values.length));
}

// augmentedScores(memory[], gradients[], lr, scores, threshold, candIndex, candScore) and
// columnScores(rows[], scores, threshold, candIndex, candScore, candValues[]): scores empty = not
// written, candIndex empty = no candidates (its length is the capacity), candValues empty = columns
// not copied (else one Float32Array of at least the capacity per row).
Napi::Value ScoresFn(const Napi::CallbackInfo& info, bool with_memory) {
  Napi::Env env = info.Env();
  const char* fn = with_memory ? "augmentedScores" : "columnScores";
  const size_t at = with_memory ? 3 : 1;  // index of 'scores'
  ArrayView scores, cand_index, cand_score;
  double lr = 1, threshold;
  std::vector<const float*> memory, gradients;
  std::vector<float*> values;
  std::vector<size_t> memory_lengths, gradient_lengths;
  if ((with_memory && !ArgViewList(info, 0, fn, "memory", napi_float32_array, 0, &memory, nullptr, &memory_lengths)) ||
      !ArgViewList(info, with_memory ? 1 : 0, fn, with_memory ? "gradients" : "rows", napi_float32_array, 0, &gradients, nullptr, &gradient_lengths) ||
      (with_memory && !ArgNumber(info, 2, fn, "lr", &lr)) ||
      !ArgView(info, at, fn, "scores", AcceptFloat64, "a Float64Array", &scores) ||
      !ArgNumber(info, at + 1, fn, "threshold", &threshold) ||
      !ArgView(info, at + 2, fn, "candIndex", AcceptUint32, "a Uint32Array", &cand_index) ||
      !ArgView(info, at + 3, fn, "candScore", AcceptFloat64, "a Float64Array", &cand_score)) {
    return env.Undefined();
  }
  if (!with_memory) {
    if (!ArgViewList(info, at + 4, fn, "candValues", napi_float32_array, cand_index.length, &values)) return env.Undefined();
    if (!values.empty() && !SameCount(env, fn, "rows", gradients.size(), "candValues", values.size())) return env.Undefined();
    memory_lengths = gradient_lengths;
  } else if (!SameCount(env, fn, "memory", memory.size(), "gradients", gradients.size())) {
    return env.Undefined();
  }
  const size_t d = gradients.empty() ? scores.length : memory_lengths[0];
  for (size_t p = 0; p < gradients.size(); p++) {
    if (memory_lengths[p] != d || gradient_lengths[p] != d) {
      const bool m_bad = memory_lengths[p] != d;
      const char* name = with_memory ? (m_bad ? "memory[" : "gradients[") : "rows[";
      const char* first = with_memory ? "memory[0]" : "rows[0]";
      return ThrowRange(env, std::string(fn) + ": " + name + std::to_string(p) + "] has " +
                                 std::to_string(m_bad ? memory_lengths[p] : gradient_lengths[p]) + " elements, " + first + " has " +
                                 std::to_string(d) + "; every row must have the same length");
    }
  }
  if (d >= (size_t{1} << 32)) return ThrowRange(env, std::string(fn) + ": rows of " + std::to_string(d) + " elements, at most 2^32 - 1 allowed");
  if (scores.length != 0 && scores.length != d) {
    return ThrowRange(env, std::string(fn) + ": scores has " + std::to_string(scores.length) + " elements, the rows have " + std::to_string(d) + " (or 0 for none)");
  }
  if (cand_score.length < cand_index.length) {
    return ThrowRange(env, std::string(fn) + ": candScore has " + std::to_string(cand_score.length) + " elements, candIndex (the capacity) " + std::to_string(cand_index.length));
  }
  std::vector<Span> spans{SpanOf(scores.data, scores.length * sizeof(double), true), SpanOf(cand_index.data, cand_index.length * 4, true),
                          SpanOf(cand_score.data, cand_score.length * sizeof(double), true)};
  for (float* v : values) spans.push_back(SpanOf(v, cand_index.length * sizeof(float), true));
  for (size_t p = 0; p < gradients.size(); p++) {
    if (with_memory) spans.push_back(SpanOf(memory[p], d * sizeof(float), false));
    spans.push_back(SpanOf(gradients[p], d * sizeof(float), false));
  }
  if (WrittenOverlap(&spans)) return ThrowRange(env, std::string(fn) + ": scores or a candidate array shares memory with another argument");
  AugmentedScoresArgs args{with_memory ? memory.data() : nullptr, gradients.data(), gradients.size(), d, static_cast<float>(lr),
                           scores.length != 0 ? static_cast<double*>(scores.data) : nullptr, static_cast<float>(threshold),
                           cand_index.length, static_cast<uint32_t*>(cand_index.data), static_cast<double*>(cand_score.data),
                           values.empty() ? nullptr : values.data()};
  return Napi::Number::New(env, static_cast<double>(with_memory ? AugmentedScores(args) : ColumnScores(args)));
}

Napi::Value AugmentedScoresFn(const Napi::CallbackInfo& info) { return ScoresFn(info, true); }
Napi::Value ColumnScoresFn(const Napi::CallbackInfo& info) { return ScoresFn(info, false); }

// Whether idx[0..k) is strictly ascending with every index below `length`; throws RangeError if not.
bool AscendingInside(Napi::Env env, const char* fn, const uint32_t* idx, size_t k, size_t length) {
  for (size_t t = 1; t < k; t++) {
    if (idx[t] <= idx[t - 1]) {
      ThrowRange(env, std::string(fn) + ": indices must be strictly ascending (indices[" + std::to_string(t) + "] = " +
                          std::to_string(idx[t]) + " after " + std::to_string(idx[t - 1]) + ")");
      return false;
    }
  }
  if (k > 0 && idx[k - 1] >= length) {
    ThrowRange(env, std::string(fn) + ": index " + std::to_string(idx[k - 1]) + " is out of range for a row of " + std::to_string(length) + " elements");
    return false;
  }
  return true;
}

// augmentRow(memory, gradient, lr, out): out = fround(fround(lr g) + memory); true iff g is all finite.
Napi::Value AugmentRowFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* fn = "augmentRow";
  ArrayView memory, gradient, out;
  double lr;
  if (!ArgView(info, 0, fn, "memory", AcceptFloat32, "a Float32Array", &memory) ||
      !ArgView(info, 1, fn, "gradient", AcceptFloat32, "a Float32Array", &gradient) || !ArgNumber(info, 2, fn, "lr", &lr) ||
      !ArgView(info, 3, fn, "out", AcceptFloat32, "a Float32Array", &out)) {
    return env.Undefined();
  }
  if (gradient.length != memory.length || out.length != memory.length) {
    return ThrowRange(env, std::string(fn) + ": memory, gradient and out have " + std::to_string(memory.length) + ", " +
                               std::to_string(gradient.length) + " and " + std::to_string(out.length) + " elements; they must be equal");
  }
  std::vector<Span> spans{SpanOf(out.data, out.length * sizeof(float), true), SpanOf(memory.data, memory.length * sizeof(float), false),
                          SpanOf(gradient.data, gradient.length * sizeof(float), false)};
  if (WrittenOverlap(&spans)) return ThrowRange(env, std::string(fn) + ": out shares memory with another argument");
  return Napi::Boolean::New(env, AugmentRow(static_cast<const float*>(memory.data), static_cast<const float*>(gradient.data), memory.length,
                                            static_cast<float>(lr), static_cast<float*>(out.data)));
}

// gatherColumns(rows[], indices, divisor, out[]): out[p][t] = float(rows[p][indices[t]] / divisor).
Napi::Value GatherColumnsFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* fn = "gatherColumns";
  ArrayView indices;
  double divisor;
  if (!ArgView(info, 1, fn, "indices", AcceptUint32, "a Uint32Array", &indices) || !ArgNumber(info, 2, fn, "divisor", &divisor)) return env.Undefined();
  const size_t k = indices.length;
  std::vector<const float*> rows;
  std::vector<float*> out;
  std::vector<size_t> lengths;
  size_t shortest = ~size_t{0};
  if (!ArgViewList(info, 0, fn, "rows", napi_float32_array, 0, &rows, &shortest, &lengths) || !ArgViewList(info, 3, fn, "out", napi_float32_array, k, &out)) {
    return env.Undefined();
  }
  if (!SameCount(env, fn, "rows", rows.size(), "out", out.size())) return env.Undefined();
  const uint32_t* idx = static_cast<const uint32_t*>(indices.data);
  if (!AscendingInside(env, fn, idx, k, rows.empty() ? ~size_t{0} : shortest)) return env.Undefined();
  std::vector<Span> spans{SpanOf(idx, k * sizeof(uint32_t), false)};
  for (size_t p = 0; p < rows.size(); p++) {
    spans.push_back(SpanOf(out[p], k * sizeof(float), true));
    spans.push_back(SpanOf(rows[p], lengths[p] * sizeof(float), false));
  }
  if (WrittenOverlap(&spans)) return ThrowRange(env, std::string(fn) + ": an out row shares memory with another argument");
  GatherColumns(rows.data(), rows.size(), idx, k, divisor, out.data());
  return env.Undefined();
}

Napi::Value AugmentAndExtractFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* fn = "augmentAndExtract";
  ArrayView indices;
  double lr, divisor;
  if (!ArgNumber(info, 2, fn, "lr", &lr) ||
      !ArgView(info, 3, fn, "indices", AcceptUint32, "a Uint32Array", &indices) ||
      !ArgNumber(info, 4, fn, "divisor", &divisor)) {
    return env.Undefined();
  }
  const size_t k = indices.length;
  std::vector<float*> memory, out;
  std::vector<const float*> gradients;
  std::vector<size_t> lengths, gradient_lengths;
  size_t shortest = ~size_t{0};
  if (!ArgViewList(info, 0, fn, "memory", napi_float32_array, 0, &memory, &shortest, &lengths) ||
      !ArgViewList(info, 1, fn, "gradients", napi_float32_array, 0, &gradients, nullptr, &gradient_lengths) ||
      !ArgViewList(info, 5, fn, "out", napi_float32_array, k, &out)) {
    return env.Undefined();
  }
  if (!SameCount(env, fn, "memory", memory.size(), "gradients", gradients.size()) ||
      !SameCount(env, fn, "memory", memory.size(), "out", out.size())) {
    return env.Undefined();
  }
  for (size_t p = 0; p < memory.size(); p++) {
    if (gradient_lengths[p] < lengths[p]) {
      return ThrowRange(env, std::string(fn) + ": gradients[" + std::to_string(p) + "] has " + std::to_string(gradient_lengths[p]) +
                                 " elements, memory[" + std::to_string(p) + "] has " + std::to_string(lengths[p]));
    }
  }
  // The streaming pass meets the indices in order, so they must be strictly ascending and inside every row.
  const uint32_t* idx = static_cast<const uint32_t*>(indices.data);
  if (!AscendingInside(env, fn, idx, k, memory.empty() ? ~size_t{0} : shortest)) return env.Undefined();
  std::vector<Span> spans{SpanOf(idx, k * sizeof(uint32_t), false)};
  for (size_t p = 0; p < memory.size(); p++) {
    spans.push_back(SpanOf(memory[p], lengths[p] * sizeof(float), true));
    spans.push_back(SpanOf(out[p], k * sizeof(float), true));
    spans.push_back(SpanOf(gradients[p], lengths[p] * sizeof(float), false));
  }
  if (WrittenOverlap(&spans)) return ThrowRange(env, std::string(fn) + ": a memory or out row shares memory with another argument");
  AugmentAndExtract(memory.data(), lengths.data(), gradients.data(), memory.size(), static_cast<float>(lr), idx, k, divisor, out.data());
  return env.Undefined();
}

// detachBuffer(ab): detaches an ArrayBuffer, so its backing store is released now rather than at
// the next garbage collection; true if it was detached by this call. lib/transport/frame-release.ts
// uses it on ZeroMQ receive buffers once their bytes are consumed.
Napi::Value DetachBufferFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool is_ab = false;
  if (info.Length() < 1 || napi_is_arraybuffer(env, info[0], &is_ab) != napi_ok || !is_ab) {
    return ThrowType(env, std::string("detachBuffer: argument 'buffer' must be an ArrayBuffer (got ") +
                              (info.Length() < 1 ? "undefined" : Describe(env, info[0])) + ")");
  }
  bool detached = false;
  if (napi_is_detached_arraybuffer(env, info[0], &detached) != napi_ok || detached) return Napi::Boolean::New(env, false);
  return Napi::Boolean::New(env, napi_detach_arraybuffer(env, info[0]) == napi_ok);
}

Napi::Value SimdLevelFn(const Napi::CallbackInfo& info) {
  std::string level = zcoll::SimdLevel();
  if (!ZCOLL_HAVE_CLONES && level == "avx2") level = "avx2 (signPack only)";
  return Napi::String::New(info.Env(), level);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("reduceInto", Napi::Function::New(env, ReduceInto, "reduceInto"));
  exports.Set("scale", Napi::Function::New(env, Scale, "scale"));
  exports.Set("divide", Napi::Function::New(env, Divide, "divide"));
  exports.Set("signPack", Napi::Function::New(env, SignPackFn, "signPack"));
  exports.Set("firstNonFinite", Napi::Function::New(env, FirstNonFiniteFn, "firstNonFinite"));
  exports.Set("momentumSignPack", Napi::Function::New(env, MomentumSignPackFn, "momentumSignPack"));
  exports.Set("momentumSignPackTo", Napi::Function::New(env, MomentumSignPackToFn, "momentumSignPackTo"));
  exports.Set("signApply", Napi::Function::New(env, SignApplyFn, "signApply"));
  exports.Set("axpy", Napi::Function::New(env, AxpyFn, "axpy"));
  exports.Set("voteCount", Napi::Function::New(env, VoteCountFn, "voteCount"));
  exports.Set("sqDistances", Napi::Function::New(env, SqDistancesFn, "sqDistances"));
  exports.Set("weightedSum", Napi::Function::New(env, WeightedSumFn, "weightedSum"));
  exports.Set("weiszfeldStep", Napi::Function::New(env, WeiszfeldStepFn, "weiszfeldStep"));
  exports.Set("selectKth", Napi::Function::New(env, SelectKthFn, "selectKth"));
  exports.Set("topKIndices", Napi::Function::New(env, TopKIndicesFn, "topKIndices"));
  exports.Set("allFinite", Napi::Function::New(env, AllFiniteFn, "allFinite"));
  exports.Set("augmentedScores", Napi::Function::New(env, AugmentedScoresFn, "augmentedScores"));
  exports.Set("columnScores", Napi::Function::New(env, ColumnScoresFn, "columnScores"));
  exports.Set("gatherColumns", Napi::Function::New(env, GatherColumnsFn, "gatherColumns"));
  exports.Set("augmentRow", Napi::Function::New(env, AugmentRowFn, "augmentRow"));
  exports.Set("augmentAndExtract", Napi::Function::New(env, AugmentAndExtractFn, "augmentAndExtract"));
  exports.Set("detachBuffer", Napi::Function::New(env, DetachBufferFn, "detachBuffer"));
  exports.Set("simdLevel", Napi::Function::New(env, SimdLevelFn, "simdLevel"));
  InitShm(env, exports);
  InitFutex(env, exports);
  InitHugePages(env, exports);
  return exports;
}

}  // namespace
}  // namespace zcoll

static Napi::Object InitZcollNative(Napi::Env env, Napi::Object exports) { return zcoll::Init(env, exports); }

NODE_API_MODULE(zcoll_native, InitZcollNative)

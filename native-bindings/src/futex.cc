// Futex wait and wake on a 32-bit word of a shared mapping (futex.h): how a rank that waits for a
// same-host peer sleeps without burning its core, and how the peer wakes it in one system call.
// A ZeroMQ wake-up crosses three threads (the sender's I/O thread, the receiver's I/O thread, the
// receiver's main thread); a futex wake reaches the sleeping main thread directly. OpenMPI's shared
// memory path yields the CPU for the same reason when ranks outnumber cores.
// The word lives in a MAP_SHARED mapping of a POSIX shm object, so the futex is the shared (not
// FUTEX_PRIVATE) kind: the kernel keys it by the object's page, the same in both processes.
#include "futex.h"

#include <cerrno>
#include <cstdint>

#if defined(__linux__)
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#define ZCOLL_HAVE_FUTEX 1
#else
#define ZCOLL_HAVE_FUTEX 0
#endif

namespace zcoll {
namespace {

// The word at byteOffset of an ArrayBuffer, or nullptr (with a JS exception pending) when the
// arguments do not name an aligned word inside the buffer.
int32_t* WordArg(const Napi::CallbackInfo& info, const char* fn) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsArrayBuffer() || !info[1].IsNumber()) {
    Napi::TypeError::New(env, std::string("zcoll native ") + fn + ": expected (buffer: ArrayBuffer, byteOffset: number, ...)")
        .ThrowAsJavaScriptException();
    return nullptr;
  }
  Napi::ArrayBuffer buffer = info[0].As<Napi::ArrayBuffer>();
  const double offset = info[1].As<Napi::Number>().DoubleValue();
  if (!(offset >= 0) || offset != static_cast<double>(static_cast<int64_t>(offset)) || static_cast<int64_t>(offset) % 4 != 0 ||
      static_cast<size_t>(offset) + 4 > buffer.ByteLength()) {
    Napi::RangeError::New(env, std::string("zcoll native ") + fn + ": byteOffset must be a multiple of 4 inside the buffer")
        .ThrowAsJavaScriptException();
    return nullptr;
  }
  return reinterpret_cast<int32_t*>(static_cast<uint8_t*>(buffer.Data()) + static_cast<size_t>(offset));
}

#if ZCOLL_HAVE_FUTEX
// futexWait(buffer, byteOffset, expected, timeoutMicros): sleeps while the word equals `expected`,
// at most the timeout. Returns "woken" (a wake, or the word no longer held `expected`), "timeout"
// or "interrupted" (a signal: the caller's event loop handles it).
Napi::Value FutexWait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t* word = WordArg(info, "futexWait");
  if (word == nullptr) return env.Undefined();
  if (info.Length() < 4 || !info[2].IsNumber() || !info[3].IsNumber()) {
    Napi::TypeError::New(env, "zcoll native futexWait: expected (buffer, byteOffset, expected: number, timeoutMicros: number)")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const int32_t expected = info[2].As<Napi::Number>().Int32Value();
  const double micros = info[3].As<Napi::Number>().DoubleValue();
  // Bounded: the caller's event loop (timers, sockets, signals) must turn again soon.
  if (!(micros >= 0) || micros > 1e6) {
    Napi::RangeError::New(env, "zcoll native futexWait: timeoutMicros must be in [0, 1e6]").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  struct timespec ts;
  const int64_t total = static_cast<int64_t>(micros);
  ts.tv_sec = static_cast<time_t>(total / 1000000);
  ts.tv_nsec = static_cast<long>((total % 1000000) * 1000);
  const long r = syscall(SYS_futex, word, FUTEX_WAIT, expected, &ts, nullptr, 0);
  if (r == 0) return Napi::String::New(env, "woken");
  switch (errno) {
    case EAGAIN:
      return Napi::String::New(env, "woken");  // the word had already changed
    case ETIMEDOUT:
      return Napi::String::New(env, "timeout");
    case EINTR:
      return Napi::String::New(env, "interrupted");
    default:
      Napi::Error::New(env, std::string("zcoll native futexWait: futex failed: errno ") + std::to_string(errno))
          .ThrowAsJavaScriptException();
      return env.Undefined();
  }
}

// futexWake(buffer, byteOffset): wakes every sleeper on the word; returns how many woke.
Napi::Value FutexWake(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t* word = WordArg(info, "futexWake");
  if (word == nullptr) return env.Undefined();
  const long r = syscall(SYS_futex, word, FUTEX_WAKE, INT32_MAX, nullptr, nullptr, 0);
  return Napi::Number::New(env, r < 0 ? 0 : static_cast<double>(r));
}

// schedYield(): gives this thread's core to another runnable thread, if any (sched_yield). A rank
// that busy-polls on a host with more ranks than cores calls it between two empty polls, so the peer
// it waits for gets the core (OpenMPI's yield_when_idle); with nothing else runnable it returns at once.
Napi::Value SchedYield(const Napi::CallbackInfo& info) {
  sched_yield();
  return info.Env().Undefined();
}
#endif

}  // namespace

void InitFutex(Napi::Env env, Napi::Object exports) {
#if ZCOLL_HAVE_FUTEX
  exports.Set("futexWait", Napi::Function::New(env, FutexWait, "futexWait"));
  exports.Set("futexWake", Napi::Function::New(env, FutexWake, "futexWake"));
  exports.Set("schedYield", Napi::Function::New(env, SchedYield, "schedYield"));
#endif
  // Elsewhere the functions are absent and callers keep waking through ZeroMQ.
}

}  // namespace zcoll

// shmReserve(name, bytes): allocates the first `bytes` of an existing POSIX shared-memory object now
// (posix_fallocate), so that a /dev/shm too small to hold it fails here, with ENOSPC, instead of
// with SIGBUS at the first touch of a page the filesystem cannot supply. shmMap only ftruncates,
// which makes a sparse object of any size even on Docker's default 64 MB /dev/shm.
// Returns true when the space is reserved, false where the platform has no such call for shared
// memory (macOS: nothing to do there, its shm objects are not sparse). Failures are JS errors
// carrying `code` ('ENOSPC', 'ENOENT', ...), `errno` and `syscall`, like shmMap's.
#include "shm.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <string>

#if defined(__linux__)
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#define ZCOLL_HAVE_FALLOCATE 1
#else
#define ZCOLL_HAVE_FALLOCATE 0
#endif

namespace zcoll {
namespace {

Napi::Value Fail(const Napi::Env& env, const std::string& what, const char* syscall, int err) {
  const char* code = err == ENOSPC ? "ENOSPC" : err == ENOENT ? "ENOENT" : err == EACCES ? "EACCES"
                   : err == EFBIG ? "EFBIG" : err == ENOMEM ? "ENOMEM" : err == EINVAL ? "EINVAL" : "EIO";
  Napi::Error error = Napi::Error::New(env, "zcoll native " + what + ": " + syscall + " failed: " + std::strerror(err));
  error.Set("code", Napi::String::New(env, code));
  error.Set("errno", Napi::Number::New(env, err));
  error.Set("syscall", Napi::String::New(env, syscall));
  error.ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value ShmReserve(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsNumber()) {
    Napi::TypeError::New(env, "zcoll native shmReserve: expected (name: string, bytes: number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const std::string name = info[0].As<Napi::String>().Utf8Value();
  if (name.size() < 2 || name.size() > 251 || name[0] != '/' || name.find('/', 1) != std::string::npos ||
      name.find('\0') != std::string::npos) {
    Napi::TypeError::New(env, "zcoll native shmReserve: argument 'name' must be '/' followed by 1 to 250 characters without '/' (got '" +
                                  name + "')")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const double bytes = info[1].As<Napi::Number>().DoubleValue();
  if (!(bytes >= 1) || bytes != std::floor(bytes) || bytes > 9007199254740991.0) {
    Napi::RangeError::New(env, "zcoll native shmReserve: argument 'bytes' must be a positive integer (got " + std::to_string(bytes) + ")")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
#if ZCOLL_HAVE_FALLOCATE
  const std::string what = "shmReserve('" + name + "', " + std::to_string(static_cast<uint64_t>(bytes)) + ")";
  const int fd = shm_open(name.c_str(), O_RDWR, 0600);
  if (fd < 0) return Fail(env, what, "shm_open", errno);
  int err;
  do {
    // posix_fallocate returns the error instead of setting errno.
    err = posix_fallocate(fd, 0, static_cast<off_t>(bytes));
  } while (err == EINTR);
  close(fd);
  if (err != 0) return Fail(env, what, "posix_fallocate", err);
  return Napi::Boolean::New(env, true);
#else
  return Napi::Boolean::New(env, false);
#endif
}

}  // namespace

void InitShmReserve(Napi::Env env, Napi::Object exports) {
  exports.Set("shmReserve", Napi::Function::New(env, ShmReserve, "shmReserve"));
}

}  // namespace zcoll

// Named POSIX shared-memory segments exposed to JS as ArrayBuffers whose memory IS the mapping, so
// two processes on one host read and write the same bytes with no copy and no syscall per access.
//  - shmMap(name, bytes, create): shm_open (+ ftruncate when creating) + mmap(MAP_SHARED). The
//    mapping is released when the ArrayBuffer is garbage collected, or at once by shmUnmap, which
//    first detaches the ArrayBuffer (byteLength becomes 0) so JS can never touch unmapped memory.
//  - shmUnlink(name): removes the name (existing mappings stay valid until unmapped); returns false
//    when the name did not exist.
// The mapping belongs to the ArrayBuffer object returned: never put it in a transfer list
// (postMessage / structuredClone), since the original object's finalizer would unmap memory the
// transferred copy still points to. Share the name instead and map it again in the other thread.
// Cost: two or three syscalls per map; pages are faulted in on first touch.
// Failures are JS errors carrying `code` (the errno name, e.g. 'ENOENT'), `errno` and `syscall`.
// A mapping Node.js will not wrap in an ArrayBuffer (more than buffer.constants.MAX_LENGTH bytes:
// 4 GiB on Node 20) is a RangeError with code 'EFBIG'. Every failure leaves nothing behind: the
// mapping is unmapped exactly once and a name this call created is unlinked.
#include "shm.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#define ZCOLL_HAVE_SHM 1
#else
#define ZCOLL_HAVE_SHM 0
#endif

namespace zcoll {
namespace {

#if ZCOLL_HAVE_SHM
// Written under registry_mutex. A failed napi_create_external_arraybuffer may already have run the
// finalizer (Node 20 calls it synchronously when the length is over Buffer's kMaxLength), or may
// run it later, or never: whoever comes second frees the record, and `unmapped` makes the munmap
// happen once. Before these flags both sides unmapped and deleted it: "double free detected".
struct Mapping {
  void* address;
  size_t bytes;
  bool unmapped;
  // shmMap still holds the record: the finalizer must leave it to shmMap.
  bool creating;
  bool finalized;
};

// Live mappings by address, so shmUnmap can find the mapping behind an ArrayBuffer. Guarded by a
// mutex because worker threads load the addon into the same process.
std::mutex registry_mutex;
std::unordered_map<void*, Mapping*> registry;

const char* ErrnoName(int err) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  if (const char* name = strerrorname_np(err)) return name;
#endif
  switch (err) {
    case ENOENT: return "ENOENT";
    case EEXIST: return "EEXIST";
    case EACCES: return "EACCES";
    case EINVAL: return "EINVAL";
    case ENOMEM: return "ENOMEM";
    case ENOSPC: return "ENOSPC";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case EPERM: return "EPERM";
    case EFBIG: return "EFBIG";
    default: return "EUNKNOWN";
  }
}

Napi::Value ThrowErrno(const Napi::Env& env, const std::string& what, const char* syscall, int err) {
  Napi::Error error = Napi::Error::New(env, "zcoll native " + what + ": " + syscall + " failed: " + std::strerror(err));
  error.Set("code", Napi::String::New(env, ErrnoName(err)));
  error.Set("errno", Napi::Number::New(env, err));
  error.Set("syscall", Napi::String::New(env, syscall));
  error.ThrowAsJavaScriptException();
  return env.Undefined();
}

void FinalizeMapping(Napi::Env /*env*/, void* /*data*/, Mapping* mapping) {
  bool release;
  {
    std::lock_guard<std::mutex> lock(registry_mutex);
    if (!mapping->unmapped) {
      auto it = registry.find(mapping->address);
      if (it != registry.end() && it->second == mapping) registry.erase(it);
      munmap(mapping->address, mapping->bytes);
      mapping->unmapped = true;
    }
    mapping->finalized = true;
    release = !mapping->creating;
  }
  if (release) delete mapping;
}

// Reads and clears the pending JS exception's message (Node's own reason for refusing a buffer).
std::string TakePendingMessage(const Napi::Env& env) {
  if (!env.IsExceptionPending()) return "";
  Napi::Error pending = env.GetAndClearPendingException();
  Napi::Value message = pending.Value().Get("message");
  return !message.IsEmpty() && message.IsString() ? message.As<Napi::String>().Utf8Value() : "";
}

// A POSIX shm name: "/" then 1..250 characters, none of them "/".
bool ArgName(const Napi::CallbackInfo& info, const char* fn, std::string* name) {
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(info.Env(), std::string("zcoll native ") + fn + ": argument 'name' must be a string")
        .ThrowAsJavaScriptException();
    return false;
  }
  *name = info[0].As<Napi::String>().Utf8Value();
  if (name->size() < 2 || name->size() > 251 || (*name)[0] != '/' || name->find('/', 1) != std::string::npos ||
      name->find('\0') != std::string::npos) {
    Napi::TypeError::New(info.Env(), std::string("zcoll native ") + fn + ": argument 'name' must be '/' followed by " +
                                         "1 to 250 characters without '/' (got '" + *name + "')")
        .ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

Napi::Value ShmMap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name;
  if (!ArgName(info, "shmMap", &name)) return env.Undefined();
  if (info.Length() < 3 || !info[1].IsNumber() || !info[2].IsBoolean()) {
    Napi::TypeError::New(env, "zcoll native shmMap: expected (name: string, bytes: number, create: boolean)")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const double bytes_value = info[1].As<Napi::Number>().DoubleValue();
  if (!(bytes_value >= 1) || bytes_value != std::floor(bytes_value) || bytes_value > 9007199254740991.0) {
    Napi::RangeError::New(env, "zcoll native shmMap: argument 'bytes' must be a positive integer (got " +
                                   std::to_string(bytes_value) + ")")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const size_t bytes = static_cast<size_t>(bytes_value);
  const bool create = info[2].As<Napi::Boolean>().Value();
  const std::string what = "shmMap('" + name + "', " + std::to_string(bytes) + (create ? ", create)" : ")");

  // O_EXCL first, to know whether this call created the name: only then may a failure unlink it.
  bool created = false;
  int fd = -1;
  if (create) {
    fd = shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd >= 0) {
      created = true;
    } else if (errno == EEXIST) {
      fd = shm_open(name.c_str(), O_RDWR, 0600);
    }
  } else {
    fd = shm_open(name.c_str(), O_RDWR, 0600);
  }
  if (fd < 0) return ThrowErrno(env, what, "shm_open", errno);
  // A failure past shm_open must not leave a name (possibly a huge sparse one) in /dev/shm.
  auto discard = [&]() {
    if (created) shm_unlink(name.c_str());
  };
  if (create) {
    if (ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
      const int err = errno;
      close(fd);
      discard();
      return ThrowErrno(env, what, "ftruncate", err);
    }
  } else {
    // Mapping past the end of the object would turn the first touch of those pages into SIGBUS.
    struct stat st;
    if (fstat(fd, &st) != 0) {
      const int err = errno;
      close(fd);
      return ThrowErrno(env, what, "fstat", err);
    }
    if (static_cast<uint64_t>(st.st_size) < bytes) {
      close(fd);
      Napi::RangeError::New(env, "zcoll native " + what + ": the segment holds only " + std::to_string(st.st_size) +
                                     " bytes")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
  }
  void* address = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  const int map_errno = errno;
  close(fd);  // the mapping keeps the object alive
  if (address == MAP_FAILED) {
    discard();
    return ThrowErrno(env, what, "mmap", map_errno);
  }

  Mapping* mapping = new Mapping{address, bytes, false, true, false};
  napi_value buffer;
  const napi_status status = napi_create_external_arraybuffer(
      env, address, bytes,
      [](napi_env e, void* data, void* hint) { FinalizeMapping(Napi::Env(e), data, static_cast<Mapping*>(hint)); },
      mapping, &buffer);
  bool release = false;
  {
    std::lock_guard<std::mutex> lock(registry_mutex);
    mapping->creating = false;
    if (status == napi_ok) {
      registry[address] = mapping;
    } else {
      if (!mapping->unmapped) {
        munmap(address, bytes);
        mapping->unmapped = true;
      }
      // Not finalized yet: the finalizer may still come and then frees the record (if it never
      // comes, the record leaks: 32 bytes, never the mapping).
      release = mapping->finalized;
    }
  }
  if (status == napi_ok) return Napi::Value(env, buffer);
  if (release) delete mapping;
  discard();
  const std::string reason = TakePendingMessage(env);
  Napi::Error error =
      status == napi_no_external_buffers_allowed
          ? Napi::Error::New(env, "zcoll native " + what + ": this Node.js does not allow external ArrayBuffers")
          : static_cast<Napi::Error>(Napi::RangeError::New(
                env, "zcoll native " + what + ": Node.js refused an ArrayBuffer of " + std::to_string(bytes) +
                         " bytes" + (reason.empty() ? std::string(" (napi status ") + std::to_string(status) + ")"
                                                    : ": " + reason)));
  error.Set("code", Napi::String::New(env, status == napi_no_external_buffers_allowed ? "ENOTSUP" : "EFBIG"));
  error.ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value ShmUnmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArrayBuffer()) {
    Napi::TypeError::New(env, "zcoll native shmUnmap: argument 'buffer' must be an ArrayBuffer from shmMap")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::ArrayBuffer buffer = info[0].As<Napi::ArrayBuffer>();
  void* address = buffer.Data();
  Mapping* mapping = nullptr;
  {
    std::lock_guard<std::mutex> lock(registry_mutex);
    auto it = registry.find(address);
    if (it != registry.end()) mapping = it->second;
  }
  if (mapping == nullptr || buffer.ByteLength() != mapping->bytes) {
    Napi::TypeError::New(env, "zcoll native shmUnmap: the ArrayBuffer is not a live mapping from shmMap "
                              "(already unmapped, or never mapped)")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  // Detach first: from here on JS sees a zero-length buffer, never the unmapped pages.
  if (napi_detach_arraybuffer(env, info[0]) != napi_ok) {
    if (!env.IsExceptionPending()) {
      Napi::Error::New(env, "zcoll native shmUnmap: could not detach the ArrayBuffer").ThrowAsJavaScriptException();
    }
    return env.Undefined();
  }
  std::lock_guard<std::mutex> lock(registry_mutex);
  registry.erase(address);
  munmap(mapping->address, mapping->bytes);
  mapping->unmapped = true;  // the GC finalizer then only frees the record
  return env.Undefined();
}

Napi::Value ShmUnlink(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name;
  if (!ArgName(info, "shmUnlink", &name)) return env.Undefined();
  if (shm_unlink(name.c_str()) != 0) {
    const int err = errno;
    if (err == ENOENT) return Napi::Boolean::New(env, false);
    return ThrowErrno(env, "shmUnlink('" + name + "')", "shm_unlink", err);
  }
  return Napi::Boolean::New(env, true);
}
#else
Napi::Value Unsupported(const Napi::CallbackInfo& info) {
  Napi::Error::New(info.Env(), "zcoll native shm: POSIX shared memory is not available on this platform")
      .ThrowAsJavaScriptException();
  return info.Env().Undefined();
}
#endif

}  // namespace

void InitShm(Napi::Env env, Napi::Object exports) {
#if ZCOLL_HAVE_SHM
  exports.Set("shmMap", Napi::Function::New(env, ShmMap, "shmMap"));
  exports.Set("shmUnmap", Napi::Function::New(env, ShmUnmap, "shmUnmap"));
  exports.Set("shmUnlink", Napi::Function::New(env, ShmUnlink, "shmUnlink"));
  InitShmReserve(env, exports);
#else
  exports.Set("shmMap", Napi::Function::New(env, Unsupported, "shmMap"));
  exports.Set("shmUnmap", Napi::Function::New(env, Unsupported, "shmUnmap"));
  exports.Set("shmUnlink", Napi::Function::New(env, Unsupported, "shmUnlink"));
#endif
}

}  // namespace zcoll

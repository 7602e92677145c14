// adviseHugePages(buffer): madvise(MADV_HUGEPAGE) on the 2 MiB-aligned interior of an ArrayBuffer
// that nothing has written yet, so that its first-touch page faults map 2 MiB pages instead of
// 4 KiB ones (lib/kernels/huge-pages.ts decides when to call it).
// Why: a streaming pass over a 100 MB buffer in 4 KiB pages takes a TLB miss every 4 KiB (a
// two-level walk in a KVM guest) and the L2 prefetcher stops at every 4 KiB page edge; measured in
// C on this project's machine, Signum's momentum pass went 9.2-9.7 -> 7.2-7.7 ms at d = 25M with
// the momentum buffers in huge pages. PyTorch advises its large CPU allocations the same way
// (THP_MEM_ALLOC_ENABLE).
// Why advising a fresh ArrayBuffer works: V8 allocates a zeroed backing store with calloc, and
// glibc serves sizes above its mmap threshold from a fresh anonymous mapping it does not write
// (the pages are zero already): the pages exist only once touched, and a fault inside a VMA marked
// VM_HUGEPAGE maps a whole zeroed 2 MiB page when the aligned 2 MiB range lies inside the VMA.
// Pages already touched stay 4 KiB (khugepaged may merge them later); that is why the caller
// advises before the first write. Only the aligned interior is advised: the head and tail share
// their 2 MiB ranges with other allocations (or the chunk header), and madvise splits the VMA
// there, which munmap of the whole chunk later undoes.
#include "huge_pages.h"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#if defined(__linux__)
#include <sys/mman.h>
#define ZCOLL_HAVE_THP 1
#else
#define ZCOLL_HAVE_THP 0
#endif

namespace zcoll {
namespace {

#if ZCOLL_HAVE_THP && defined(MADV_HUGEPAGE)
constexpr uintptr_t kHugePage = uintptr_t{2} << 20;

// Returns the number of bytes advised (0 when the buffer holds no whole aligned 2 MiB range), or
// throws an Error whose `code` is the errno name when madvise refuses (EINVAL: a kernel built
// without THP; the caller treats any failure as "no huge pages").
Napi::Value AdviseHugePages(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArrayBuffer()) {
    Napi::TypeError::New(env, "zcoll native adviseHugePages: expected (buffer: ArrayBuffer)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::ArrayBuffer buffer = info[0].As<Napi::ArrayBuffer>();
  const uintptr_t start = reinterpret_cast<uintptr_t>(buffer.Data());
  const uintptr_t end = start + buffer.ByteLength();
  const uintptr_t first = (start + kHugePage - 1) & ~(kHugePage - 1);
  const uintptr_t last = end & ~(kHugePage - 1);
  if (start == 0 || last <= first) return Napi::Number::New(env, 0);
  if (madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE) != 0) {
    const int err = errno;
    Napi::Error e = Napi::Error::New(env, std::string("zcoll native adviseHugePages: madvise(MADV_HUGEPAGE) failed: ") + std::strerror(err));
    e.Set("code", Napi::String::New(env, err == EINVAL ? "EINVAL" : err == ENOMEM ? "ENOMEM" : err == EPERM ? "EPERM" : "EIO"));
    e.ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, static_cast<double>(last - first));
}
#endif

}  // namespace

void InitHugePages(Napi::Env env, Napi::Object exports) {
#if ZCOLL_HAVE_THP && defined(MADV_HUGEPAGE)
  exports.Set("adviseHugePages", Napi::Function::New(env, AdviseHugePages, "adviseHugePages"));
#endif
  // Elsewhere the function is absent and large buffers stay in ordinary pages.
}

}  // namespace zcoll

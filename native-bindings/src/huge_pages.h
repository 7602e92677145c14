// Transparent huge pages for large buffers the library keeps (huge_pages.cc).
#ifndef ZCOLL_HUGE_PAGES_H
#define ZCOLL_HUGE_PAGES_H

#include <napi.h>

namespace zcoll {
// Adds adviseHugePages to the addon's exports on Linux (absent elsewhere).
void InitHugePages(Napi::Env env, Napi::Object exports);
}  // namespace zcoll

#endif  // ZCOLL_HUGE_PAGES_H

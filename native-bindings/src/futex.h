// Futex wait/wake on a word of a shared mapping (futex.cc): the sleep of a waiting same-host rank.
#ifndef ZCOLL_FUTEX_H
#define ZCOLL_FUTEX_H

#include <napi.h>

namespace zcoll {
// Adds futexWait and futexWake to the addon's exports on Linux (absent elsewhere).
void InitFutex(Napi::Env env, Napi::Object exports);
}  // namespace zcoll

#endif  // ZCOLL_FUTEX_H

// POSIX shared memory as ArrayBuffers (shm.cc): the primitive under the same-host shm transport.
#ifndef ZCOLL_SHM_H
#define ZCOLL_SHM_H

#include <napi.h>

namespace zcoll {
// Adds shmMap, shmUnmap and shmUnlink to the addon's exports.
void InitShm(Napi::Env env, Napi::Object exports);
// Adds shmReserve (shm_reserve.cc): posix_fallocate of a shared-memory object, ENOSPC instead of SIGBUS.
void InitShmReserve(Napi::Env env, Napi::Object exports);
}  // namespace zcoll

#endif  // ZCOLL_SHM_H

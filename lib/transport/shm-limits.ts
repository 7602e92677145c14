/**
 * Size limits of buffers and shared-memory regions, checked before anything is allocated or
 * mapped, so that a size no typed array, ArrayBuffer or region header can describe is a ZcollError
 * naming what was asked, instead of a RangeError from V8, a crash in the addon, or a region that
 * peers cannot map.
 *  - A typed array holds at most maxTypedArrayLength(dtype) elements (2^32 on Node 20, any dtype).
 *  - A mapping is at most SHM_MAX_BYTES (native.ts: Buffer's limit, 4 GiB on Node 20).
 *  - A zcoll region is at most MAX_REGION_BYTES: its header (shm-region.ts) stores the size, data
 *    start and mailbox start as int32 words, so a larger region's size reads back negative and
 *    peers cannot map it (their frames would be dropped until the deadline).
 */
import { constants as bufferConstants } from 'node:buffer';
import { statfsSync } from 'node:fs';
import { totalmem } from 'node:os';
import { BYTES_PER_ELEMENT, type DType } from '../dtype.js';
import { ZcollError, type ErrorCode } from '../errors.js';
import { SHM_MAX_BYTES } from '../kernels/native.js';

/** Where Linux keeps POSIX shared memory (a tmpfs; 64 MB by default in a Docker container). */
export const SHM_DIR = '/dev/shm';

/** Bytes an unprivileged process may still allocate in SHM_DIR, or undefined where it cannot be read. */
export function shmFreeBytes(): number | undefined {
  try {
    const st = statfsSync(SHM_DIR);
    return st.bavail * st.bsize;
  } catch {
    return undefined;
  }
}

/** Largest size a region header can record (int32 words). */
export const REGION_HEADER_MAX_BYTES = 0x7fffffff;

/** Largest zcoll shared-memory region (main region or registered buffer) this process creates. */
export const MAX_REGION_BYTES = Math.min(SHM_MAX_BYTES, REGION_HEADER_MAX_BYTES);

/**
 * Largest typed array of `dtype`. V8 up to 11 (Node 20) caps the element count at
 * buffer.constants.MAX_LENGTH whatever the element size; later ones cap the byte length at it
 * (2^53 - 1), hence the smaller of the two.
 */
export function maxTypedArrayLength(dtype: DType): number {
  return Math.min(bufferConstants.MAX_LENGTH, Math.floor(Number.MAX_SAFE_INTEGER / BYTES_PER_ELEMENT[dtype]));
}

/**
 * Throws ZcollError('EINVAL') when no array of `count` `dtype` elements can exist in this process:
 * more elements than a typed array holds, or more bytes than the host's memory (V8 would fail the
 * allocation with a RangeError, or the first pass over it would swap the host to a halt). A count
 * that passes may still not fit a shared-memory region; SharedArenas.allocate refuses those with
 * its own EINVAL, and an ordinary array does instead.
 */
export function checkAllocation(dtype: DType, count: number, op: string, rank?: number): void {
  const ctx = { ...(rank !== undefined ? { rank } : {}), op };
  const max = maxTypedArrayLength(dtype);
  if (count > max) {
    throw new ZcollError('EINVAL', `argument 'count' passed to '${op}' is ${count}: a ${dtype} array holds at most ${max} elements in Node.js ${process.version}`, {
      ...ctx,
      details: { dtype, count, maxCount: max },
    });
  }
  const bytes = count * BYTES_PER_ELEMENT[dtype];
  const memory = totalmem();
  if (bytes > memory) {
    throw new ZcollError('EINVAL', `argument 'count' passed to '${op}' is ${count}: ${count} ${dtype} elements take ${bytes} bytes, more than the ${memory} bytes of memory of this host`, {
      ...ctx,
      details: { dtype, count, bytes, memoryBytes: memory },
    });
  }
}

/**
 * Throws ZcollError(`code`) when a region of `bytes` is over MAX_REGION_BYTES; `what` describes
 * the region and how to shrink it (built only on failure).
 */
export function checkRegionBytes(bytes: number, code: ErrorCode, what: () => string, ctx: { rank?: number; op?: string } = {}): void {
  if (bytes <= MAX_REGION_BYTES) return;
  const why =
    MAX_REGION_BYTES === REGION_HEADER_MAX_BYTES
      ? 'region headers record sizes as int32, so peers could not map it'
      : `Node.js ${process.version} wraps at most ${SHM_MAX_BYTES} bytes of shared memory in an ArrayBuffer`;
  throw new ZcollError(code, `${what()} needs a shared-memory region of ${bytes} bytes, more than the ${MAX_REGION_BYTES} bytes a zcoll region may have (${why})`, {
    ...ctx,
    details: { bytes, limit: MAX_REGION_BYTES },
  });
}

/**
 * The largest segmentBytes (a multiple of 8) whose outgoing region fits MAX_REGION_BYTES with
 * `peers` same-host peers, given the bytes the region spends besides its slots; 0 when none does.
 * Segments of 8 MiB and more get 2 slots per peer (slotsPerPeer in shm-region.ts), smaller ones
 * at most 16 MiB per peer in all, so only the 2-slot case can be over the bound.
 */
export function maxSegmentBytesFor(peers: number, overheadBytes: number): number {
  // 64 per 64-byte alignment of the data start and of the mailbox start.
  const room = MAX_REGION_BYTES - overheadBytes - 128;
  return room <= 0 ? 0 : Math.floor(room / (2 * Math.max(1, peers)) / 8) * 8;
}

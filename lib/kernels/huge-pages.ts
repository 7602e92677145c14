/**
 * Large zeroed typed arrays in transparent huge pages (2 MiB) where the kernel offers them: the
 * buffers zcoll keeps across steps (Signum's two momentum buffers and its signs, the vote's
 * scratch, the robust strategy's message buffers, allocBuffer without shared memory), and the
 * same for users (`allocTypedArray`, `allocFloat32`: NCCL's ncclMemAlloc in spirit, host memory).
 * Why: the passes over these buffers stream through memory; in 4 KiB pages every 4 KiB costs a TLB
 * miss (a two-level walk in a VM) and stops the L2 prefetcher at the page edge. Measured in C on the
 * bench machine at d = 25M: the momentum pass 9.2-9.7 -> 7.2-7.7 ms with its buffers in huge pages
 * (bench/results/signsgd.md, issue 20). PyTorch advises its large CPU allocations the same way.
 * How: a fresh ArrayBuffer of this size is a calloc'd anonymous mapping nobody has written yet;
 * native adviseHugePages (native-bindings/src/huge_pages.cc) marks its 2 MiB-aligned interior
 * MADV_HUGEPAGE before the first write, so the first-touch faults map 2 MiB pages. The array is an
 * ordinary, transferable ArrayBuffer that the garbage collector frees; only up to 2 MiB at each
 * end (outside the aligned interior) stay in 4 KiB pages.
 * Falls back silently to the plain array (same contents, same type): without the addon, off Linux,
 * with THP 'never' (/sys/kernel/mm/transparent_hugepage/enabled; common in containers), below
 * HUGE_PAGE_MIN_BYTES, or with ZCOLL_HUGE_PAGES=off (A/B measurements, or a host whose khugepaged
 * or compaction stalls matter more than the passes' speed).
 * Cost: one madvise per array (microseconds); memory: none extra (the interior is whole pages).
 */
import { readFileSync } from 'node:fs';
import { allocArray, BYTES_PER_ELEMENT, DTYPES, type DType, type NumericArray } from '../dtype.js';
import { ZcollError } from '../errors.js';
import { adviseHugePagesNative } from './native.js';

/** Below this an array holds no whole aligned 2 MiB page for sure; at 4 MiB it always holds one. */
export const HUGE_PAGE_MIN_BYTES = 4 << 20;

const THP_ENABLED_FILE = '/sys/kernel/mm/transparent_hugepage/enabled';

/** The kernel's THP setting: 'always', 'madvise', 'never', or 'unavailable' (no such file: not Linux, or no THP). */
export type TransparentHugePageMode = 'always' | 'madvise' | 'never' | 'unavailable';

export interface HugePageStatus {
  /** The kernel's setting (read once per process). */
  readonly mode: TransparentHugePageMode;
  /** Whether allocTypedArray advises its arrays in this process. */
  readonly advising: boolean;
  /** Why not, when it does not. */
  readonly reason: string | undefined;
}

/** The bracketed word of the sysfs file ("always [madvise] never" -> 'madvise'); 'unavailable' for anything else. */
export function parseThpMode(text: string | undefined): TransparentHugePageMode {
  const m = text === undefined ? null : /\[(always|madvise|never)\]/.exec(text);
  return m === null ? 'unavailable' : (m[1] as TransparentHugePageMode);
}

/**
 * Whether to advise, from the kernel's mode, the env switch and the addon: a pure function, so
 * the fallbacks are tested without changing the machine's settings.
 */
export function hugePageDecision(mode: TransparentHugePageMode, envSetting: string | undefined, haveAddonFunction: boolean): HugePageStatus {
  const no = (reason: string): HugePageStatus => ({ mode, advising: false, reason });
  const env = (envSetting ?? '').trim().toLowerCase();
  if (env === 'off' || env === '0' || env === 'false' || env === 'no') return no(`ZCOLL_HUGE_PAGES=${envSetting ?? ''}`);
  if (!haveAddonFunction) return no('the native addon (native-bindings/) is not loaded or has no adviseHugePages (not Linux, or built before it existed)');
  if (mode === 'never') return no(`transparent huge pages are off on this host (${THP_ENABLED_FILE}: never)`);
  if (mode === 'unavailable') return no(`this kernel offers no transparent huge pages (${THP_ENABLED_FILE} missing or unreadable)`);
  // 'always' advises too: with defrag 'madvise' (the default) only advised ranges get a compacted page at fault time.
  return { mode, advising: true, reason: undefined };
}

function readThpMode(): TransparentHugePageMode {
  try {
    return parseThpMode(readFileSync(THP_ENABLED_FILE, 'utf8'));
  } catch {
    return 'unavailable';
  }
}

let status: HugePageStatus | undefined;

/** What allocTypedArray does in this process, and why (decided at the first call). */
export function hugePageStatus(): HugePageStatus {
  status ??= Object.freeze(hugePageDecision(process.platform === 'linux' ? readThpMode() : 'unavailable', process.env.ZCOLL_HUGE_PAGES, adviseHugePagesNative !== undefined));
  return status;
}

/**
 * A zeroed typed array of `count` elements of `dtype`, in transparent huge pages where the kernel
 * offers them (see the file comment), else an ordinary one. Meant for large buffers kept across
 * steps (gradients, optimizer state, fusion buffers): arrays under HUGE_PAGE_MIN_BYTES are plain.
 * Write to it only after it is returned: the advice takes effect at the first touch of each page.
 */
export function allocTypedArray(dtype: DType, count: number): NumericArray {
  const op = 'allocTypedArray';
  if (!(DTYPES as readonly string[]).includes(dtype)) {
    throw new ZcollError('EINVAL', `argument 'dtype' passed to '${op}' must be one of ${DTYPES.join(', ')}, got ${String(dtype)}`, { op });
  }
  if (!Number.isSafeInteger(count) || count < 0) {
    throw new ZcollError('EINVAL', `argument 'count' passed to '${op}' must be a non-negative integer, got ${String(count)}`, { op });
  }
  const a = allocArray(dtype, count);
  if (count * BYTES_PER_ELEMENT[dtype] >= HUGE_PAGE_MIN_BYTES && hugePageStatus().advising) {
    try {
      adviseHugePagesNative!(a.buffer as ArrayBuffer);
    } catch {
      // madvise refused (a kernel without THP support behind a readable sysfs file, a seccomp
      // filter): the array is as good in 4 KiB pages; nothing to report per allocation.
    }
  }
  return a;
}

/** allocTypedArray('float32', count): a zeroed Float32Array in huge pages where offered. */
export function allocFloat32(count: number): Float32Array {
  return allocTypedArray('float32', count) as Float32Array;
}

/** allocTypedArray('int32', count): a zeroed Int32Array in huge pages where offered. */
export function allocInt32(count: number): Int32Array {
  return allocTypedArray('int32', count) as Int32Array;
}

/** allocInt32 viewed as words: a zeroed Uint32Array in huge pages where offered. */
export function allocUint32(count: number): Uint32Array {
  const a = allocInt32(count);
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

/**
 * Early release of ZeroMQ receive buffers. zeromq.js hands each received frame over 128 bytes to
 * JavaScript as an external Buffer over the libzmq message (no copy) and reports its size to V8
 * as external memory; the message is freed only when the Buffer is garbage-collected. A rank
 * receiving at ~1 GB/s so makes V8 run a full collection every ~64 MB (13-15 % of the CPU of a
 * 64 MiB ZeroMQ-only all-reduce, bench/results/peers.md). When a received Frame (frame.ts) backed
 * by such a buffer is released (the executor reduced or copied it, or nobody kept it past its
 * delivery), `releaseFrame` detaches its ArrayBuffer through the native addon: the backing store,
 * hence the libzmq message and its external-memory charge, goes at once. The endpoint also frees
 * here what it refuses before any Frame exists (unauthenticated messages).
 * Only frames marked here as they came off a ZeroMQ socket are ever detached, and only when the
 * Buffer spans its whole ArrayBuffer (never a shared-memory slot, a pooled copy or a slice of
 * Node's pool). A detached Buffer reads as empty, so a late use shows as a length mismatch, not as
 * stale data. Without the addon nothing happens (the garbage collector frees them as before).
 */
import { detachBuffer, nativeLoad } from '../kernels/native.js';

/** zeromq.js copies frames up to this size into ordinary Buffers (src/incoming_msg.cc). */
const ZERO_COPY_THRESHOLD = 128;

const owned = new WeakSet<ArrayBuffer>();
let released = 0;
const enabled = nativeLoad.loaded && process.env.ZCOLL_RELEASE_FRAMES !== '0';

/** Marks the frames of one received message as releasable (called by the ZeroMQ receive loop). */
export function markReceived(frames: readonly Buffer[]): void {
  if (!enabled) return;
  for (const f of frames) {
    const ab = f.buffer;
    if (f.byteLength > ZERO_COPY_THRESHOLD && f.byteOffset === 0 && f.byteLength === ab.byteLength && ab instanceof ArrayBuffer) owned.add(ab);
  }
}

/** Frees a marked frame whose bytes are no longer needed; any other buffer is left alone. */
export function releaseFrame(frame: Uint8Array | undefined): void {
  if (frame === undefined) return;
  const ab = frame.buffer;
  if (!(ab instanceof ArrayBuffer) || !owned.has(ab)) return;
  owned.delete(ab);
  if (detachBuffer(ab)) released++;
}

/** Frames released so far in this process (a diagnostic; the tests check the path is taken). */
export function releasedFrames(): number {
  return released;
}

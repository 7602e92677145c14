/**
 * Schedule fingerprint: sha256 (hex) of a canonical serialization, so that ranks can compare the
 * schedules they each built (exchanged at rendezvous; a mismatch is refused). The serialization is
 * a versioned header (algorithm, collective, ranks, chunks, steps, origin/owner/root) and then every
 * transfer in id order as little-endian int32 fields (id, step, src, dst, chunk, kind + snapshot bit, tree, deps,
 * path), with explicit lengths. Only integers and fixed strings go in: no object key order, no
 * floats, no Map iteration, so every process and platform gets the same bytes. O(transfers).
 */
import { createHash } from 'node:crypto';
import type { Schedule } from './types.js';

const BLOCK_INTS = 1 << 14;

export function scheduleHash(s: Schedule): string {
  const h = createHash('sha256');
  const list = (xs: readonly number[] | undefined): string => (xs === undefined ? '-' : `${xs.length}:${xs.join(',')}`);
  h.update(
    `zcoll-schedule-v1\n${s.algorithm}\n${s.collective}\nn=${s.nranks}\nc=${s.nchunks}\nsteps=${s.steps}\n` +
      `origin=${list(s.origin)}\nowner=${list(s.owner)}\nroot=${s.root ?? '-'}\ntransfers=${s.transfers.length}\n`,
  );
  const buf = new ArrayBuffer(BLOCK_INTS * 4);
  const view = new DataView(buf);
  let used = 0;
  const put = (v: number): void => {
    if (used === BLOCK_INTS) {
      h.update(new Uint8Array(buf));
      used = 0;
    }
    view.setInt32(used * 4, v, true);
    used++;
  };
  for (const t of s.transfers) {
    put(t.id);
    put(t.step);
    put(t.src);
    put(t.dst);
    put(t.chunk);
    put((t.kind === 'reduce' ? 0 : 1) | (t.snapshot === true ? 2 : 0)); // kind, and bit 1 for a snapshot send
    put(t.tree ?? -1);
    put(t.deps.length);
    for (const d of t.deps) put(d);
    put(t.path === undefined ? -1 : t.path.length);
    if (t.path !== undefined) for (const sw of t.path) put(sw);
  }
  h.update(new Uint8Array(buf, 0, used * 4));
  return h.digest('hex');
}

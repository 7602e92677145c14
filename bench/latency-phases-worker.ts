/**
 * One rank of bench/latency-phases.ts: `iters` operations back to back (after `warmup` untimed ones),
 * each stamped at every phase point of lib/phase-clock.ts and at the points only the caller sees:
 *  - 'allreduce': all-reduces of `count` float32 in place; stamped when the caller's await resumes
 *    ('resolved'); every result is compared with the exact sum;
 *  - 'pingpong': rank 0 sends `count` float32 to rank 1 and receives as many back, rank 1 receives and
 *    replies (osu_latency's ping-pong, zcoll bench latency's); stamped at the send call ('call'), when
 *    it resolves ('send-resolved'), at the recv call ('recv-called') and when it resolves
 *    ('resolved'); every element received is compared with the value its sender put there.
 * Rank 0 writes every rank's stamps (performance.now() and the process's timeOrigin, so stamps of two
 * processes compare) and the number of wrong elements to `json`.
 * `count` may list several sizes (comma-separated): operation i then has counts[i % sizes], so every
 * size is measured in the same process at the same time (two runs of one command differ by up to 2x
 * on this VM, more than the sizes do).
 * Args: <json path> <iters> <warmup> <count[,count...]> [allreduce|pingpong]
 */
import { writeFileSync } from 'node:fs';
import { init } from '../lib/index.js';
import { PHASES, setPhaseClock } from '../lib/phase-clock.js';

const [jsonPath, itersArg, warmupArg, countArg, opArg] = process.argv.slice(2);
const iters = Number(itersArg);
const warmup = Number(warmupArg);
const counts = countArg.split(',').map(Number);
const pingpong = opArg === 'pingpong';
const comm = await init();
const n = comm.size;
/** Stamps only the caller sees, after the library's phases. */
const EXTRA = pingpong ? (['send-resolved', 'recv-called', 'resolved'] as const) : (['resolved'] as const);
const names: string[] = [...PHASES, ...EXTRA];
/** One row per timed op: a stamp per phase (its first occurrence in the op). */
const WIDTH = names.length;
const stamps = new Float64Array(iters * WIDTH);
const column = new Map<string, number>(names.map((p, i) => [p, i]));
let row = -1;
const stamp = (p: string): void => {
  if (row < 0) return;
  const k = row * WIDTH + column.get(p)!;
  if (stamps[k] === 0) stamps[k] = performance.now();
};
let wrong = 0;
setPhaseClock(stamp);
if (pingpong) {
  // Rank r sends (r + 1) * (j % 7 + 1) + i % 5 at element j of message i: each message differs from the last.
  const peer = comm.rank ^ 1;
  const mines = counts.map((c) => new Float32Array(c));
  const gots = counts.map((c) => new Float32Array(c));
  const TAG = 0x5050;
  let mine = mines[0];
  let got = gots[0];
  const send = async (): Promise<void> => {
    stamp('call');
    await comm.send(mine, peer, { tag: TAG });
    stamp('send-resolved');
  };
  const recv = async (): Promise<void> => {
    stamp('recv-called');
    await comm.recv(got, peer, { tag: TAG });
    stamp('resolved');
  };
  for (let i = 0; i < warmup + iters; i++) {
    mine = mines[i % counts.length];
    got = gots[i % counts.length];
    const count = mine.length;
    for (let j = 0; j < count; j++) mine[j] = (comm.rank + 1) * ((j % 7) + 1) + (i % 5);
    got.fill(0);
    row = i >= warmup ? i - warmup : -1;
    if (comm.rank === 0) {
      await send();
      await recv();
    } else if (comm.rank === 1) {
      await recv();
      await send();
    }
    row = -1;
    if (peer < n) for (let j = 0; j < count; j++) if (got[j] !== (peer + 1) * ((j % 7) + 1) + (i % 5)) wrong++;
  }
} else {
  const bufs = counts.map((c) => new Float32Array(c));
  for (let i = 0; i < warmup + iters; i++) {
    const buf = bufs[i % counts.length];
    const count = buf.length;
    for (let j = 0; j < count; j++) buf[j] = (comm.rank + 1) * ((j % 7) + 1) + (i % 5);
    row = i >= warmup ? i - warmup : -1;
    await comm.allReduce(buf, { inPlace: true });
    stamp('resolved');
    row = -1;
    for (let j = 0; j < count; j++) if (buf[j] !== ((n * (n + 1)) / 2) * ((j % 7) + 1) + n * (i % 5)) wrong++;
  }
}
setPhaseClock(undefined);
const local = new Float64Array(stamps.length + 2);
local.set(stamps);
local[stamps.length] = performance.timeOrigin;
local[stamps.length + 1] = wrong;
const all = await comm.allGather(local);
if (comm.rank === 0) {
  const ranks = Array.from({ length: n }, (_, r) => all.subarray(r * local.length, (r + 1) * local.length));
  writeFileSync(
    jsonPath,
    JSON.stringify({ n, counts, iters, warmup, phases: names, ranks: ranks.map((a) => ({ timeOrigin: a[stamps.length], wrong: a[stamps.length + 1], stamps: Array.from(a.subarray(0, stamps.length)) })) }),
  );
}
await comm.close();

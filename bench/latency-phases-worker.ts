/**
 * One rank of bench/latency-phases.ts: `iters` all-reduces of `count` float32 back to back (after
 * `warmup` untimed ones), each stamped at every phase point of lib/phase-clock.ts and when the
 * caller's await resumes ('resolved'); every result is compared with the exact sum. Rank 0 writes
 * every rank's stamps (performance.now() and the process's timeOrigin, so stamps of two processes
 * compare) and the number of wrong elements to `json`.
 * Args: <json path> <iters> <warmup> <count>
 */
import { writeFileSync } from 'node:fs';
import { init } from '../lib/index.js';
import { PHASES, setPhaseClock, type Phase } from '../lib/phase-clock.js';

const [jsonPath, itersArg, warmupArg, countArg] = process.argv.slice(2);
const iters = Number(itersArg);
const warmup = Number(warmupArg);
const count = Number(countArg);
const comm = await init();
const n = comm.size;
/** One row per timed op: a stamp per phase (its first occurrence in the op), then 'resolved'. */
const WIDTH = PHASES.length + 1;
const stamps = new Float64Array(iters * WIDTH);
const column = new Map<Phase, number>(PHASES.map((p, i) => [p, i]));
let row = -1;
const buf = new Float32Array(count);
let wrong = 0;
setPhaseClock((p) => {
  if (row < 0) return;
  const k = row * WIDTH + column.get(p)!;
  if (stamps[k] === 0) stamps[k] = performance.now();
});
for (let i = 0; i < warmup + iters; i++) {
  for (let j = 0; j < count; j++) buf[j] = (comm.rank + 1) * ((j % 7) + 1) + (i % 5);
  row = i >= warmup ? i - warmup : -1;
  await comm.allReduce(buf, { inPlace: true });
  if (row >= 0) stamps[row * WIDTH + PHASES.length] = performance.now();
  row = -1;
  for (let j = 0; j < count; j++) if (buf[j] !== ((n * (n + 1)) / 2) * ((j % 7) + 1) + n * (i % 5)) wrong++;
}
setPhaseClock(undefined);
const mine = new Float64Array(stamps.length + 2);
mine.set(stamps);
mine[stamps.length] = performance.timeOrigin;
mine[stamps.length + 1] = wrong;
const all = await comm.allGather(mine);
if (comm.rank === 0) {
  const ranks = Array.from({ length: n }, (_, r) => all.subarray(r * mine.length, (r + 1) * mine.length));
  writeFileSync(
    jsonPath,
    JSON.stringify({ n, count, iters, warmup, phases: [...PHASES, 'resolved'], ranks: ranks.map((a) => ({ timeOrigin: a[stamps.length], wrong: a[stamps.length + 1], stamps: Array.from(a.subarray(0, stamps.length)) })) }),
  );
}
await comm.close();

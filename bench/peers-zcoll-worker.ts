/**
 * One zcoll rank of bench/peers: the peers' exact method (gloo_allreduce.py in bench/peers.ts's peers directory), so the
 * figures compare: per size, every timed iteration fills the buffer with rank+1, barrier, t0,
 * all-reduce (in place), t1, barrier, count the elements that are not n(n+1)/2 (every element, outside
 * the timed part, once every rank left the all-reduce: with more ranks than cores a rank's check took
 * the core from peers still timing theirs, +0.6 ms on a 4-rank 1 MiB median here, more for JS's loop
 * than for C's); time = median over iterations of the max over ranks; iterations = 512 MiB of traffic
 * per size clamped to [5, 200] unless given; warmup = min(5, iters). Rows carry `wrong` (summed over
 * ranks and iterations) and `checked` (elements compared), as the peers' rows do.
 * Args: <json path> <comma-separated sizes in bytes> <iterations, 0: by size> <warm-up iterations, 0: min(5, iterations)>
 *       ['registered': the buffer comes from comm.allocBuffer]
 */
import { writeFileSync } from 'node:fs';
import { init } from '../lib/index.js';
import { kernels } from '../lib/kernels/index.js';

const [jsonPath, sizesArg, itersArg, warmupArg, mode] = process.argv.slice(2);
const registered = mode === 'registered';
const sizes = sizesArg.split(',').map(Number);
const comm = await init();
const n = comm.size;
const forced = Number(itersArg);
const itersFor = (size: number): number => (forced > 0 ? forced : Math.min(200, Math.max(5, Math.floor((512 << 20) / size))));
const rows: Array<Record<string, number>> = [];
for (const size of sizes) {
  const count = size / 4;
  // --registered: the buffer comes from comm.allocBuffer (shared with same-host peers, no sender copy).
  const buf = registered ? (comm.allocBuffer('float32', count) as Float32Array) : new Float32Array(count);
  const iters = itersFor(size);
  const warm = Number(warmupArg) > 0 ? Number(warmupArg) : Math.min(5, iters);
  const times: number[] = [];
  const want = (n * (n + 1)) / 2;
  let wrong = 0;
  for (let it = 0; it < warm + iters; it++) {
    buf.fill(comm.rank + 1);
    await comm.barrier();
    const t0 = performance.now();
    await comm.allReduce(buf, { inPlace: true });
    const t1 = performance.now();
    await comm.barrier();
    for (let i = 0; i < count; i++) if (buf[i] !== want) wrong++;
    if (it >= warm) times.push((t1 - t0) / 1000);
  }
  const slowest = Array.from(await comm.allReduce(Float64Array.from(times), { op: 'max' })).sort((a, b) => a - b);
  const med = slowest.length % 2 ? slowest[slowest.length >> 1] : (slowest[slowest.length / 2 - 1] + slowest[slowest.length / 2]) / 2;
  const wrongAll = (await comm.allReduce(Float64Array.of(wrong), { op: 'sum' }))[0];
  const algbw = size / med / 1e9;
  rows.push({ bytes: size, count, iters, warmup: warm, time_med_s: med, time_min_s: slowest[0], algbw_GBps: algbw, busbw_GBps: (algbw * 2 * (n - 1)) / n, wrong: wrongAll, checked: count * (warm + iters) * n });
  if (registered) comm.freeBuffer(buf);
}
if (comm.rank === 0) writeFileSync(jsonPath, JSON.stringify({ peer: 'zcoll', n, kernels: kernels.name, transport: process.env.ZCOLL_TRANSPORT ?? 'auto', results: rows }, null, 2));
await comm.close();

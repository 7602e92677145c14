/**
 * One rank of bench/memory: what a 64 MiB float32 all-reduce allocates and how high RSS goes.
 * Run under `node --expose-gc`. Args: <json path> <bytes> <iterations> ['registered': the buffer
 * comes from comm.allocBuffer]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { init } from '../lib/index.js';

const [jsonPath, bytesArg, itersArg, mode] = process.argv.slice(2);
const registered = mode === 'registered';
const bytes = Number(bytesArg);
const iters = Number(itersArg);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with node --expose-gc');
const peakKb = (): number => Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0);
const rssMb = (): number => process.memoryUsage().rss / 2 ** 20;
/** Proportional set size: shared pages divided among the processes that map them (Linux smaps_rollup). */
const pssMb = (): number => Number(/^Pss:\s+(\d+)/m.exec(readFileSync('/proc/self/smaps_rollup', 'utf8'))?.[1] ?? 0) / 1024;

const comm = await init();
const buf = registered ? (comm.allocBuffer('float32', bytes / 4) as Float32Array) : new Float32Array(bytes / 4);
buf.fill(comm.rank + 1);
await comm.allReduce(buf, { inPlace: true }); // warm: schedules, mappings, socket buffers
gc();
const baseRss = rssMb();
const baseAb = process.memoryUsage().arrayBuffers;
let allocated = 0;
for (let i = 0; i < iters; i++) {
  buf.fill(comm.rank + 1);
  gc();
  const before = process.memoryUsage().external;
  await comm.allReduce(buf, { inPlace: true });
  // Without a GC in between, what the op allocated is still counted (frames, copies, headers).
  allocated += Math.max(0, process.memoryUsage().external - before);
}
const row = {
  rank: comm.rank,
  ranks: comm.size,
  transport: comm.usesSharedMemory ? (registered ? 'shm-registered' : 'shm') : 'zmq',
  tensorMiB: bytes / 2 ** 20,
  allocatedPerOpMiB: allocated / iters / 2 ** 20,
  peakRssMiB: peakKb() / 1024,
  rssBeforeOpsMiB: baseRss,
  pssAfterOpsMiB: pssMb(),
  arrayBuffersBaseMiB: baseAb / 2 ** 20,
};
const rows = await comm.gather(Float64Array.of(row.allocatedPerOpMiB, row.peakRssMiB, row.rssBeforeOpsMiB, row.pssAfterOpsMiB), { root: 0 });
if (comm.rank === 0) writeFileSync(jsonPath, JSON.stringify({ ...row, perRank: Array.from(rows ?? []) }, null, 2));
await comm.close();

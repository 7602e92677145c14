/**
 * One rank of bench/wait-cpu.ts: after a barrier, rank 0 sleeps `lateMs` before it calls an
 * all-reduce; every other rank calls at once and waits for it, and measures the CPU time its process
 * used meanwhile (process.cpuUsage, user + system) against the wall time of the wait. Every result is
 * compared with the exact sum. Rank 0 writes every rank's row to `json`.
 * Args: <json path> <lateMs> <rounds>
 */
import { writeFileSync } from 'node:fs';
import { init } from '../lib/index.js';

const [jsonPath, lateArg, roundsArg] = process.argv.slice(2);
const lateMs = Number(lateArg);
const rounds = Number(roundsArg);
const comm = await init();
const n = comm.size;
const buf = new Float32Array(16);
let wrong = 0;
let cpuMs = 0;
let wallMs = 0;
for (let r = 0; r < rounds; r++) {
  buf.fill(comm.rank + 1);
  await comm.barrier();
  if (comm.rank === 0) await new Promise((resolve) => setTimeout(resolve, lateMs));
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await comm.allReduce(buf, { inPlace: true });
  wallMs += performance.now() - t0;
  const c = process.cpuUsage(c0);
  cpuMs += (c.user + c.system) / 1000;
  for (const v of buf) if (v !== (n * (n + 1)) / 2) wrong++;
}
const rows = await comm.allGather(Float64Array.of(cpuMs, wallMs, wrong));
if (comm.rank === 0) {
  const ranks = Array.from({ length: n }, (_, r) => ({ rank: r, cpuMs: rows[3 * r], wallMs: rows[3 * r + 1], wrong: rows[3 * r + 2] }));
  writeFileSync(jsonPath, JSON.stringify({ n, lateMs, rounds, ranks }));
}
await comm.close();

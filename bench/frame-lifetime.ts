/**
 * What the receive side costs per all-reduce, for the payload lifetime (issue 16: one Frame object,
 * keep / release, in place of the volatile flag, pooled early copies and the consumed hook). Two
 * ranks in ONE process over real ZeroMQ ipc and, unless --transport ipc, shared memory (slots; no
 * mailboxes: poll 'sleep'). Per size: the CPU time of the process per all-reduce (both ranks' work on
 * one thread: user + sys, which other jobs on a shared machine disturb far less than wall time), the
 * wall time, and, with lib/transport/frame.js (builds after the change), the payload copies made per
 * all-reduce and the frames left alive at the end (a leak shows there). Every result is checked
 * against the exact sum; a wrong one exits 1.
 * Usage: node dist/bench/frame-lifetime.js [--transport shm|ipc] [--sizes 64K,1M,16M] [--iters N] [--stagger]
 * --stagger: rank 0 calls each all-reduce 2 ms after rank 1, so rank 1's first frames arrive early.
 */
import { benchArgs } from './args.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Communicator } from '../lib/comm/communicator.js';
import { checkHelloProof, helloProof, LinkKeys } from '../lib/transport/link-auth.js';
import { ZmqEndpoint } from '../lib/transport/zmq-endpoint.js';

interface FrameCounters {
  live: number;
  copies: number;
}

const parsed = benchArgs({
  name: 'frame-lifetime',
  summary: 'CPU and wall time per all-reduce of two ranks in one process, payload copies per op and frames left alive (results checked; exit 1 when wrong or leaking).',
  options: {
    transport: { type: 'string', value: 'shm', describe: 'shm (shared-memory slots) or ipc (ZeroMQ only)' },
    sizes: { type: 'string', value: '64K,1M,16M', describe: 'sizes like 64K or 1M, comma-separated' },
    iters: { type: 'string', value: '40', describe: 'all-reduces per size' },
    stagger: { type: 'boolean', describe: 'start one rank late each op (early frames)' },
  },
});
const values = { transport: parsed.transport ?? 'shm', sizes: parsed.sizes ?? '64K,1M,16M', iters: parsed.iters ?? '40', stagger: parsed.stagger };
const units: Record<string, number> = { '': 1, K: 1 << 10, M: 1 << 20 };
const sizes = values.sizes.split(',').map((s) => {
  const m = /^(\d+)([KM]?)$/.exec(s.trim());
  if (m === null) throw new Error(`--sizes: '${s}' is not a size like 64K or 1M`);
  return Number(m[1]) * units[m[2]];
});
const iters = Number(values.iters);
if (!(Number.isInteger(iters) && iters > 0)) throw new Error(`--iters must be a positive integer, got ${values.iters}`);
if (values.transport !== 'shm' && values.transport !== 'ipc') throw new Error(`--transport must be shm or ipc, got ${values.transport}`);

// Builds before the change have no frame.js: their copies are not counted.
const frames = await import('../lib/transport/frame.js').then((m: { frameStats?: FrameCounters }) => m.frameStats, () => undefined);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const dir = mkdtempSync(join(tmpdir(), 'zcoll-frame-bench-'));
const epoch = 930_000_000 + (process.pid % 100_000);
const keys = [new LinkKeys(), new LinkKeys()];
const pair = keys[0].pairKey(keys[1].publicKey, 'job', epoch)!;
const eps = await Promise.all([0, 1].map((rank) => ZmqEndpoint.open({ rank, ipc: join(dir, `r${rank}.sock`), maxMessageBytes: 1 << 26, sendTimeoutMs: 30_000, lingerMs: 0 })));
const comms: Communicator[] = [];
let failed = false;
try {
  eps.forEach((ep, rank) => (ep.checkHello = (h) => h.epoch === epoch && h.src === 1 - rank && checkHelloProof(pair, epoch, h.src, rank, h.proof)));
  const links = [0, 1].map((rank) => new Map([[1 - rank, eps[rank].connect(1 - rank, `ipc://${join(dir, `r${1 - rank}.sock`)}`, { epoch, src: rank, proof: helloProof(pair, epoch, rank, 1 - rank) })]]));
  const sharedMemory = values.transport === 'shm' ? 'shm' : 'off';
  for (const rank of [0, 1]) comms.push(new Communicator({ rank, size: 2, localRank: rank, localSize: 2, host: 'h', epoch, endpoint: eps[rank], links: links[rank], timeoutMs: 60_000, segmentBytes: 1 << 20, algorithm: 'ring', sharedMemory, poll: 'sleep' }));
  await Promise.all(comms.map((c) => c.barrier()));
  console.log(`# frame-lifetime: 2 ranks in one process, ${values.transport}, ring, segment 1 MiB, ${iters} all-reduces per size${values.stagger ? ', rank 0 2 ms late' : ''}`);
  console.log('# size        cpu us/op   wall us/op   copies/op   wrong');
  for (const size of sizes) {
    const count = size / 4;
    const xs = [0, 1].map((r) => Float32Array.from({ length: count }, (_, i) => ((i * 7 + r * 101) % 1000) - 500));
    const want = Float32Array.from(xs[0], (v, i) => v + xs[1][i]);
    let wrong = 0;
    const round = async (): Promise<void> => {
      const [a, b] = await Promise.all([(async () => (values.stagger ? (await sleep(2), comms[0].allReduce(xs[0])) : comms[0].allReduce(xs[0])))(), comms[1].allReduce(xs[1])]);
      for (const got of [a, b]) for (let i = 0; i < count; i += 1 + (i % 97)) if (got[i] !== want[i]) wrong++;
    };
    for (let w = 0; w < 3; w++) await round();
    const copies0 = frames?.copies ?? 0;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (let it = 0; it < iters; it++) await round();
    const wall = (performance.now() - t0) * 1000;
    const cpu = process.cpuUsage(cpu0);
    const copies = frames === undefined ? 'n/a' : ((frames.copies - copies0) / iters).toFixed(2);
    console.log(`${String(size).padStart(9)}  ${((cpu.user + cpu.system) / iters).toFixed(0).padStart(11)}  ${(wall / iters).toFixed(0).padStart(11)}  ${copies.padStart(10)}  ${String(wrong).padStart(6)}`);
    if (wrong > 0) failed = true;
  }
  console.log(`# frames alive at the end: ${frames === undefined ? 'n/a' : String(frames.live)}`);
  if (frames !== undefined && frames.live !== 0) failed = true;
} finally {
  await Promise.all(comms.map((c) => c.close()));
  eps.forEach((e) => e.close());
  rmSync(dir, { recursive: true, force: true });
}
if (failed) {
  console.error('frame-lifetime: a result differed from the exact sum, or frames were left alive');
  process.exit(1);
}

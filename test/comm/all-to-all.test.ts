// comm.allToAll (protocols/all-to-all.ts) on real rank processes: for n = 2..5 ranks, float32,
// float64 and int32, chunk lengths k = 1, odd k and k over several segments, every rank's result
// equals the serial transpose of all ranks' arrays (built independently on each rank), x is left
// unchanged, `out` is filled and returned; rank r sends to r+1, r+2, ... in turn; a registered x
// goes to same-host peers by reference; the tensor form keeps x's shape; bad arguments are refused
// with EINVAL naming the argument, and the communicator stays usable. Over shared memory (small
// and default segments) and over TCP. Ranks that pass another length or dtype fail with EMISMATCH
// on every rank, naming the other side; a length not divisible by n is EINVAL on the rank that
// passed it, and the others time out naming it; a killed rank gives EPEERLOST naming it, no hang.
import t from 'tap';
import { afterPrinted, runRanks } from '../helpers/ranks.js';

interface Line {
  kind: string;
  [k: string]: unknown;
}

// [ranks, transport, segment bytes (undefined: the default), chunk lengths]. 128 KiB segments: a
// chunk of 50,001 elements is 2-4 of them, each above the mailbox's 64 KiB (a payload that fits a
// mailbox slot is copied there, registered or not), so a registered x is seen going by reference.
const WORLDS: Array<[number, string, number | undefined, number[]]> = [
  [2, 'auto', 131_072, [1, 7, 50_001]],
  [3, 'auto', 131_072, [1, 7, 50_001]],
  [4, 'auto', 131_072, [1, 7, 50_001]],
  [5, 'auto', 131_072, [1, 7, 50_001]],
  // Default segments: 4 MiB through shared memory (a float32 chunk of 1.1M elements is 2 of them), 1 MiB over TCP.
  [3, 'auto', undefined, [3, 1_100_003]],
  [3, 'tcp', undefined, [1, 300_001]],
  [4, 'tcp', 131_072, [1, 7, 50_001]],
];

for (const [n, transport, segmentBytes, ks] of WORLDS) {
  t.test(`${n} ranks, transport ${transport}, segments ${segmentBytes ?? 'default'}: every rank gets the transpose`, async (t) => {
    const env: Record<string, string> = { ZCOLL_TRANSPORT: transport, ...(segmentBytes !== undefined ? { ZCOLL_TEST_SEGMENT_BYTES: String(segmentBytes) } : {}) };
    const outs = await runRanks(n, { script: 'test/fixtures/all-to-all-worker.js', args: ['matrix', String(11 * n), ks.join(',')], env, killAfterMs: 120_000 });
    for (const o of outs) t.equal(o.code, 0, `rank ${o.rank} exits 0 ${o.stderr.slice(-1500)}`);
    if (outs.some((o) => o.code !== 0)) return;
    for (const o of outs) {
      const r = o.rank;
      const lines = o.results as Line[];
      t.same(lines.find((l) => l.kind === 'order')?.order, Array.from({ length: n - 1 }, (_, j) => (r + 1 + j) % n), `rank ${r} sends to r+1, r+2, ... in turn`);
      const cases = lines.filter((l) => l.kind === 'case');
      t.equal(cases.length, 3 * ks.length, `rank ${r}: every dtype and k ran`);
      for (const c of cases) {
        const name = `rank ${r} ${String(c.dtype)} k=${String(c.k)}`;
        t.equal(c.wrong, 0, `${name}: the result is the transpose`);
        t.equal(c.xChanged, 0, `${name}: x unchanged`);
        t.equal(c.fresh, true, `${name}: a fresh result without out`);
        t.equal(c.outReturned, true, `${name}: out is returned`);
        t.equal(c.outWrong, 0, `${name}: out holds the transpose`);
      }
      const reg = lines.find((l) => l.kind === 'registered')!;
      t.equal(reg.wrong, 0, `rank ${r}: a registered x gives the transpose`);
      if (reg.sharedMemory === true) t.ok(Number(reg.sharedBytes) > 0, `rank ${r}: a registered x goes to same-host peers by reference (${String(reg.sharedBytes)} bytes)`);
      else t.equal(reg.sharedBytes, 0, `rank ${r}: no shared memory, nothing by reference`);
      const tensor = lines.find((l) => l.kind === 'tensor')!;
      t.same({ shape: tensor.shape, dtype: tensor.dtype, wrong: tensor.wrong, inputKept: tensor.inputKept, newTensors: tensor.newTensors }, { shape: [2 * n, 3], dtype: 'float32', wrong: 0, inputKept: true, newTensors: 1 }, `rank ${r}: the tensor form`);
      const ref = lines.find((l) => l.kind === 'refusals')!;
      t.same(ref.refusals, ['EINVAL', 'EINVAL', 'EINVAL', 'EINVAL', 'EINVAL', 'EINVAL', 'EINVAL', 'EINVAL'], `rank ${r}: bad arguments refused`);
      const messages = ref.messages as string[];
      t.match(messages[0], new RegExp(`^EINVAL: \\[rank ${r} alltoall\\] argument 'x' passed to 'allToAll' must have a length divisible by the world size ${n}.*got ${2 * n + 1} elements`), 'the indivisible length is named');
      t.match(messages[1], /option 'out' passed to 'allToAll' must be a Float32Array of \d+ elements like x, got a Float32Array of/, 'a short out is named');
      t.match(messages[3], /must not share memory with x/);
      t.match(messages[4], /unknown option 'root' passed to 'allToAll'/);
      t.match(messages[5], /first dimension divisible by the world size/);
      t.equal(ref.usableAfter, true, `rank ${r}: the communicator is usable after the refusals`);
    }
  });
}

for (const what of ['length', 'dtype'] as const) {
  t.test(`rank 1 passes another ${what}: EMISMATCH on every rank, naming the other side`, async (t) => {
    const outs = await runRanks(3, { script: 'test/fixtures/all-to-all-worker.js', args: ['mismatch', what], killAfterMs: 60_000 });
    for (const o of outs) {
      t.equal(o.code, 0, `rank ${o.rank} exits 0 ${o.stderr.slice(-1000)}`);
      const m = o.results.find((x) => (x as Line).kind === 'mismatch') as { code: string; message: string } | undefined;
      t.equal(m?.code, 'EMISMATCH', `rank ${o.rank}: ${m?.message}`);
      // Ranks 0 and 2 hear rank 1's frame; rank 1 hears theirs (or their abort naming it).
      t.match(m?.message ?? '', /alltoall/, `rank ${o.rank}: the op is named`);
      t.match(m?.message ?? '', o.rank === 1 ? /rank [02]|rank 1/ : /rank 1/, `rank ${o.rank}: the other side is named`);
      t.match(m?.message ?? '', what === 'length' ? /count 300[03]/ : /float64|float32/, `rank ${o.rank}: what differs is in the message`);
    }
  });
}

t.test('a length not divisible by the world size on one rank: EINVAL there, the others time out naming it', async (t) => {
  const outs = await runRanks(3, { script: 'test/fixtures/all-to-all-worker.js', args: ['mismatch', 'indivisible'], killAfterMs: 60_000 });
  for (const o of outs) {
    t.equal(o.code, 0, `rank ${o.rank} exits 0 ${o.stderr.slice(-1000)}`);
    const m = o.results.find((x) => (x as Line).kind === 'mismatch') as { code: string; message: string; peer?: number } | undefined;
    if (o.rank === 1) {
      t.equal(m?.code, 'EINVAL', `rank 1: ${m?.message}`);
      t.match(m?.message ?? '', /length divisible by the world size 3.*got 3001 elements/);
    } else {
      t.equal(m?.code, 'ETIMEDOUT', `rank ${o.rank}: ${m?.message}`);
      t.equal(m?.peer, 1, `rank ${o.rank}: names rank 1 (${m?.message})`);
    }
  }
});

t.test('SIGKILL on rank 2 of 4 mid-all-to-all: EPEERLOST naming it, no hang', async (t) => {
  let killedAt = 0;
  const outs = await runRanks(4, {
    script: 'test/fixtures/all-to-all-worker.js',
    args: ['victim'],
    killAfterMs: 60_000,
    onSpawn: (rank, child) => {
      if (rank !== 2) return;
      afterPrinted(child, '"ready"', 1500, () => {
        killedAt = Date.now();
        child.kill('SIGKILL');
      });
    },
  });
  t.ok(killedAt > 0, 'rank 2 was killed');
  for (const o of outs.filter((x) => x.rank !== 2)) {
    const r = o.results.find((x) => (x as Line).kind === 'victim') as { code: string; message: string; failedAt: number; after: string } | undefined;
    t.ok(r !== undefined, `rank ${o.rank} reported a failure: ${o.stdout.slice(-300)} ${o.stderr.slice(-300)}`);
    if (r === undefined) continue;
    t.equal(r.code, 'EPEERLOST', `rank ${o.rank}: ${r.message}`);
    t.match(r.message, /rank 2/, `rank ${o.rank} names rank 2`);
    t.ok(r.failedAt - killedAt < 6000, `rank ${o.rank} failed ${r.failedAt - killedAt} ms after the kill (< 2x the 3 s timeout)`);
    t.equal(r.after, 'ECLOSED', `rank ${o.rank}'s communicator is poisoned afterwards`);
    t.equal(o.signal, null, `rank ${o.rank} exited by itself`);
  }
});

// Bad input from the network: thousands of random and mutated frames sent to the tcp inboxes of 3
// ranks while they run checked collectives. No rank crashes, memory stays bounded, every result is
// right, and a frame claiming a huge payload (through ZeroMQ, or a raw ZMTP frame header announcing
// 1 TiB) is refused by libzmq's maxMessageSize before anything is allocated: the connection is cut.
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as zmq from 'zeromq';
import { Packr } from 'msgpackr';
import { runRanks } from '../helpers/ranks.js';

interface Published {
  rank: number;
  tcp?: string;
  epoch: number;
}
interface Serve {
  kind: string;
  collectives: number;
  wrong: number;
  dropped: number;
  lastDrop: string;
  rss0: number;
  rssMax: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const FRAMES_PER_RANK = 1500;
const RANKS = 3;

/** mulberry32: the fuzzer is seeded, so a failure replays. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = s;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

type Frames = Buffer[];
interface Fuzzed {
  frames: Frames;
  /** Expected fate at the communicator: dropped and counted, or buffered for a collective it never reaches. */
  fate: 'dropped' | 'buffered';
}

function fuzzer(seed: number, epoch: number, self: number): () => Fuzzed {
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const int = (n: number): number => Math.floor(rnd() * n);
  const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => int(256)));
  const packr = new Packr({ useRecords: false });
  const other = (self + 1) % RANKS;
  const valid = (): Record<string, unknown> => ({ v: 1, k: 'data', src: other, ep: (epoch + 1 + int(1000)) >>> 0, seq: int(100), op: pick(['allreduce', 'broadcast', 'allgather']), x: int(8), s: 0, dt: 'float32', n: 16, c: 4, ro: 'sum', root: -1, tag: 0 });
  const mutations: (() => Fuzzed)[] = [
    () => ({ frames: Array.from({ length: 1 + int(3) }, () => bytes(int(200))), fate: 'dropped' }), // random bytes
    () => {
      const h = packr.pack(valid());
      return { frames: [h.subarray(0, int(h.length)), bytes(16)], fate: 'dropped' }; // truncated header
    },
    () => ({ frames: [packr.pack({ ...valid(), c: 4 + 1 + int(100) }), bytes(16)], fate: 'dropped' }), // wrong count for the payload
    () => ({ frames: [packr.pack({ ...valid(), c: pick([2 ** 30, 2 ** 31, 2 ** 53, -1, 1.5, 1e300]), n: pick([2 ** 53, -5, 0.5]) }), bytes(16)], fate: 'dropped' }), // huge counts
    () => ({ frames: [packr.pack({ ...valid(), v: pick([0, 2, 99, '1', null]) }), bytes(16)], fate: 'dropped' }), // wrong protocol version
    () => ({ frames: [packr.pack({ ...valid(), c: 1000 }), bytes(int(3999))], fate: 'dropped' }), // valid header, short payload
    () => ({ frames: [packr.pack({ ...valid(), k: pick(['data', 'p2p', 'abort', 'bye', 'x']), dt: pick(['float16', 'int8', 7]) }), bytes(16)], fate: 'dropped' }), // unknown dtype
    () => ({ frames: [packr.pack({ ...valid(), src: pick([RANKS, -1, 1.5, 'r0', 1 << 30]) }), bytes(16)], fate: 'dropped' }), // not a rank
    () => ({ frames: [packr.pack(pick([[1, 2, 3], 'hello', 42, null, { v: 1 }]))], fate: 'dropped' }), // not a map
    () => ({ frames: [packr.pack({ ...valid(), ep: epoch, seq: 0, x: 100_000 + int(1000), c: 0 })], fate: 'dropped' }), // right epoch, unknown transfer of a finished collective
    () => ({ frames: [packr.pack({ ...valid(), ep: epoch, src: self, c: 0 })], fate: 'dropped' }), // right epoch, claims to be the receiver
    () => ({ frames: [packr.pack({ ...valid(), ep: epoch, seq: 2 ** 40 + int(1000), x: 100_000, c: 0 })], fate: 'dropped' }), // right epoch, a collective too far ahead to be real
    () => ({ frames: [packr.pack(valid()), bytes(16)], fate: 'dropped' }), // well-formed, another communicator
    () => ({ frames: [packr.pack({ ...valid(), c: 262_000 }), bytes(262_000 * 4)], fate: 'dropped' }), // big but under the limit, wrong epoch
  ];
  return () => {
    const m = rnd() < 0.02 ? mutations[mutations.length - 1] : mutations[int(mutations.length - 1)];
    return m();
  };
}

/** Speaks ZMTP 3.0 (NULL) as a PUSH peer, then announces a `size`-byte message; resolves with whether the rank cut the connection within `waitMs`. */
async function rawFrame(endpoint: string, size: bigint, waitMs: number): Promise<{ cut: boolean; ms: number }> {
  const [host, port] = endpoint.replace('tcp://', '').split(':');
  const sock = tcpConnect(Number(port), host);
  const t0 = Date.now();
  return await new Promise((resolve) => {
    let done = false;
    const finish = (cut: boolean): void => {
      if (done) return;
      done = true;
      sock.destroy();
      resolve({ cut, ms: Date.now() - t0 });
    };
    sock.on('data', () => undefined); // read the rank's greeting, so its FIN is seen
    sock.on('close', () => finish(true));
    sock.on('error', () => finish(true));
    setTimeout(() => finish(false), waitMs);
    sock.on('connect', () => {
      const greeting = Buffer.alloc(64);
      greeting[0] = 0xff;
      greeting[8] = 1; // what libzmq sends (the ZMTP 1.0 length byte of its signature)
      greeting[9] = 0x7f;
      greeting[10] = 3;
      greeting[11] = 1;
      greeting.write('NULL', 12);
      const ready = Buffer.concat([Buffer.from([5]), Buffer.from('READY'), Buffer.from([11]), Buffer.from('Socket-Type'), Buffer.from([0, 0, 0, 4]), Buffer.from('PUSH')]);
      const command = Buffer.concat([Buffer.from([0x04, ready.length]), ready]);
      const header = Buffer.alloc(9);
      header[0] = 0x02; // long frame, last part
      header.writeBigUInt64BE(size, 1);
      // The message goes once the handshake is through (libzmq refuses data glued to the READY).
      sock.write(Buffer.concat([greeting, command]));
      setTimeout(() => sock.write(Buffer.concat([header, Buffer.alloc(Number(size < 4096n ? size : 4096n))])), 200);
    });
  });
}

t.test('fuzzed frames on the tcp inboxes of running ranks', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'zcoll-fuzz-'));
  const run = runRanks(RANKS, {
    script: 'test/fixtures/reliability-worker.js',
    args: ['serve', '16384'],
    env: { ZCOLL_TRANSPORT: 'tcp', ZCOLL_TEST_DIR: dir },
    killAfterMs: 120_000,
  });
  const published: Published[] = [];
  const deadline = Date.now() + 30_000;
  for (let r = 0; r < RANKS; r++) {
    const f = join(dir, `rank-${r}.json`);
    while (!existsSync(f) && Date.now() < deadline) await sleep(50);
    published.push(existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as Published) : { rank: r, epoch: 0 });
  }
  t.ok(published.every((p) => p.tcp !== undefined), 'every rank published its tcp inbox');
  const expected = published.map(() => ({ dropped: 0, buffered: 0, oversize: 0 }));
  await Promise.all(
    published.map(async (p) => {
      if (p.tcp === undefined) return;
      const next = fuzzer(1000 + p.rank, p.epoch, p.rank);
      const push = new zmq.Push({ linger: 0, sendTimeout: 2000, sendHighWaterMark: 100 });
      push.connect(p.tcp);
      for (let i = 0; i < FRAMES_PER_RANK; i++) {
        const f = next();
        await push.send(f.frames);
        expected[p.rank][f.fate]++;
        if (i % 100 === 0) await sleep(5); // interleave with the collectives
      }
      // Over maxMessageSize (segment + 64 KiB): libzmq drops the connection, the frame never arrives.
      for (let i = 0; i < 3; i++) {
        await push.send([Buffer.from('x'), Buffer.alloc(2 << 20)]);
        expected[p.rank].oversize++;
      }
      await sleep(300);
      push.close();
    }),
  );
  const raw = await Promise.all(published.map((p) => (p.tcp === undefined ? { cut: false, ms: 0 } : rawFrame(p.tcp, 1n << 40n, 5000))));
  // Control: the same handshake with a 16-byte message is accepted (and the message dropped as not a header).
  const rawSmall = await Promise.all(published.map((p) => (p.tcp === undefined ? { cut: true, ms: 0 } : rawFrame(p.tcp, 16n, 1000))));
  published.forEach((p) => expected[p.rank].dropped++);
  await sleep(500);
  writeFileSync(join(dir, 'stop'), '');
  const outs = await run;
  for (const o of outs) {
    const res = o.results.find((x) => (x as Serve).kind === 'serve') as Serve | undefined;
    t.equal(o.code, 0, `rank ${o.rank} did not crash and exits 0 ${o.stderr.slice(-600)}`);
    t.ok(res !== undefined, `rank ${o.rank} reported`);
    if (res === undefined) continue;
    const e = expected[o.rank];
    t.ok(res.collectives > 16, `rank ${o.rank} ran ${res.collectives} collectives under fire`);
    t.equal(res.wrong, 0, `rank ${o.rank}: every collective result is right`);
    t.equal(res.dropped, e.dropped, `rank ${o.rank}: each of the ${e.dropped} malformed or foreign frames was dropped and counted (last: ${res.lastDrop}); ${e.buffered} far-ahead frames buffered, ${e.oversize} oversize never delivered`);
    const growMB = (res.rssMax - res.rss0) / 2 ** 20;
    t.ok(growMB < 160, `rank ${o.rank}: RSS grew ${growMB.toFixed(1)} MiB (bounded; a 1 TiB claim was never allocated)`);
  }
  raw.forEach((r, rank) => t.ok(r.cut, `rank ${rank} cut a raw connection announcing a 1 TiB frame (${r.ms} ms)`));
  rawSmall.forEach((r, rank) => t.notOk(r.cut, `control: rank ${rank} kept the same raw connection with a 16-byte frame`));
});


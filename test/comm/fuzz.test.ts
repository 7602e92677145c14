// Bad input from the network: thousands of random and mutated frames sent to the tcp inboxes of 3
// ranks while they run checked collectives. No rank crashes, memory stays bounded, every result is
// right, and a frame claiming a huge payload (through ZeroMQ, or a raw ZMTP frame header announcing
// 1 TiB) is refused by libzmq's maxMessageSize before anything is allocated: the connection is cut.
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as zmq from 'zeromq';
import { fuzzer } from '../fixtures/fuzz-frames.js';
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
  unauthenticated: number;
  fuzzSent: number;
  lastDrop: string;
  rss0: number;
  rssMax: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Frames each rank sends its neighbour through its own link, and a stranger sends each rank. */
const FRAMES_PER_RANK = 1500;
const STRANGER_FRAMES = 1500;
const RANKS = 3;

/** Speaks ZMTP 3.0 (NULL) as a DEALER peer (what a rank's ROUTER inbox accepts), then announces a `size`-byte message; resolves with whether the rank cut the connection within `waitMs`. */
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
      const ready = Buffer.concat([Buffer.from([5]), Buffer.from('READY'), Buffer.from([11]), Buffer.from('Socket-Type'), Buffer.from([0, 0, 0, 6]), Buffer.from('DEALER')]);
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
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const run = runRanks(RANKS, {
    script: 'test/fixtures/reliability-worker.js',
    args: ['serve', '16384'],
    env: { ZCOLL_TRANSPORT: 'tcp', ZCOLL_TEST_DIR: dir, ZCOLL_FUZZ_FRAMES: String(FRAMES_PER_RANK) },
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
  // A stranger's connection: it never proves a rank, so nothing on it reaches the decoder.
  const strangerSent = published.map(() => 0);
  await Promise.all(
    published.map(async (p) => {
      if (p.tcp === undefined) return;
      const next = fuzzer(1000 + p.rank, p.epoch, p.rank, RANKS);
      const sock = new zmq.Dealer({ linger: 0, sendTimeout: 2000, sendHighWaterMark: 100 });
      sock.connect(p.tcp);
      for (let i = 0; i < STRANGER_FRAMES; i++) {
        await sock.send(next().frames);
        strangerSent[p.rank]++;
        if (i % 100 === 0) await sleep(5); // interleave with the collectives
      }
      // Over maxMessageSize (segment + 64 KiB): libzmq drops the connection, the frame never arrives.
      for (let i = 0; i < 3; i++) await sock.send([Buffer.from('x'), Buffer.alloc(2 << 20)]);
      await sleep(300);
      sock.close();
    }),
  );
  const raw = await Promise.all(published.map((p) => (p.tcp === undefined ? { cut: false, ms: 0 } : rawFrame(p.tcp, 1n << 40n, 5000))));
  // Control: the same handshake with a 16-byte message is accepted (and refused as not a hello).
  const rawSmall = await Promise.all(published.map((p) => (p.tcp === undefined ? { cut: true, ms: 0 } : rawFrame(p.tcp, 16n, 1000))));
  published.forEach((p) => strangerSent[p.rank]++);
  await sleep(500);
  writeFileSync(join(dir, 'stop'), '');
  const outs = await run;
  const results = outs.map((o) => o.results.find((x) => (x as Serve).kind === 'serve') as Serve | undefined);
  for (const o of outs) {
    const res = results[o.rank];
    t.equal(o.code, 0, `rank ${o.rank} did not crash and exits 0 ${o.stderr.slice(-600)}`);
    t.ok(res !== undefined, `rank ${o.rank} reported`);
    if (res === undefined) continue;
    // What the rank before it sent through its own link: each must reach the decoder and be dropped.
    const fromPeer = results[(o.rank + RANKS - 1) % RANKS]?.fuzzSent ?? -1;
    t.ok(res.collectives > 16, `rank ${o.rank} ran ${res.collectives} collectives under fire`);
    t.equal(res.wrong, 0, `rank ${o.rank}: every collective result is right`);
    t.equal(res.dropped, fromPeer, `rank ${o.rank}: each of the ${fromPeer} malformed or foreign frames a peer sent on its link was dropped and counted (last: ${res.lastDrop})`);
    t.equal(res.unauthenticated, strangerSent[o.rank], `rank ${o.rank}: each of the ${strangerSent[o.rank]} messages on a stranger's connection was refused before decoding`);
    const growMB = (res.rssMax - res.rss0) / 2 ** 20;
    t.ok(growMB < 160, `rank ${o.rank}: RSS grew ${growMB.toFixed(1)} MiB (bounded; a 1 TiB claim was never allocated)`);
  }
  raw.forEach((r, rank) => t.ok(r.cut, `rank ${rank} cut a raw connection announcing a 1 TiB frame (${r.ms} ms)`));
  rawSmall.forEach((r, rank) => t.notOk(r.cut, `control: rank ${rank} kept the same raw connection with a 16-byte frame`));
});


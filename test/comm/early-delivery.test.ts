// A fast peer's hello and first collective frames can reach a rank before its Communicator exists
// (they arrive while its own rendezvous reply is still on the way). They wait in the endpoint and
// are delivered when the communicator is built: building it must not trip over them, and the
// collective they belong to must complete. Real ZeroMQ endpoints over ipc, in one process.
// Over shared memory too: frames of a collective a rank has not started are lent from its peer's
// slots; they are kept as copies (the slot goes back at once), delivered when it starts, and released.
import t, { type Test as Tap } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Communicator } from '../../lib/comm/communicator.js';
import { nativeLoad } from '../../lib/kernels/native.js';
import { frameStats } from '../../lib/transport/frame.js';
import { releasedFrames } from '../../lib/transport/frame-release.js';
import { checkHelloProof, helloProof, LinkKeys } from '../../lib/transport/link-auth.js';
import { shmSupported } from '../../lib/transport/shm-region.js';
import { ZmqEndpoint } from '../../lib/transport/zmq-endpoint.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

t.test('frames that arrive before the communicator is built are delivered once it is', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'zcoll-early-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const epoch = 4242;
  const keys = [new LinkKeys(), new LinkKeys()];
  const pair = keys[0].pairKey(keys[1].publicKey, 'job', epoch)!;
  const eps = await Promise.all([0, 1].map((rank) => ZmqEndpoint.open({ rank, ipc: join(dir, `r${rank}.sock`), maxMessageBytes: 1 << 20, sendTimeoutMs: 5000, lingerMs: 0 })));
  t.teardown(() => eps.forEach((e) => e.close()));
  eps.forEach((ep, rank) => (ep.checkHello = (h) => h.epoch === epoch && h.src === 1 - rank && checkHelloProof(pair, epoch, h.src, rank, h.proof)));
  const links = [0, 1].map((rank) => new Map([[1 - rank, eps[rank].connect(1 - rank, `ipc://${join(dir, `r${1 - rank}.sock`)}`, { epoch, src: rank, proof: helloProof(pair, epoch, rank, 1 - rank) })]]));
  const build = (rank: number): Communicator =>
    new Communicator({ rank, size: 2, localRank: rank, localSize: 2, host: 'h', epoch, endpoint: eps[rank], links: links[rank], timeoutMs: 5000, segmentBytes: 1 << 16, algorithm: 'auto', sharedMemory: 'off', poll: 'sleep' });
  // Rank 1 is fast: built, and already in its first collective, whose frame reaches rank 0 early.
  const fast = build(1);
  const fastDone = fast.allReduce(new Float32Array([2, 3]));
  await sleep(300);
  let slow: Communicator | undefined;
  t.doesNotThrow(() => (slow = build(0)), 'building the late rank delivers the early frames without error');
  const [a, b] = await Promise.all([slow!.allReduce(new Float32Array([10, 20])), fastDone]);
  t.same(Array.from(a), [12, 23], 'the slow rank gets the sum, its peer\'s early frame included');
  t.same(Array.from(b), [12, 23]);
  t.equal(slow!.stats.droppedFrames, 0, 'nothing was dropped');
  await Promise.all([slow!.close(), fast.close()]);
});

/** Two communicators over real ZeroMQ ipc and shared memory, in this process; closed at teardown. */
async function sharedPair(t: Tap, epoch: number, segmentBytes: number): Promise<Communicator[]> {
  const dir = mkdtempSync(join(tmpdir(), 'zcoll-early-shm-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const keys = [new LinkKeys(), new LinkKeys()];
  const pair = keys[0].pairKey(keys[1].publicKey, 'job', epoch)!;
  const eps = await Promise.all([0, 1].map((rank) => ZmqEndpoint.open({ rank, ipc: join(dir, `r${rank}.sock`), maxMessageBytes: 1 << 24, sendTimeoutMs: 5000, lingerMs: 0 })));
  t.teardown(() => eps.forEach((e) => e.close()));
  eps.forEach((ep, rank) => (ep.checkHello = (h) => h.epoch === epoch && h.src === 1 - rank && checkHelloProof(pair, epoch, h.src, rank, h.proof)));
  const links = [0, 1].map((rank) => new Map([[1 - rank, eps[rank].connect(1 - rank, `ipc://${join(dir, `r${1 - rank}.sock`)}`, { epoch, src: rank, proof: helloProof(pair, epoch, rank, 1 - rank) })]]));
  // 'sleep': no mailboxes, every payload of 32 KiB or more in a slot.
  const comms = [0, 1].map(
    (rank) => new Communicator({ rank, size: 2, localRank: rank, localSize: 2, host: 'h', epoch, endpoint: eps[rank], links: links[rank], timeoutMs: 10_000, segmentBytes, algorithm: 'ring', sharedMemory: 'shm', poll: 'sleep' }),
  );
  t.teardown(() => Promise.all(comms.map((c) => c.close())));
  t.ok(comms.every((c) => c.usesSharedMemory), 'both ranks share memory');
  await Promise.all(comms.map((c) => c.barrier()));
  return comms;
}

const noShm = shmSupported() ? false : 'the native addon (shared memory) is not built';

t.test('early frames over shared memory: kept as copies (the slots go back at once), right results, nothing leaked', { skip: noShm }, async (t) => {
  // Segments of 64 KiB (over the 32 KiB a slot needs), 8 slots per peer.
  const segmentBytes = 64 << 10;
  const comms = await sharedPair(t, 915_000_000 + (process.pid % 100_000), segmentBytes);
  const liveBefore = frameStats.live;
  const copiesBefore = frameStats.copies;
  // Ring of 2: a chunk of 16 segments per transfer, twice the 8 slots rank 1 has for rank 0.
  const count = 2 * 16 * (segmentBytes / 4);
  const rounds = 12;
  const input = (rank: number, k: number): Float32Array => Float32Array.from({ length: count }, (_, i) => ((i * 7 + k * 13 + rank * 101) % 1000) - 500);
  const wrong: string[] = [];
  // Rank 1 calls the next all-reduce as soon as it finished the last; rank 0 only after a pause, so
  // rank 1's first segments of every round reach it before it started that round.
  const fast = (async () => {
    for (let k = 0; k < rounds; k++) await comms[1].allReduce(input(1, k));
  })();
  for (let k = 0; k < rounds; k++) {
    await sleep(k % 3 === 0 ? 30 : 5);
    const got = await comms[0].allReduce(input(0, k));
    const a = input(0, k);
    const b = input(1, k);
    const bad = got.findIndex((v, i) => v !== a[i] + b[i]);
    if (bad >= 0) wrong.push(`round ${k}: element ${bad} is ${got[bad]}, the sum is ${a[bad] + b[bad]}`);
  }
  await fast;
  t.same(wrong, [], `${rounds} all-reduces of ${count} floats: the exact sum on rank 0`);
  t.ok(frameStats.copies - copiesBefore > 0, `frames of rounds rank 0 had not started arrived in slots and were kept as copies (${frameStats.copies - copiesBefore})`);
  t.equal(comms[0].stats.droppedFrames + comms[1].stats.droppedFrames, 0, 'nothing was dropped');
  t.equal(frameStats.live, liveBefore, 'every frame was released (none kept past its collective)');
});

t.test('point-to-point: a message waiting for recv() is kept as it came (a ZeroMQ buffer, no copy) and released once received, or at close', { skip: noShm }, async (t) => {
  // Point-to-point travels over ZeroMQ even between ranks that share memory (outbox.ts viaShm).
  const segmentBytes = 64 << 10;
  const comms = await sharedPair(t, 916_000_000 + (process.pid % 100_000), segmentBytes);
  const liveBefore = frameStats.live;
  const copiesBefore = frameStats.copies;
  const x = Float32Array.from({ length: 4 * (segmentBytes / 4) }, (_, i) => i - 1000);
  // Sent before rank 0 calls recv(): its four segments wait, kept.
  await comms[1].send(x, 0, { tag: 7 });
  await comms[1].send(x.map((v) => -v), 0, { tag: 8 });
  for (let i = 0; i < 100 && frameStats.live - liveBefore < 8; i++) await sleep(10);
  t.equal(frameStats.live - liveBefore, 8, 'both messages (four segments each) wait as kept frames');
  t.equal(frameStats.copies - copiesBefore, 0, 'kept without a copy');
  const freedBefore = releasedFrames();
  const got = await comms[0].recv({ dtype: 'float32', count: x.length }, 1, { tag: 7 });
  t.same(Array.from(got), Array.from(x), 'the message received is the one sent');
  t.equal(frameStats.live - liveBefore, 4, 'its frames were released once copied into the target');
  if (nativeLoad.loaded) t.equal(releasedFrames() - freedBefore, 4, 'their ZeroMQ messages freed at once');
  await Promise.all(comms.map((c) => c.close()));
  t.equal(frameStats.live, liveBefore, 'the message never received was released at close');
});

// A fast peer's hello and first collective frames can reach a rank before its Communicator exists
// (they arrive while its own rendezvous reply is still on the way). They wait in the endpoint and
// are delivered when the communicator is built: building it must not trip over them, and the
// collective they belong to must complete. Real ZeroMQ endpoints over ipc, in one process.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Communicator } from '../../lib/comm/communicator.js';
import { checkHelloProof, helloProof, LinkKeys } from '../../lib/transport/link-auth.js';
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

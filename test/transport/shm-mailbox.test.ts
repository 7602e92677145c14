// The shared-memory mailboxes of the same-host latency path: a sender uses a peer's mailbox only
// while that peer polls and a slot is free (else ZeroMQ), the receiver gets header and payload
// bytes intact and in order, a corrupt slot is handed on as an empty header (the communicator drops
// and counts it), and on real processes with busy polling forced on, small collectives go through
// the mailboxes with results equal to the serial reference while ranks fall in and out of polling.
// A rank may also sleep on its mailbox (a futex): a publish wakes it, and a rank that waits past its
// spin budget sleeps there and is woken by its senders.
import { Worker } from 'node:worker_threads';
import t, { type Test as Tap } from 'tap';
import { futex } from '../../lib/kernels/native.js';
import { InRegions, OutRegion, regionName, shmSupported } from '../../lib/transport/shm-region.js';
import { ShmMailbox } from '../../lib/transport/shm-mailbox.js';
import { MAILBOX_MAX_PAYLOAD, MAILBOX_SLOTS } from '../../lib/transport/shm-mailbox-layout.js';
import { runRanks } from '../helpers/ranks.js';

const skip = shmSupported() ? false : 'the native addon (shared memory) is not built';

interface Pair {
  sender: ShmMailbox;
  receiver: ShmMailbox;
  senderRegion: OutRegion;
}

function pair(t: Tap, epoch: number): Pair {
  const r0 = new OutRegion(epoch, 0, [1], 4096);
  const r1 = new OutRegion(epoch, 1, [0], 4096);
  const in0 = new InRegions();
  const in1 = new InRegions();
  t.teardown(() => {
    for (const x of [r0, r1]) x.close();
    for (const x of [in0, in1]) x.close();
  });
  t.ok(in0.attach(regionName(epoch, 1)) && in1.attach(regionName(epoch, 0)), 'each side maps the other region');
  const sender = new ShmMailbox(0, r0, in0, (p) => regionName(epoch, p), [1], undefined);
  const receiver = new ShmMailbox(1, r1, in1, (p) => regionName(epoch, p), [0], undefined);
  return { sender, receiver, senderRegion: r0 };
}

t.test('a mailbox carries messages only while its owner polls, in order, up to its slots', { skip }, async (t) => {
  const { sender, receiver } = pair(t, 910_000_000 + (process.pid % 1000));
  const head = (i: number): Uint8Array => Uint8Array.from([0x80 + (i % 16), i & 0xff, 3]);
  t.equal(sender.trySend(1, head(0), undefined), 'no', 'not polling: ZeroMQ');
  receiver.startPolling();
  const got: Array<{ peer: number; head: number[]; payload: number[] | null }> = [];
  const take = (peer: number, h: Buffer, p: Buffer | undefined): void => void got.push({ peer, head: [...h], payload: p === undefined ? null : [...p.subarray(0, 4)] });
  for (let i = 0; i < MAILBOX_SLOTS; i++) t.equal(sender.trySend(1, head(i), i % 2 === 0 ? Uint8Array.from([i, 1, 2, 3, 4]) : undefined), 'sent', `message ${i} fits`);
  t.equal(sender.trySend(1, head(99), undefined), 'no', 'a full lane falls back to ZeroMQ');
  t.equal(sender.trySend(1, head(1), new Uint8Array(MAILBOX_MAX_PAYLOAD + 1)), 'no', 'a payload over the limit goes by ZeroMQ');
  receiver.drain(take);
  t.equal(got.length, MAILBOX_SLOTS, 'every published message is drained once');
  t.same(got.map((g) => g.head[1]), [...Array(MAILBOX_SLOTS).keys()], 'in order');
  t.same(got[0], { peer: 0, head: [...head(0)], payload: [0, 1, 2, 3] }, 'header and payload intact');
  t.equal(got[1].payload, null, 'no payload when none was sent');
  receiver.drain(take);
  t.equal(got.length, MAILBOX_SLOTS, 'a second drain finds nothing');
  for (let i = 0; i < 3 * MAILBOX_SLOTS; i++) {
    t.equal(sender.trySend(1, head(i), Uint8Array.of(i)), 'sent');
    receiver.drain(take);
  }
  t.equal(got.length, 4 * MAILBOX_SLOTS, 'slots are reused once drained (counters wrap around the ring)');
  t.same(receiver.counters.received, 4 * MAILBOX_SLOTS);
  receiver.stopPolling(take);
  t.equal(sender.trySend(1, head(0), undefined), 'no', 'stopped polling: ZeroMQ again');
});

t.test('a corrupt slot is handed on as an empty header and freed', { skip }, async (t) => {
  const { sender, receiver, senderRegion } = pair(t, 920_000_000 + (process.pid % 1000));
  receiver.startPolling();
  t.equal(sender.trySend(1, Uint8Array.of(1, 2, 3), undefined), 'sent');
  // Overwrite the published slot's header size with garbage, as a broken or hostile peer could.
  const words = new Int32Array(senderRegion.mapped!);
  const at = (senderRegion.mailboxStart + 64 + 128) / 4; // slot 0 of lane 0 (one lane)
  words[at] = 1 << 30;
  const got: number[] = [];
  receiver.drain((_p, h) => void got.push(h.byteLength));
  t.same(got, [0], 'the receiver sees an empty header (dropped and counted by the communicator)');
  t.equal(sender.trySend(1, Uint8Array.of(1), undefined), 'sent', 'the slot was freed');
});

interface Summary {
  rank: number;
  wrong: number;
  mailbox: { sent: number; received: number; doorbells: number } | null;
  dropped: number;
}

for (const n of [2, 3]) {
  t.test(`${n} ranks, busy polling on: small collectives through the mailboxes are exact`, { skip }, async (t) => {
    const outs = await runRanks(n, { script: 'test/fixtures/mailbox-worker.js', args: ['300'], env: { ZCOLL_POLL: 'spin', ZCOLL_TRANSPORT: 'shm' }, killAfterMs: 120_000 });
    let sent = 0;
    let received = 0;
    for (const o of outs) {
      t.equal(o.code, 0, `rank ${o.rank} exits 0 ${o.code === 0 ? '' : o.stderr.slice(-1500)}`);
      const s = o.results[0] as Summary | undefined;
      t.ok(s !== undefined, `rank ${o.rank} reported`);
      if (s === undefined) continue;
      t.equal(s.wrong, 0, `rank ${o.rank}: every result equals the serial reference`);
      t.equal(s.dropped, 0, `rank ${o.rank}: no frame dropped`);
      t.ok(s.mailbox !== null, `rank ${o.rank} has mailboxes`);
      sent += s.mailbox?.sent ?? 0;
      received += s.mailbox?.received ?? 0;
    }
    t.ok(sent > 100, `frames went through the mailboxes (${sent})`);
    t.equal(received, sent, 'every mailbox message was received exactly once');
  });
}

t.test('a rank sleeping on its mailbox is woken by the peer that publishes, not by its timeout', { skip: skip || (futex() === undefined ? 'no futex here' : false) }, async (t) => {
  const epoch = 930_000_000 + (process.pid % 1000);
  const sleepMicros = 900_000;
  const worker = new Worker(new URL('../fixtures/mailbox-sleeper.js', import.meta.url), { workerData: { epoch, sleepMicros } });
  t.teardown(() => void worker.terminate());
  const next = (): Promise<Record<string, unknown>> => new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  t.ok((await next()).ready, 'the sleeper created its region');
  const r0 = new OutRegion(epoch, 0, [1], 4096);
  const in0 = new InRegions();
  t.teardown(() => {
    r0.close();
    in0.close();
  });
  t.ok(in0.attach(regionName(epoch, 1)), 'rank 0 maps the sleeper region');
  const sender = new ShmMailbox(0, r0, in0, (p) => regionName(epoch, p), [1], futex());
  worker.postMessage('go');
  t.ok((await next()).polling, 'the sleeper polls');
  // Let it reach the futex, then publish: the swap from ASLEEP and the wake end its sleep.
  await new Promise((resolve) => setTimeout(resolve, 100));
  const result = next();
  t.equal(sender.trySend(1, Uint8Array.of(42), undefined), 'sent', 'published into the mailbox of a sleeping rank');
  const r = (await result) as { slept: boolean; ms: number; got: number[]; counters: { sleeps: number } };
  t.equal(r.slept, true, 'it slept');
  t.equal(r.counters.sleeps, 1, 'on the futex, once');
  t.ok(r.ms < sleepMicros / 1000 / 2, `woken by the publish after ${r.ms.toFixed(1)} ms, not by its ${sleepMicros / 1000} ms timeout`);
  t.same(r.got, [42], 'and drains the message');
  t.equal(sender.counters.wakes, 1, 'the sender saw it asleep and woke it');
});

t.test('sleep does not sleep when a message is already there, nor without a futex', { skip }, async (t) => {
  const { sender, receiver } = pair(t, 940_000_000 + (process.pid % 1000));
  t.equal(receiver.sleep(1000), false, 'no futex given: never sleeps (waits stay on ZeroMQ)');
  const f = futex();
  if (f === undefined) return;
  const epoch = 950_000_000 + (process.pid % 1000);
  const r0 = new OutRegion(epoch, 0, [1], 4096);
  const r1 = new OutRegion(epoch, 1, [0], 4096);
  const in0 = new InRegions();
  const in1 = new InRegions();
  t.teardown(() => [r0, r1, in0, in1].forEach((x) => x.close()));
  in0.attach(regionName(epoch, 1));
  in1.attach(regionName(epoch, 0));
  const a = new ShmMailbox(0, r0, in0, (p) => regionName(epoch, p), [1], f);
  const b = new ShmMailbox(1, r1, in1, (p) => regionName(epoch, p), [0], f);
  t.equal(b.sleep(1000), false, 'not polling: no sleep (peers would not use the mailbox)');
  b.startPolling();
  t.equal(a.trySend(1, Uint8Array.of(7), undefined), 'sent');
  const t0 = performance.now();
  t.equal(b.sleep(500_000), true, 'returns');
  t.ok(performance.now() - t0 < 250, 'at once: a published message is waiting');
  t.equal(b.counters.sleeps, 0, 'without reaching the futex');
  const t1 = performance.now();
  b.drain(() => undefined);
  t.equal(b.sleep(20_000), true, 'nothing waiting: sleeps');
  t.ok(performance.now() - t1 >= 15, 'for its timeout');
  t.equal(b.counters.sleeps, 1);
  t.equal(a.trySend(1, Uint8Array.of(8), undefined), 'sent', 'back to polling after the sleep: the mailbox is still open');
  void sender;
});

t.test('a rank that waits past its spin budget sleeps on its mailbox and is woken through it; results exact', { skip: skip || (futex() === undefined ? 'no futex here' : false) }, async (t) => {
  // Spinning forced on: the worker's pauses (up to 12 ms on a tenth of its rounds) outlast the 5 ms budget.
  const outs = await runRanks(3, { script: 'test/fixtures/mailbox-worker.js', args: ['150'], env: { ZCOLL_POLL: 'spin', ZCOLL_TRANSPORT: 'shm' }, killAfterMs: 120_000 });
  let sleeps = 0;
  let wakes = 0;
  let sent = 0;
  for (const o of outs) {
    t.equal(o.code, 0, `rank ${o.rank} exits 0 ${o.code === 0 ? '' : o.stderr.slice(-1500)}`);
    const s = o.results[0] as (Summary & { mailbox: { sleeps: number; wakes: number } | null }) | undefined;
    if (s === undefined || s.mailbox === null) {
      t.fail(`rank ${o.rank} reported mailbox counters`);
      continue;
    }
    t.equal(s.wrong, 0, `rank ${o.rank}: every result equals the serial reference`);
    t.equal(s.dropped, 0, `rank ${o.rank}: no frame dropped`);
    sleeps += s.mailbox.sleeps;
    wakes += s.mailbox.wakes;
    sent += s.mailbox.sent;
  }
  t.ok(sent > 100, `frames went through the mailboxes (${sent})`);
  t.ok(sleeps > 0 && wakes > 0, `ranks slept on their mailboxes (${sleeps}) and were woken by senders (${wakes})`);
});

interface P2PSummary extends Summary {
  misordered: number;
}

t.test('point-to-point frames take the mailbox and ZeroMQ both, and every message arrives whole and in order', { skip }, async (t) => {
  const outs = await runRanks(2, { script: 'test/fixtures/p2p-order-worker.js', args: ['300'], env: { ZCOLL_POLL: 'spin', ZCOLL_TRANSPORT: 'shm' }, killAfterMs: 120_000 });
  const s: P2PSummary[] = [];
  for (const o of outs) {
    t.equal(o.code, 0, `rank ${o.rank} exits 0 ${o.code === 0 ? '' : o.stderr.slice(-1500)}`);
    const r = o.results[0] as P2PSummary | undefined;
    t.ok(r !== undefined, `rank ${o.rank} reported`);
    if (r !== undefined) s.push(r);
  }
  if (s.length !== 2) return;
  for (const r of s) {
    t.equal(r.wrong, 0, `rank ${r.rank}: every value of every message is the one sent`);
    t.equal(r.misordered, 0, `rank ${r.rank}: messages arrived in the order they were sent`);
    t.equal(r.dropped, 0, `rank ${r.rank}: no frame dropped`);
  }
  // Rank 0's mailbox sends include p2p frames (the collectives of init are a handful); and some frames went over ZeroMQ (> 64 KiB).
  t.ok((s[0].mailbox?.sent ?? 0) > 100, `rank 0 sent point-to-point frames through the mailbox (${s[0].mailbox?.sent})`);
  t.equal(s[1].mailbox?.received, s[0].mailbox?.sent, 'rank 1 received every mailbox message of rank 0 exactly once');
});

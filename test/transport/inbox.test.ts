// The Inbox alone, the receive side's trust boundary, with a sink that records what reaches the
// engine: the sender is the one the transport established (a header naming another is dropped and
// counted as forged), frames of another communicator and garbage are dropped, and nothing throws.
// With the native addon: shared-memory references are validated before use (the sender's own
// region, inside its data area, a slot lent right now) and a refused one changes no state word;
// a valid one is lent to the sink as a Frame (frame.ts) and handed back (its state word cleared)
// once the sink is done with it, taken or refused; a sink that keeps it gets a copy, and the slot
// goes back at once; a frame is released exactly once, so a slot never goes back twice.
import t, { type Test as Tap } from 'tap';
import { Packr } from 'msgpackr';
import { Frame, frameStats } from '../../lib/transport/frame.js';
import { Inbox, type DropStats } from '../../lib/transport/inbox.js';
import { SharedMemory } from '../../lib/transport/shared-memory.js';
import { REGION_HEADER_BYTES, regionName, shmSupported, type SlotRef } from '../../lib/transport/shm-region.js';
import { MAILBOX_SLOTS } from '../../lib/transport/shm-mailbox-layout.js';
import { abortHeader, encodeForgedHeader, encodeHeader, mailHeader, PROTOCOL_VERSION, withShm, type DataHeader, type ForgedHeader, type Header } from '../../lib/transport/wire.js';

const EPOCH = 42;
const N = 3;

interface Got {
  src: number;
  header: Header;
  bytes: number[] | undefined;
  /** Whether the payload is the ZeroMQ frame's own memory (no copy). */
  inPlace: boolean;
}

/** An inbox of rank `rank` whose sink records every frame and answers what `answer` says. */
function inboxOf(rank: number, shared?: SharedMemory, answer: (h: Header) => true | string = () => true): { inbox: Inbox; stats: DropStats; got: Got[]; frames: Frame[] } {
  const stats: DropStats = { droppedFrames: 0, lastDropReason: '', forgedFrames: 0 };
  const got: Got[] = [];
  const frames: Frame[] = [];
  const inbox = new Inbox(rank, N, EPOCH, shared, stats, (src, header, payload) => {
    got.push({ src, header, bytes: payload === undefined ? undefined : Array.from(payload.bytes), inPlace: payload !== undefined && payload.bytes === lastPayload });
    if (payload !== undefined) frames.push(payload);
    return answer(header);
  });
  return { inbox, stats, got, frames };
}

/** The payload frame last handed to an inbox (to tell that the sink reads it in place). */
let lastPayload: Buffer | undefined;
const framesOf = (h: Header, payload?: Buffer): Buffer[] => {
  lastPayload = payload;
  return payload === undefined ? [encodeHeader(h)] : [encodeHeader(h), payload];
};

function header(sender: number, extra: Partial<DataHeader> = {}): DataHeader {
  return { kind: 'data', sender, epoch: EPOCH, seq: 0, op: 'allreduce', transfer: 0, segment: 0, dtype: 'int32', count: 2, elements: 2, redop: 'sum', root: -1, ...extra };
}

/** A data header of rank 1 with fields no real header can have (encoded as encodeHeader lays them out). */
const forged = (extra: ForgedHeader): Buffer => encodeForgedHeader({ ...header(1), ...extra });
/** A reference to 4096 bytes of region `region` at 128, for the shapes refused before any memory is touched. */
const shmAt = (region: string, offset = 128) => ({ region, size: 4096, offset, slot: 0, dataStart: 64 });

const payload2 = (): Buffer => Buffer.from(Int32Array.of(5, 6).buffer);

t.test('a frame whose header names another sender than its connection is dropped and counted as forged', async (t) => {
  const { inbox, stats, got, frames } = inboxOf(0);
  inbox.fromSocket(1, [encodeHeader(header(2)), payload2()]);
  t.same(got, [], 'nothing reaches the engine');
  t.equal(stats.forgedFrames, 1, 'counted as forged');
  t.equal(stats.droppedFrames, 1, 'and as dropped');
  t.match(stats.lastDropReason, /claims to come from rank 2/, 'saying who it claimed to be');
  inbox.fromSocket(1, framesOf(header(1), payload2()));
  t.same(got.map((g) => [g.src, g.bytes, g.inPlace]), [[1, [5, 0, 0, 0, 6, 0, 0, 0], true]], 'the same frame with its true sender is delivered, its payload read in place');
  t.equal(stats.forgedFrames, 1, 'and not counted');
  t.ok(frames[0].released, 'the sink did not keep it: released once the sink returned');
});

t.test('a frame of another communicator (epoch) is dropped', async (t) => {
  const { inbox, stats, got } = inboxOf(0);
  inbox.fromSocket(1, [encodeHeader(header(1, { epoch: EPOCH + 1 })), payload2()]);
  t.same(got, [], 'nothing reaches the engine');
  t.equal(stats.droppedFrames, 1, 'dropped');
  t.equal(stats.forgedFrames, 0, 'not as forged: it may be a stale communicator of the same peer');
  t.match(stats.lastDropReason, /another communicator/);
});

t.test('garbage is dropped, counted, and never throws', async (t) => {
  const { inbox, stats, got } = inboxOf(0);
  const raw = new Packr({ useRecords: false });
  const garbage: Array<{ what: string; frames: Buffer[] }> = [
    { what: 'no frame', frames: [] },
    { what: 'three frames', frames: [encodeHeader(header(1)), payload2(), payload2()] },
    { what: 'not msgpack', frames: [Buffer.from([0xc1, 0xc1, 0xc1])] },
    { what: 'empty header', frames: [Buffer.alloc(0)] },
    { what: 'a msgpack array', frames: [raw.pack([1, 2, 3])] },
    { what: 'the map of protocol version 1', frames: [raw.pack({ v: 1, k: 'data', src: 1, ep: EPOCH, seq: 0, op: 'allreduce', x: 0, s: 0, dt: 'int32', n: 2, c: 2, ro: 'sum', root: -1, tag: 0 }), payload2()] },
    { what: 'a msgpack string', frames: [raw.pack('data')] },
    { what: 'another protocol version', frames: [forged({ version: PROTOCOL_VERSION + 1 }), payload2()] },
    { what: 'an unknown kind', frames: [forged({ kind: 'evil' }), payload2()] },
    { what: 'a sender outside the world', frames: [encodeHeader(header(7)), payload2()] },
    { what: 'a negative sequence number', frames: [encodeHeader(header(1, { seq: -1 })), payload2()] },
    { what: 'a payload shorter than the header says', frames: [encodeHeader(header(1, { elements: 3 })), payload2()] },
    { what: 'a payload and no element type', frames: [encodeHeader(header(1, { dtype: '' })), payload2()] },
    { what: 'an element count over the cap', frames: [encodeHeader(header(1, { elements: 2 ** 40 })), payload2()] },
    { what: 'an unknown dtype', frames: [forged({ dtype: 'bool' }), payload2()] },
    { what: 'an abort without a message', frames: [forged({ kind: 'abort' })] },
    { what: 'an abort naming a rank outside the world', frames: [encodeHeader(abortHeader(1, EPOCH, 0, 'allreduce', 'EMISMATCH', 'x', 9))] },
    { what: 'a bad region name', frames: [encodeHeader(withShm(header(1), shmAt('../../etc/passwd')))] },
    { what: 'a reference with a payload frame too', frames: [encodeHeader(withShm(header(1), shmAt(regionName(EPOCH, 1)))), payload2()] },
    { what: 'a reference past its region', frames: [encodeHeader(withShm(header(1), shmAt(regionName(EPOCH, 1), 4095)))] },
    { what: 'a hello where a message is expected', frames: [Buffer.alloc(44, 0x5a)] },
  ];
  for (const g of garbage) {
    const before = stats.droppedFrames;
    t.doesNotThrow(() => inbox.fromSocket(1, g.frames), `${g.what}: does not throw`);
    t.equal(stats.droppedFrames, before + 1, `${g.what}: dropped and counted (${stats.lastDropReason})`);
  }
  // A well-formed reference, but this rank shares no memory with anyone.
  t.doesNotThrow(() => inbox.fromSocket(1, [encodeHeader(withShm(header(1), shmAt(regionName(EPOCH, 1))))]));
  t.match(stats.lastDropReason, /shares no memory/, 'a reference without shared memory is dropped');
  // A doorbell without mailboxes drains nothing.
  t.doesNotThrow(() => inbox.fromSocket(1, [encodeHeader(mailHeader(1, EPOCH))]), 'a doorbell without shared memory is harmless');
  t.same(got, [], 'none of it reached the engine');
  t.equal(stats.forgedFrames, 0, 'none of it counted as forged');
});

t.test('a frame the sink refuses is counted with the sink\'s reason', async (t) => {
  const { inbox, stats, got } = inboxOf(0, undefined, () => 'late frame for allreduce #0');
  inbox.fromSocket(1, [encodeHeader(header(1)), payload2()]);
  t.equal(got.length, 1, 'the sink saw it');
  t.equal(stats.droppedFrames, 1, 'counted as dropped');
  t.equal(stats.lastDropReason, 'late frame for allreduce #0', "with the sink's reason");
});

// ------------------------------------------------------------------ shared memory

const skip = shmSupported() ? false : 'the native addon (shared memory) is not built';

t.test('shared-memory references: validated before use, handed back once used', { skip }, async (t) => {
  // Three ranks on this host, each with its region; rank 1's inbox is tested.
  const epoch = 910_000_000 + (process.pid % 100_000);
  const segmentBytes = 4096;
  const shm = [0, 1, 2].map((r) => SharedMemory.open('shm', epoch, r, [0, 1, 2].filter((p) => p !== r), segmentBytes)!);
  t.teardown(() => shm.forEach((s) => s.close()));
  for (const s of shm) s.attachPeers();
  let answer: true | string = true;
  const stats: DropStats = { droppedFrames: 0, lastDropReason: '', forgedFrames: 0 };
  const got: Got[] = [];
  const inbox = new Inbox(1, N, epoch, shm[1], stats, (src, h, payload) => {
    // In place: during the call the slot is still lent, and the payload is a view of rank 0's region.
    got.push({ src, header: h, bytes: payload === undefined ? undefined : Array.from(payload.bytes), inPlace: payload !== undefined && payload.bytes.buffer === shm[1].peers.mapped(name0)?.buffer && stateOf(ref) === 1 });
    return answer;
  });
  const out0 = shm[0].region;
  /** The state word of slot `ref.state` in rank 0's region, read from its own mapping. */
  const stateOf = (ref: SlotRef): number => {
    const buf = out0.mapped!;
    return Atomics.load(new Int32Array(buf, REGION_HEADER_BYTES, (ref.dataStart - REGION_HEADER_BYTES) >>> 2), ref.state);
  };
  /** Marks the slot lent again, as its owner does when it puts the next payload there. */
  const setState = (ref: SlotRef, v: number): void => {
    Atomics.store(new Int32Array(out0.mapped!, REGION_HEADER_BYTES, (ref.dataStart - REGION_HEADER_BYTES) >>> 2), ref.state, v);
  };
  const refHeader = (src: number, name: string, ref: SlotRef, bytes: number): Header =>
    withShm(header(src, { epoch, dtype: 'int32', count: bytes / 4, elements: bytes / 4 }), { region: name, size: ref.size, offset: ref.offset, slot: ref.state, dataStart: ref.dataStart });
  const send = (src: number, h: Header): void => inbox.fromSocket(src, [encodeHeader(h)]);
  const name0 = regionName(epoch, 0);

  const ref: SlotRef = (await out0.put(1, new Uint8Array(Int32Array.of(11, 22).buffer)))!;
  t.ok(ref !== undefined, 'rank 0 lent a slot to rank 1');
  t.equal(stateOf(ref), 1, 'its state word says lent');

  const refusals: Array<{ what: string; src: number; h: Header; reason: RegExp }> = [
    { what: "a reference naming another rank's region", src: 2, h: refHeader(2, name0, ref, 8), reason: /not one of its own/ },
    { what: 'a reference before the data area (its own dataStart lied about)', src: 0, h: refHeader(0, name0, { ...ref, offset: 64, dataStart: 0 }, 8), reason: /data area/ },
    { what: 'a reference past the data area (into the mailboxes)', src: 0, h: refHeader(0, name0, { ...ref, offset: out0.mailboxStart }, 8), reason: /data area/ },
    { what: 'a reference with another region size', src: 0, h: refHeader(0, name0, { ...ref, size: ref.size + 4096 }, 8), reason: /data area/ },
    { what: 'a reference to a state word beyond the table', src: 0, h: refHeader(0, name0, { ...ref, state: 1 << 20 }, 8), reason: /no state word/ },
  ];
  for (const r of refusals) {
    const before = stats.droppedFrames;
    t.doesNotThrow(() => send(r.src, r.h), `${r.what}: does not throw`);
    t.equal(stats.droppedFrames, before + 1, `${r.what}: dropped`);
    t.match(stats.lastDropReason, r.reason, `${r.what}: ${stats.lastDropReason}`);
    t.equal(stateOf(ref), 1, `${r.what}: the lent slot's state word is unchanged`);
  }
  t.same(got, [], 'no refused reference reached the engine');

  // A slot rank 0 does not lend right now (state word 0): a stale or forged reference.
  const free: SlotRef = { ...ref, state: ref.state + 1, offset: ref.offset + segmentBytes };
  t.equal(stateOf(free), 0, 'the next slot is free');
  send(0, refHeader(0, name0, free, 8));
  t.match(stats.lastDropReason, /not lent/, 'a reference to a slot that is not lent is refused');
  t.equal(stateOf(free), 0, 'its state word stays 0 (nothing was "released" into a slot in use)');
  t.equal(stateOf(ref), 1, 'and the lent slot is untouched');

  // The valid reference, refused by the engine (a late or surplus segment): the engine is done with
  // it all the same, so the slot goes back to its sender, whose lane would otherwise fill up.
  answer = 'late frame for allreduce #0';
  send(0, refHeader(0, name0, ref, 8));
  t.same(got.map((g) => [g.src, g.bytes, g.inPlace]), [[0, [11, 0, 0, 0, 22, 0, 0, 0], true]], "the sink read the payload in place, in rank 0's slot, still lent during the call");
  t.equal(stateOf(ref), 0, 'refused by the sink: handed back all the same');
  t.equal(stats.lastDropReason, 'late frame for allreduce #0', "counted with the sink's reason");

  // Lent again and taken: handed back, so the sender can reuse the slot.
  setState(ref, 1);
  answer = true;
  send(0, refHeader(0, name0, ref, 8));
  t.equal(got.length, 2, 'delivered again');
  t.equal(stateOf(ref), 0, 'taken by the sink: the slot is handed back (state word 0)');

  // A reference replayed after its slot was handed back is stale now.
  const before = got.length;
  send(0, refHeader(0, name0, ref, 8));
  t.equal(got.length, before, 'a replayed reference to a released slot does not reach the engine');
  t.match(stats.lastDropReason, /not lent/);
  t.equal(stats.forgedFrames, 0, 'none of these was a forged sender (the connection matched the header)');
});

// ------------------------------------------------------------------ frame lifetime (keep / release)

/** Ranks 0 and 1 of one host with their regions mapped both ways; rank 1's inbox hands each payload to `sink`. */
function shmPair(t: Tap, epoch: number, sink: (f: Frame) => void): { out0: SharedMemory['region']; shm: SharedMemory[]; inbox: Inbox; stats: DropStats; stateOf: (r: SlotRef) => number; send: (ref: SlotRef, bytes: number) => void } {
  const shm = [0, 1].map((r) => SharedMemory.open('shm', epoch, r, [1 - r], 4096)!);
  t.teardown(() => shm.forEach((s) => s.close()));
  for (const s of shm) s.attachPeers();
  const stats: DropStats = { droppedFrames: 0, lastDropReason: '', forgedFrames: 0 };
  const inbox = new Inbox(1, 2, epoch, shm[1], stats, (_src, _h, payload) => {
    if (payload !== undefined) sink(payload);
    return true;
  });
  const out0 = shm[0].region;
  const stateOf = (r: SlotRef): number => Atomics.load(new Int32Array(out0.mapped!, REGION_HEADER_BYTES, (r.dataStart - REGION_HEADER_BYTES) >>> 2), r.state);
  const send = (r: SlotRef, bytes: number): void =>
    inbox.fromSocket(0, [encodeHeader(withShm(header(0, { epoch, dtype: 'int32', count: bytes / 4, elements: bytes / 4 }), { region: regionName(epoch, 0), size: r.size, offset: r.offset, slot: r.state, dataStart: r.dataStart }))]);
  return { out0, shm, inbox, stats, stateOf, send };
}

const int32Bytes = (...v: number[]): Uint8Array => new Uint8Array(Int32Array.from(v).buffer);

t.test('a kept shared-memory frame is a copy: the slot goes back at once, and its reuse leaves the kept bytes unchanged', { skip }, async (t) => {
  let kept: Frame | undefined;
  const copiesBefore = frameStats.copies;
  const { out0, stateOf, send } = shmPair(t, 911_000_000 + (process.pid % 100_000), (f) => {
    kept ??= f.keep();
  });
  const ref = (await out0.put(1, int32Bytes(1, 2, 3, 4)))!;
  send(ref, 16);
  t.ok(kept !== undefined && !kept.released, 'the sink kept the frame');
  t.equal(frameStats.copies - copiesBefore, 1, 'keeping a lent slot made one copy');
  t.equal(stateOf(ref), 0, 'and handed the slot back at once (its sender may reuse it while the copy is held)');
  const again = (await out0.put(1, int32Bytes(-9, -9, -9, -9)))!;
  t.equal(again.offset, ref.offset, 'the sender reused the same slot for its next payload');
  t.same(Array.from(new Int32Array(Uint8Array.from(kept!.bytes).buffer)), [1, 2, 3, 4], 'the kept bytes are unchanged');
  kept!.release();
  t.equal(stateOf(again), 1, "releasing the kept copy does not touch the slot (its new payload is the sender's)");
  t.equal(kept!.bytes.byteLength, 0, 'a released frame reads as empty');
});

t.test('release is exactly once: a second release never hands a slot back again', { skip }, async (t) => {
  let frame: Frame | undefined;
  const { out0, stateOf, send } = shmPair(t, 912_000_000 + (process.pid % 100_000), (f) => {
    frame = f;
    f.release(); // done with the bytes during the call, as the executor is after a reduce
  });
  const doubleBefore = frameStats.doubleReleases;
  const ref = (await out0.put(1, int32Bytes(5, 6)))!;
  send(ref, 8);
  t.equal(stateOf(ref), 0, 'released during the call: the slot went back');
  t.equal(frameStats.doubleReleases, doubleBefore, "the inbox's release after the call is not a second one (the frame was released already)");
  const again = (await out0.put(1, int32Bytes(7, 8)))!;
  t.equal(again.state, ref.state, 'the sender lent the same slot again');
  t.equal(stateOf(again), 1, 'it is lent');
  frame!.release();
  t.equal(stateOf(again), 1, 'a second release of the old frame does not hand the slot back (the new payload stays valid)');
  t.equal(frameStats.doubleReleases, doubleBefore + 1, 'it is counted');
  t.throws(() => frame!.keep(), /kept after it was released/, 'keeping a released frame is refused');
});

t.test('a mailbox frame kept by the sink is a copy that survives the lane slots being reused', { skip }, async (t) => {
  const kept: Frame[] = [];
  const epoch = 913_000_000 + (process.pid % 100_000);
  const { shm, inbox, stats } = shmPair(t, epoch, (f) => {
    if (kept.length === 0) kept.push(f.keep());
  });
  shm[1].mailbox.startPolling();
  const head = (i: number): Buffer => encodeHeader(header(0, { epoch, segment: i, dtype: 'int32', count: 2, elements: 2 }));
  for (let i = 0; i <= 2 * MAILBOX_SLOTS; i++) {
    t.equal(shm[0].mailbox.trySend(1, head(i), int32Bytes(i + 100, i + 200)), 'sent');
    inbox.drainMail();
  }
  t.equal(stats.droppedFrames, 0, 'every message was taken');
  t.same(Array.from(new Int32Array(Uint8Array.from(kept[0].bytes).buffer)), [100, 200], 'the first payload, kept, is intact after every slot of the lane was reused');
  kept[0].release();
});

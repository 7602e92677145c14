// The outbox's promise about 'volatile' payloads (FrameSender.send, op-queue.ts): a caller may change
// the bytes as soon as send() returns, so whatever way reads them later (a socket, a chain behind a
// fault seam) reads a copy taken at the call; a payload that is not volatile is sent as it is, without
// a copy (zero-copy sends of big chunks rely on that).
import t from 'tap';
import type { Link } from '../../lib/transport/link.js';
import { Outbox } from '../../lib/transport/outbox.js';
import { dataHeader, decodeMessage } from '../../lib/transport/wire.js';

/** A link that keeps what it was given, to be read later (as ZeroMQ reads a view after send resolved). */
function keepingLink(peer: number): Link & { frames: Array<ReadonlyArray<Uint8Array>> } {
  const frames: Array<ReadonlyArray<Uint8Array>> = [];
  return { peer, kind: 'ipc', frames, send: async (f) => void frames.push(f), close: () => undefined };
}

const header = dataHeader(0, 1, 0, { op: 'allreduce', dtype: 'float32', count: 4, redop: 'sum', root: -1 }, 0, 0, 4);

t.test('a volatile payload is copied at the call; a plain one is sent as the caller\'s view', async (t) => {
  const link = keepingLink(1);
  const outbox = new Outbox(new Map([[1, link]]));
  const a = Float32Array.of(1, 2, 3, 4);
  const b = Float32Array.of(5, 6, 7, 8);
  await outbox.send(1, header, new Uint8Array(a.buffer), true);
  await outbox.send(1, header, new Uint8Array(b.buffer), false);
  a.fill(-1); // the caller reuses its buffers at once
  b.fill(-1);
  const got = link.frames.map((f) => {
    const m = decodeMessage(f.map((x) => Buffer.from(x.buffer, x.byteOffset, x.byteLength)), 2);
    if (!m.ok || m.payload === undefined) throw new Error('not a data frame with a payload');
    return Array.from(new Float32Array(m.payload.buffer.slice(m.payload.byteOffset, m.payload.byteOffset + m.payload.byteLength)));
  });
  t.same(got[0], [1, 2, 3, 4], 'the volatile payload went out as it was at the call');
  t.same(got[1], [-1, -1, -1, -1], 'the plain payload is the caller\'s own memory (read later, as ZeroMQ does): no copy was made');
});

t.test('a volatile payload held behind a fault seam is the copy too', async (t) => {
  const link = keepingLink(1);
  const outbox = new Outbox(new Map([[1, link]]));
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  outbox.setFaultSeam(async (m) => {
    await gate; // a straggler: the message waits while the caller goes on
    return m;
  });
  const a = Float32Array.of(9, 9, 9, 9);
  const sent = outbox.send(1, header, new Uint8Array(a.buffer), true);
  a.fill(0);
  release();
  await sent;
  const f = link.frames[0];
  t.same(Array.from(new Float32Array(f[1].buffer.slice(f[1].byteOffset, f[1].byteOffset + f[1].byteLength))), [9, 9, 9, 9], 'what waited was the copy taken at the call');
});

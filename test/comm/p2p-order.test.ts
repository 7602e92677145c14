// Point-to-point frames are put back in their sender's order before recv() sees them (p2p.ts): a
// frame that overtook older ones (it came through the mailbox while they were still in ZeroMQ's
// queue) waits for them; a repeated frame, a frame that comes twice, and a sender that leaves more
// than MAX_FRAMES_AHEAD holes are refused, named, and cost nothing. The multi-process test of both
// ways at once is in test/transport/shm-mailbox.test.ts.
import t from 'tap';
import { PointToPoint, MAX_FRAMES_AHEAD } from '../../lib/comm/p2p.js';
import { Frame, frameStats } from '../../lib/transport/frame.js';
import { p2pHeader } from '../../lib/transport/wire.js';

function endpoint(): PointToPoint {
  return new PointToPoint({
    rank: 1,
    epoch: 3,
    segmentBytes: 8, // two float32 per segment: a 5-element message has 3 segments
    outbox: { send: () => Promise.resolve() },
    assertUsable: () => undefined,
    gone: () => undefined,
    spins: () => false,
    wait: () => undefined,
    attach: () => undefined,
  });
}

/** Hands a frame to `p` as the inbox does: lent for the call, released after unless kept. */
function give(p: PointToPoint, [h, f]: [ReturnType<typeof p2pHeader>, Frame]): true | string {
  try {
    return p.take(0, h, f);
  } finally {
    f.afterDelivery();
  }
}

/** Frame `segment` of message `seq` from rank 0: a 5-element float32 message whose values name (seq, element). */
function frame(seq: number, segment: number): [ReturnType<typeof p2pHeader>, Frame] {
  const first = segment * 2;
  const n = Math.min(2, 5 - first);
  const values = Float32Array.from({ length: n }, (_, k) => seq * 10 + first + k);
  return [p2pHeader(0, 3, seq, 4, 'float32', 5, 3, segment, n), Frame.owned(Buffer.from(values.buffer))];
}

t.test('frames that overtook older ones wait for them: recv() gets messages whole and in order', async (t) => {
  const p = endpoint();
  // Message 1 entirely, then message 0's segments last one first.
  for (const [seq, seg] of [[1, 0], [1, 2], [1, 1], [0, 2], [0, 1]] as const) t.equal(give(p, frame(seq, seg)), true, `message ${seq} segment ${seg} held`);
  let settled = false;
  const first = p.recv(new Float32Array(5), 0, 4, 1000, 'recv').then((a) => ((settled = true), a));
  await new Promise((r) => setImmediate(r));
  t.notOk(settled, 'recv() waits: message 0 is not whole yet');
  t.equal(give(p, frame(0, 0)), true, 'the frame that was missing');
  t.same(Array.from(await first), [0, 1, 2, 3, 4], 'message 0 first');
  t.same(Array.from(await p.recv(new Float32Array(5), 0, 4, 1000, 'recv')), [10, 11, 12, 13, 14], 'then message 1');
});

t.test('a repeated frame, a frame that comes twice and a sender with too many holes are refused and named', async (t) => {
  const p = endpoint();
  const live = frameStats.live;
  t.equal(give(p, frame(0, 0)), true);
  t.match(give(p, frame(0, 0)), /rank 0 \(message 0, segment 0\) repeats one already received/, 'a frame already taken');
  t.equal(give(p, frame(2, 1)), true, 'early: held');
  t.match(give(p, frame(2, 1)), /rank 0 \(message 2, segment 1\) came twice/, 'an early frame twice');
  let refused: string | true = true;
  for (let seq = 3; seq < 3 + MAX_FRAMES_AHEAD && refused === true; seq++) refused = give(p, frame(seq, 0));
  t.match(refused, new RegExp(`more than ${MAX_FRAMES_AHEAD} frames ahead of the one expected \\(message 0, segment 1\\)`), 'holes beyond the cap');
  p.close();
  t.equal(frameStats.live, live, 'every held frame was released on close');
});

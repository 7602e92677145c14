// lib/transport/frame.ts alone: a received payload's lifetime. A ZeroMQ buffer is kept without a
// copy and freed on release; a lent view is copied on keep() and handed back exactly once (at keep,
// or at release); a frame nobody kept is released after its delivering call; a second release is
// counted and changes nothing; a released pooled copy is reused for the next keep of its size.
import t from 'tap';
import { Frame, frameStats } from '../../lib/transport/frame.js';
import { markReceived } from '../../lib/transport/frame-release.js';
import { nativeLoad } from '../../lib/kernels/native.js';

/** A lent view and a count of how often it was handed back. */
function lentView(bytes: number[]): { frame: Frame; view: Buffer; handedBack: () => number } {
  const view = Buffer.from(bytes);
  let n = 0;
  const frame = Frame.lent(view, () => {
    n++;
    view.fill(0xee); // its owner reuses it
  });
  return { frame, view, handedBack: () => n };
}

t.test('a lent view: read in place during the call; kept, it is copied and handed back at once, exactly once', async (t) => {
  const { frame, view, handedBack } = lentView([1, 2, 3, 4]);
  t.equal(frame.bytes, view, 'during the call the bytes are the view itself (no copy)');
  const copies = frameStats.copies;
  t.equal(frame.keep(), frame, 'keep() returns the frame');
  t.equal(frameStats.copies - copies, 1, 'one copy');
  t.equal(handedBack(), 1, 'the view went back at keep()');
  t.same([...frame.bytes], [1, 2, 3, 4], 'the kept bytes survive the owner reusing the view');
  frame.keep();
  t.equal(frameStats.copies - copies, 1, 'keeping again copies nothing more');
  frame.afterDelivery();
  t.notOk(frame.released, 'a kept frame is not released when its delivering call returns');
  frame.release();
  t.equal(handedBack(), 1, 'its release does not hand the view back a second time');
  t.equal(frame.bytes.byteLength, 0, 'a released frame reads as empty');
  t.equal(frame.byteLength, 4, 'its length is still known');
});

t.test('a lent view nobody kept is handed back after the call; a second release is counted and does nothing', async (t) => {
  const { frame, handedBack } = lentView([5, 6]);
  frame.afterDelivery();
  t.ok(frame.released, 'released after the call');
  t.equal(handedBack(), 1, 'handed back once');
  const doubles = frameStats.doubleReleases;
  frame.release();
  frame.afterDelivery();
  t.equal(handedBack(), 1, 'never twice');
  t.equal(frameStats.doubleReleases - doubles, 1, 'the explicit second release is counted (afterDelivery on a released frame is not)');
  t.throws(() => frame.keep(), { code: 'EINTERNAL' }, 'a released frame cannot be kept');
});

t.test('an owned (ZeroMQ) buffer is kept without a copy, and released frees it', { skip: nativeLoad.loaded ? false : 'the native addon is not built' }, async (t) => {
  const zmqLike = Buffer.alloc(4096, 7); // over zeromq.js's copy threshold, spans its ArrayBuffer
  markReceived([zmqLike]);
  const frame = Frame.owned(zmqLike);
  const copies = frameStats.copies;
  frame.keep();
  t.equal(frame.bytes, zmqLike, 'kept in place');
  t.equal(frameStats.copies, copies, 'no copy');
  frame.release();
  t.equal(zmqLike.byteLength, 0, 'released: its memory is freed at once (the buffer is detached)');
});

t.test('a kept frame handed on (early frames replayed) is lent again: released after the call unless kept anew', async (t) => {
  const { frame } = lentView([9]);
  frame.keep();
  frame.lend();
  frame.afterDelivery();
  t.ok(frame.released, 'not kept by the new call: released after it');
  const second = lentView([8]).frame.keep();
  second.lend();
  second.keep();
  second.afterDelivery();
  t.notOk(second.released, 'kept by the new call: its owner now releases it');
  second.release();
});

t.test('a released copy is reused for the next keep of the same size (no fresh buffer per segment)', async (t) => {
  const a = lentView(new Array(1000).fill(1)).frame.keep();
  const first = a.bytes.buffer;
  a.release();
  const b = lentView(new Array(1000).fill(2)).frame.keep();
  t.equal(b.bytes.buffer, first, 'the same buffer');
  t.same([...b.bytes.subarray(0, 3)], [2, 2, 2], 'holding the new bytes');
  b.release();
});

t.test('live frames: a frame counts from its making to its release', async (t) => {
  const before = frameStats.live;
  const f = lentView([1]).frame;
  t.equal(frameStats.live - before, 1);
  f.release();
  f.release();
  t.equal(frameStats.live, before, 'once, whatever the number of releases');
});

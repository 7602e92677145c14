// lib/transport/frame-release.ts: only frames marked as received from ZeroMQ, spanning their whole
// ArrayBuffer and larger than zeromq.js's copy threshold, are detached by releaseFrame; anything
// else (a slice, a small frame, an unmarked buffer, a shared-memory mapping) is left alone.
import t from 'tap';
import { markReceived, releaseFrame, releasedFrames } from '../../lib/transport/frame-release.js';
import { nativeLoad, shmAvailable, shmMap, shmUnlink, shmUnmap } from '../../lib/kernels/native.js';

t.test('releases marked whole-buffer frames only', { skip: nativeLoad.loaded ? false : `native addon not built: ${nativeLoad.reason}` }, async (t) => {
  const frame = Buffer.from(new ArrayBuffer(4096));
  frame.fill(7);
  const small = Buffer.from(new ArrayBuffer(128));
  const whole = new ArrayBuffer(8192);
  const slice = Buffer.from(whole, 1024, 2048);
  const unmarked = Buffer.from(new ArrayBuffer(4096));
  markReceived([frame, small, slice]);
  const before = releasedFrames();
  releaseFrame(frame);
  t.equal(frame.byteLength, 0, 'a marked frame is detached (its memory is released now)');
  t.equal(releasedFrames() - before, 1, 'and counted');
  releaseFrame(frame);
  t.equal(releasedFrames() - before, 1, 'releasing it again does nothing');
  for (const [name, b, length] of [['a frame of <= 128 bytes (zeromq.js copies those)', small, 128], ['a slice of a larger buffer', slice, 2048], ['an unmarked buffer', unmarked, 4096]] as const) {
    releaseFrame(b);
    t.equal(b.byteLength, length, `${name} is left alone`);
  }
  releaseFrame(undefined);
  t.equal(releasedFrames() - before, 1, 'nothing else was released');
});

t.test('a shared-memory mapping is never released, even if it were passed in', { skip: shmAvailable() ? false : 'no POSIX shared memory here' }, async (t) => {
  const name = `/zcoll-frame-release-${process.pid}`;
  try {
    const ab = shmMap(name, 4096, true);
    const view = Buffer.from(ab);
    releaseFrame(view);
    t.equal(view.byteLength, 4096, 'an unmarked mapping keeps its pages');
    shmUnmap(ab);
  } finally {
    shmUnlink(name);
  }
});

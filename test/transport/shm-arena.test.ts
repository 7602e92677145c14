// Registered buffers (shm-arena.ts): a buffer lives in a shared-memory region a peer maps and reads
// in place; a reference holds a ticket until the peer releases it, the owner's wait for its tickets
// times out naming the peer that holds one, and regions of a dead owner are removed by the next
// start's crash recovery, as the main regions are.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { arenaName, isRegionOf, SharedArenas, TICKETS_PER_PEER } from '../../lib/transport/shm-arena.js';
import { InRegions, regionName, removeStaleRegions, shmSupported } from '../../lib/transport/shm-region.js';
import { dataHeader, decodeMessage, encodeHeader, withShm } from '../../lib/transport/wire.js';
import { isZcollError } from '../../lib/errors.js';
import { DIST } from '../helpers/ranks.js';

const skip = shmSupported() ? false : 'the native addon (shared memory) is not built';

t.test('names: a rank accepts references only into its peer\'s own regions', async (t) => {
  t.ok(isRegionOf(regionName(7, 2), 7, 2));
  t.ok(isRegionOf(arenaName(7, 2, 0), 7, 2));
  t.ok(isRegionOf(arenaName(7, 2, 31), 7, 2));
  t.notOk(isRegionOf(arenaName(7, 3, 0), 7, 2), 'another rank');
  t.notOk(isRegionOf(arenaName(8, 2, 0), 7, 2), 'another communicator');
  t.notOk(isRegionOf(`${regionName(7, 2)}-x`, 7, 2));
  t.notOk(isRegionOf(`${regionName(7, 2)}-`, 7, 2));
  // The wire format accepts the same names and nothing looser.
  const base = dataHeader(1, 7, 1, { op: 'allreduce', dtype: 'float32', count: 4, redop: 'sum', root: -1 }, 0, 0, 4);
  const ref = { size: 4096, offset: 1024, slot: 0, dataStart: 1024 };
  t.ok(decodeMessage([Buffer.from(encodeHeader(withShm(base, { ...ref, region: arenaName(7, 1, 3) })))], 4).ok);
  t.notOk(decodeMessage([Buffer.from(encodeHeader(withShm(base, { ...ref, region: `${arenaName(7, 1, 3)}/../x` })))], 4).ok);
});

t.test('a registered buffer is read in place by a peer; its ticket comes back on release', { skip }, async (t) => {
  const epoch = 920_000_000 + (process.pid % 1000);
  const owner = new SharedArenas(epoch, 0, [1, 2]);
  t.teardown(() => owner.close());
  const a = owner.allocate('float32', 1000) as Float32Array;
  t.equal(a.length, 1000);
  t.ok(a.every((v) => v === 0), 'zeroed');
  const name = arenaName(epoch, 0, 0);
  t.ok(existsSync(`/dev/shm/${name}`), 'its region exists under /dev/shm');
  for (let i = 0; i < a.length; i++) a[i] = i * 0.5;
  const seg = new Uint8Array(a.buffer, a.byteOffset + 400, 800); // elements 100..299
  t.ok(owner.holds(1, seg) && owner.holds(2, seg), 'shareable with same-host peers');
  t.notOk(owner.holds(3, seg), 'not with a peer it has no lane for');
  t.notOk(owner.holds(1, new Uint8Array(800)), 'an ordinary array is not registered');
  const shared = await owner.share(1, seg);
  t.ok(shared !== undefined);
  t.equal(shared!.name, name);
  t.same(owner.holders(), [1], 'rank 1 holds a ticket until it releases it');
  const peer = new InRegions();
  t.teardown(() => peer.close());
  const view = peer.view(shared!.name, shared!.ref, 800);
  if (typeof view === 'string') throw new Error(`the peer cannot read the buffer: ${view}`);
  const floats = new Float32Array(view.buffer, view.byteOffset, 200);
  t.equal(floats[0], 50, 'the peer sees the owner\'s bytes, no copy');
  a[100] = 123; // ... the very memory: a later write shows through
  t.equal(floats[0], 123);
  peer.release(shared!.name, shared!.ref);
  t.same(owner.holders(), [], 'released');
  await owner.returned(Date.now() + 1000, 'allreduce');
  // Tickets are reused once released: many shares never wait forever.
  for (let i = 0; i < 3 * TICKETS_PER_PEER; i++) {
    const s = await owner.share(2, seg);
    peer.release(s!.name, s!.ref);
  }
  t.same(owner.holders(), []);
});

t.test('a peer that keeps a ticket past the deadline is named (ETIMEDOUT)', { skip }, async (t) => {
  const epoch = 930_000_000 + (process.pid % 1000);
  const owner = new SharedArenas(epoch, 0, [1, 2]);
  t.teardown(() => owner.close());
  const a = owner.allocate('int32', 64);
  await owner.share(2, new Uint8Array(a.buffer, a.byteOffset, 64));
  const started = Date.now();
  try {
    await owner.returned(Date.now() + 50, 'allreduce');
    t.fail('returned() resolved while rank 2 held a ticket');
  } catch (e) {
    t.ok(isZcollError(e) && e.code === 'ETIMEDOUT', String(e));
    t.match((e as Error).message, /rank 2 did not release/);
    t.ok(Date.now() - started < 2000, 'bounded wait');
  }
});

t.test('free and close detach the buffer and remove its region', { skip }, async (t) => {
  const epoch = 940_000_000 + (process.pid % 1000);
  const owner = new SharedArenas(epoch, 1, [0]);
  const a = owner.allocate('float64', 10);
  const b = owner.allocate('float64', 10);
  t.notOk(owner.free(new Float64Array(10)), 'not a registered buffer');
  t.ok(owner.free(a));
  t.equal(a.length, 0, 'detached: JS can no longer touch unmapped memory');
  t.notOk(existsSync(`/dev/shm/${arenaName(epoch, 1, 0)}`));
  t.notOk(owner.free(a), 'freed once');
  owner.close();
  t.equal(b.length, 0);
  t.notOk(existsSync(`/dev/shm/${arenaName(epoch, 1, 1)}`));
  t.throws(() => owner.allocate('float32', 1), { code: 'ECLOSED' });
});

t.test('crash recovery removes the registered buffers of a dead process', { skip }, async (t) => {
  const epoch = 950_000_000 + (process.pid % 1000);
  const script = `
    const { SharedArenas } = await import(${JSON.stringify(join(DIST, 'lib', 'transport', 'shm-arena.js'))});
    new SharedArenas(${epoch}, 3, [0]).allocate('float32', 1024);
    console.log('made');
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => void child.kill('SIGKILL'));
  await new Promise<void>((resolve) => child.stdout.on('data', () => resolve()));
  child.kill('SIGKILL');
  await new Promise((resolve) => child.on('close', resolve));
  const dead = `/dev/shm/${arenaName(epoch, 3, 0)}`;
  t.ok(existsSync(dead), 'the dead process left its buffer behind');
  const live = new SharedArenas(epoch, 4, [0]);
  t.teardown(() => live.close());
  live.allocate('float32', 16);
  t.ok(removeStaleRegions() >= 1);
  t.notOk(existsSync(dead), 'removed');
  t.ok(existsSync(`/dev/shm/${arenaName(epoch, 4, 0)}`), 'a live owner\'s buffer stays');
});

// The shared-memory regions of the same-host fast path: a region is removed when its owner closes
// it, one left by a process that died is removed by the next start's crash recovery, and a live
// owner's region is never touched; a payload takes the lowest free slot of its lane, so a lane that
// carries one message at a time keeps using the same (already mapped) slot.
import { spawn } from 'node:child_process';
import { chownSync, existsSync } from 'node:fs';
import { processStartTime } from '../../lib/process/owner.js';
import { shmMap, shmUnlink, shmUnmap } from '../../lib/kernels/native.js';
import { join } from 'node:path';
import t from 'tap';
import { shmSupported, OutRegion, InRegions, removeStaleRegions, regionName, slotsPerPeer, SLOT_BYTES_PER_PEER } from '../../lib/transport/shm-region.js';
import { DIST } from '../helpers/ranks.js';

const skip = shmSupported() ? false : 'the native addon (shared memory) is not built';

t.test('a region is written by its owner, read and released by a peer, removed on close', { skip }, async (t) => {
  const epoch = 900_000_000 + (process.pid % 1000);
  const out = new OutRegion(epoch, 0, [1], 4096);
  t.teardown(() => out.close());
  t.ok(existsSync(`/dev/shm/${out.name}`), 'the region exists under /dev/shm');
  const ref = await out.put(1, Uint8Array.from([1, 2, 3, 4]));
  t.ok(ref !== undefined);
  const peer = new InRegions();
  t.teardown(() => peer.close());
  const view = peer.view(regionName(epoch, 0), ref!, 4);
  t.same(typeof view === 'string' ? view : Array.from(view), [1, 2, 3, 4], 'the peer reads the bytes in place');
  peer.release(regionName(epoch, 0), ref!);
  // All slots can be reused once released: a put never waits forever.
  for (let i = 0; i < 20; i++) {
    const r = await out.put(1, Uint8Array.of(i));
    peer.release(regionName(epoch, 0), r!);
  }
  out.close();
  t.notOk(existsSync(`/dev/shm/${out.name}`), 'close() unlinks it');
});

t.test('a payload takes the lowest free slot of its lane', { skip }, async (t) => {
  const epoch = 905_000_000 + (process.pid % 1000);
  const out = new OutRegion(epoch, 0, [1, 2], 4096);
  t.teardown(() => out.close());
  const peer = new InRegions();
  t.teardown(() => peer.close());
  const name = regionName(epoch, 0);
  const SLOTS_PER_PEER = slotsPerPeer(4096);
  t.equal(SLOTS_PER_PEER, 8, 'small segments: 8 slots per peer');
  // One message at a time: the same slot every time (not SLOTS_PER_PEER cold slots in turn).
  const offsets = new Set<number>();
  for (let i = 0; i < 3 * SLOTS_PER_PEER; i++) {
    const ref = (await out.put(1, Uint8Array.of(i)))!;
    offsets.add(ref.offset);
    t.equal((peer.view(name, ref, 1) as Buffer)[0], i, `message ${i} reads back`);
    peer.release(name, ref);
  }
  t.equal(offsets.size, 1, 'one slot serves a lane that carries one message at a time');
  // Messages held by the receiver take the next free slots; a freed low slot is taken first again.
  const held = [];
  for (let i = 0; i < 3; i++) held.push((await out.put(1, Uint8Array.of(10 + i)))!);
  t.equal(new Set(held.map((r) => r.offset)).size, 3, 'three held messages, three slots');
  t.ok(held[0].offset < held[1].offset && held[1].offset < held[2].offset, 'taken lowest first');
  peer.release(name, held[1]);
  const again = (await out.put(1, Uint8Array.of(20)))!;
  t.equal(again.offset, held[1].offset, 'the freed middle slot is the lowest free one');
  // Another peer's lane is separate.
  const other = (await out.put(2, Uint8Array.of(30)))!;
  t.notOk(held.some((r) => r.offset === other.offset), 'peer 2 has slots of its own');
  // A full lane waits until the receiver frees a slot.
  const rest = [];
  for (let i = 3; i < SLOTS_PER_PEER; i++) rest.push((await out.put(1, Uint8Array.of(i)))!);
  let placed: number | undefined;
  const waiting = out.put(1, Uint8Array.of(99)).then((r) => (placed = r!.offset));
  await new Promise((r) => setTimeout(r, 20));
  t.equal(placed, undefined, 'a put to a full lane waits');
  peer.release(name, held[2]);
  await waiting;
  t.equal(placed, held[2].offset, 'and takes the slot the receiver freed');
});

t.test('slots per peer stay within their memory budget', async (t) => {
  t.equal(slotsPerPeer(1 << 20), 8, '1 MiB segments (sockets and mixed hosts): 8 slots');
  t.equal(slotsPerPeer(4 << 20), 4, '4 MiB segments (every rank on one host): 4 slots');
  t.equal(slotsPerPeer(64 << 20), 2, 'never fewer than 2 (one in use, one being filled)');
  for (const b of [1 << 20, 2 << 20, 4 << 20, 8 << 20]) t.ok(slotsPerPeer(b) * b <= SLOT_BYTES_PER_PEER, `${b} B segments within ${SLOT_BYTES_PER_PEER} B per peer`);
});

t.test('crash recovery removes regions of dead processes only', { skip }, async (t) => {
  const epoch = 910_000_000 + (process.pid % 1000);
  // A process makes a region, then dies without closing it.
  const script = `
    const { OutRegion } = await import(${JSON.stringify(join(DIST, 'lib', 'transport', 'shm-region.js'))});
    new OutRegion(${epoch}, 3, [0], 4096);
    console.log('made');
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => child.stdout.on('data', () => resolve()));
  child.kill('SIGKILL');
  await new Promise((resolve) => child.on('close', resolve));
  const dead = `/dev/shm/${regionName(epoch, 3)}`;
  t.ok(existsSync(dead), 'the dead process left its region behind');
  const live = new OutRegion(epoch, 4, [0], 4096);
  t.teardown(() => live.close());
  t.ok(removeStaleRegions() >= 1, 'crash recovery removed something');
  t.notOk(existsSync(dead), 'the dead process region is gone');
  t.ok(existsSync(`/dev/shm/${live.name}`), 'a live process region stays');
});

t.test('crash recovery: a live pid with another start time is a reused pid (removed); another user\'s region is kept', { skip: skip || (processStartTime(process.pid) === undefined ? 'no /proc start times' : false) }, async (t) => {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  t.teardown(() => void child.kill('SIGKILL'));
  await new Promise((resolve) => child.once('spawn', resolve));
  const start = processStartTime(child.pid!)!;
  const epoch = 910_000_000 + (process.pid % 1000);
  const make = (rank: number, owner: number, startTime: number): string => {
    const r = new OutRegion(epoch, rank, [1 - rank], 4096);
    // What the owner would have written: its pid and start time in the header.
    const head = shmMap(r.name, 32, false);
    new Int32Array(head, 4, 1)[0] = owner;
    new Float64Array(head, 24, 1)[0] = startTime;
    shmUnmap(head);
    return r.name;
  };
  const reused = make(0, child.pid!, start + 1);
  const owned = make(1, child.pid!, start);
  t.teardown(() => {
    for (const n of [reused, owned]) shmUnlink(n);
  });
  removeStaleRegions();
  t.notOk(existsSync(`/dev/shm/${reused}`), 'the pid now belongs to a process started at another time: removed');
  t.ok(existsSync(`/dev/shm/${owned}`), 'the owner itself is alive: kept');
  if (process.getuid?.() === 0) {
    // Another user's region whose owner is dead: not ours to remove, even as root.
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    chownSync(`/dev/shm/${owned}`, 65534, 65534);
    removeStaleRegions();
    t.ok(existsSync(`/dev/shm/${owned}`), 'another user\'s region: kept');
    chownSync(`/dev/shm/${owned}`, 0, 0);
    removeStaleRegions();
    t.notOk(existsSync(`/dev/shm/${owned}`), 'the same region as this user\'s, owner dead: removed');
  }
});

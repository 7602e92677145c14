// Sizes no typed array, mapping or region header can describe (issue 16 item 4): each is refused
// with a ZcollError naming what was asked, the process survives (the addon used to abort with
// "double free detected" on a mapping over 4 GiB), and nothing is left in /dev/shm.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { totalmem } from 'node:os';
import t from 'tap';
import { isZcollError, ZcollError } from '../../lib/errors.js';
import { nativeLoad, shmAvailable, shmMap, shmUnlink, shmUnmap, SHM_MAX_BYTES } from '../../lib/kernels/native.js';
import { arenaName, SharedArenas } from '../../lib/transport/shm-arena.js';
import { checkAllocation, checkRegionBytes, MAX_REGION_BYTES, maxSegmentBytesFor, maxTypedArrayLength } from '../../lib/transport/shm-limits.js';
import { InRegions, OutRegion, regionName } from '../../lib/transport/shm-region.js';

const skip = shmAvailable() ? false : `native addon not built (or no POSIX shm here): ${nativeLoad.reason}`;
const devShm = process.platform === 'linux' && existsSync('/dev/shm');

let serial = 0;
function uniqueName(): string {
  serial++;
  return `zcoll-limits-${process.pid}-${Date.now().toString(36)}-${serial}`;
}

/** The /dev/shm entries whose name starts with `prefix` (none where there is no /dev/shm). */
function leftovers(prefix: string): string[] {
  return devShm ? readdirSync('/dev/shm').filter((n) => n.startsWith(prefix)) : [];
}

function zcollErrorOf(f: () => unknown): ZcollError | undefined {
  try {
    f();
  } catch (e) {
    return e instanceof ZcollError ? e : undefined;
  }
  return undefined;
}

t.test('checkAllocation: a count no typed array can hold is EINVAL naming the op and the count', async (t) => {
  const max = maxTypedArrayLength('float32');
  // The limit is V8's own: one more element is a RangeError before any memory is reserved.
  t.throws(() => new Float32Array(max + 1), RangeError, `Node.js refuses ${max + 1} float32 elements`);
  for (const count of [2 ** 40, max + 1]) {
    const e = zcollErrorOf(() => checkAllocation('float32', count, 'allocBuffer', 3));
    t.ok(isZcollError(e, 'EINVAL'), `allocBuffer(float32, ${count}) is refused`);
    t.match(e?.message, /^EINVAL: \[rank 3 allocBuffer\] argument 'count' passed to 'allocBuffer' is \d+/);
    t.ok(e?.message.includes(String(count)), 'the message names the count');
    t.equal(e?.op, 'allocBuffer');
    t.equal(e?.rank, 3);
  }
  t.equal(checkAllocation('float32', 0, 'allocBuffer'), undefined, 'zero elements pass');
  t.equal(checkAllocation('float64', 1 << 20, 'allocBuffer'), undefined, 'a plain size passes');
});

t.test('checkAllocation: more bytes than the host has is EINVAL', async (t) => {
  const count = Math.floor(totalmem() / 8) + 1;
  const e = zcollErrorOf(() => checkAllocation('float64', count, 'allocBuffer'));
  t.ok(isZcollError(e, 'EINVAL'));
  t.match(e?.message, count > maxTypedArrayLength('float64') ? /holds at most/ : /more than the \d+ bytes of memory of this host/);
});

t.test('checkRegionBytes and maxSegmentBytesFor', async (t) => {
  t.equal(checkRegionBytes(MAX_REGION_BYTES, 'ECONFIG', () => 'x'), undefined, 'the bound itself passes');
  const e = zcollErrorOf(() => checkRegionBytes(MAX_REGION_BYTES + 1, 'ECONFIG', () => 'the test region', { rank: 1, op: 'init' }));
  t.ok(isZcollError(e, 'ECONFIG'));
  t.match(e?.message, /the test region needs a shared-memory region of \d+ bytes, more than the \d+ bytes a zcoll region may have/);
  t.ok(MAX_REGION_BYTES <= 0x7fffffff && MAX_REGION_BYTES <= SHM_MAX_BYTES, 'within the int32 header and the ArrayBuffer limit');
  const most = maxSegmentBytesFor(8, 1 << 20);
  t.equal(most % 8, 0, 'a multiple of 8, as segmentBytes must be');
  t.ok(2 * 8 * most + (1 << 20) + 128 <= MAX_REGION_BYTES, 'two slots for each of 8 peers fit');
});

t.test('shmMap over the ArrayBuffer limit is EINVAL and leaves no name', { skip }, async (t) => {
  const prefix = `zcoll-limits-${process.pid}-`;
  for (const bytes of [SHM_MAX_BYTES + 4096, 2 ** 40 * 4]) {
    const name = uniqueName();
    t.teardown(() => {
      shmUnlink(name);
    });
    const e = zcollErrorOf(() => shmMap(name, bytes, true));
    t.ok(isZcollError(e, 'EINVAL'), `${bytes} bytes refused with a ZcollError`);
    t.equal(e?.op, 'shmMap');
    t.ok(e?.message.includes(String(bytes)) && e.message.includes(name), 'the message names the size and the region');
    t.notOk(devShm && existsSync(`/dev/shm/${name}`), 'no name left in /dev/shm');
  }
  t.same(leftovers(prefix), [], 'no region of this test left');
  // The limit itself still maps (sparse: no page is touched).
  const name = uniqueName();
  t.teardown(() => {
    shmUnlink(name);
  });
  const buffer = shmMap(name, SHM_MAX_BYTES, true);
  t.equal(buffer.byteLength, SHM_MAX_BYTES);
  shmUnmap(buffer);
  t.equal(shmUnlink(name), true);
});

// The addon itself, without the wrapper's check: what used to abort the process.
const CHILD = `
const { createRequire } = await import('node:module');
const addon = createRequire(import.meta.url)(process.argv[1]);
const { existsSync } = await import('node:fs');
const out = [];
for (const bytes of [2 ** 32 + 4096, 2 ** 42]) {
  const name = '/' + process.argv[2] + '-' + out.length;
  let code;
  try { addon.shmMap(name, bytes, true); code = 'mapped'; } catch (e) { code = e.code + ' ' + e.name + ' ' + /refused an ArrayBuffer/.test(e.message); }
  out.push({ code, left: existsSync('/dev/shm' + name) });
  try { addon.shmUnlink(name); } catch {}
}
globalThis.gc?.();
await new Promise((r) => setTimeout(r, 50));
console.log(JSON.stringify(out));
`;

t.test('the addon refuses what Node.js will not wrap, once, without crashing', { skip: skip || (SHM_MAX_BYTES > 2 ** 32 ? `this Node.js wraps ${SHM_MAX_BYTES} bytes` : false) }, async (t) => {
  t.ok(nativeLoad.path !== undefined);
  const base = uniqueName();
  t.teardown(() => {
    for (const n of leftovers(base)) shmUnlink(n);
  });
  const child = spawn(process.execPath, ['--expose-gc', '--input-type=module', '-e', CHILD, nativeLoad.path!, base], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])));
  t.equal(signal, null, `no abort ${stderr}`);
  t.equal(code, 0, stderr);
  t.same(JSON.parse(stdout.trim()), [
    { code: 'EFBIG RangeError true', left: false },
    { code: 'EFBIG RangeError true', left: false },
  ], 'a RangeError with code EFBIG, and the name it created is gone');
  t.same(leftovers(base), []);
});

t.test('the raw addon still maps ordinary sizes, and two mappings share the pages', { skip }, async (t) => {
  const addon = createRequire(import.meta.url)(nativeLoad.path!) as { shmMap(n: string, b: number, c: boolean): ArrayBuffer; shmUnlink(n: string): boolean };
  const name = `/${uniqueName()}`;
  t.teardown(() => {
    addon.shmUnlink(name);
  });
  const mapped = new Uint8Array(addon.shmMap(name, 1 << 16, true));
  mapped[7] = 1;
  t.equal(new Uint8Array(addon.shmMap(name, 1 << 16, false))[7], 1, 'a second mapping sees the first one');
});

t.test('an outgoing region too big for its header is ECONFIG at init, with a segmentBytes that fits', { skip }, async (t) => {
  const epoch = 930_000_000 + (process.pid % 1000);
  const name = regionName(epoch, 0);
  t.teardown(() => {
    shmUnlink(name);
  });
  // segmentBytes 2^28 with 9 ranks on a host: 8 peers of 2 slots, just over 4 GiB.
  for (const peers of [[1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 3, 4]]) {
    const e = zcollErrorOf(() => new OutRegion(epoch, 0, peers, 268435456));
    t.ok(isZcollError(e, 'ECONFIG'), `${peers.length + 1} local ranks: refused`);
    t.equal(e?.op, 'init');
    t.equal(e?.rank, 0);
    t.match(e?.message, new RegExp(`segmentBytes 268435456 with ${peers.length} same-host peer\\(s\\) \\(2 slots each; use segmentBytes of at most (\\d+)`));
    t.notOk(devShm && existsSync(`/dev/shm/${name}`), 'nothing mapped, nothing left');
    // The segmentBytes it suggests does fit, and a peer can map the region (sparse: only the
    // header and mailbox pages are touched).
    const most = Number(/at most (\d+)/.exec(e?.message ?? '')?.[1]);
    t.ok(most >= 64 && most % 8 === 0 && most < 268435456, `suggests ${most}`);
    const out = new OutRegion(epoch, 0, peers, most);
    t.ok(out.size <= MAX_REGION_BYTES, `${out.size} bytes`);
    const peer = new InRegions();
    t.ok(peer.attach(name), 'a peer maps it: its header size is a valid int32');
    peer.close();
    out.close();
    t.notOk(devShm && existsSync(`/dev/shm/${name}`), 'closed and unlinked');
  }
  // Three peers at 2^28 still fit (1.5 GiB, sparse).
  const out = new OutRegion(epoch, 0, [1, 2, 3], 268435456);
  t.ok(out.size <= MAX_REGION_BYTES);
  out.close();
});

t.test('a registered buffer too big for a region is EINVAL, and the next one still gets index 0', { skip }, async (t) => {
  const epoch = 931_000_000 + (process.pid % 1000);
  const arenas = new SharedArenas(epoch, 0, [1]);
  t.teardown(() => arenas.close());
  for (const count of [2 ** 30, 2 ** 40]) {
    const e = zcollErrorOf(() => arenas.allocate('float32', count));
    t.ok(isZcollError(e, 'EINVAL'), `${count} float32 refused`);
    t.equal(e?.op, 'allocBuffer');
    t.match(e?.message, new RegExp(`allocBuffer\\(float32, ${count}\\) in shared memory needs a shared-memory region of \\d+ bytes`));
  }
  t.same(leftovers(regionName(epoch, 0)), [], 'no region left');
  const a = arenas.allocate('float32', 16);
  t.equal(a.length, 16);
  t.ok(!devShm || existsSync(`/dev/shm/${arenaName(epoch, 0, 0)}`), 'the refused ones used no index');
});

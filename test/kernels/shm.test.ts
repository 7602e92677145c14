/**
 * The POSIX shared-memory primitive of the addon: two real processes map one name and each sees
 * the other's writes; shmUnlink removes the name (from /dev/shm on Linux) and a later open fails
 * with ENOENT; shmUnmap detaches the ArrayBuffer; bad arguments are TypeError/RangeError.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import t from 'tap';
import { nativeLoad, shmAvailable, shmMap, shmUnlink, shmUnmap } from '../../lib/kernels/native.js';

const nativeUrl = pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'lib', 'kernels', 'native.js')).href;
const skip = shmAvailable() ? false : `native addon not built (or no POSIX shm here): ${nativeLoad.reason}`;
const devShm = process.platform === 'linux' && existsSync('/dev/shm');

let serial = 0;
function uniqueName(): string {
  serial++;
  return `zcoll-test-${process.pid}-${Date.now().toString(36)}-${serial}`;
}

/**
 * The child maps the segment, checks the parent's pattern in the first half, writes its own in
 * the second half, then waits for the parent's next word before exiting, so both are mapped at once.
 */
const CHILD = `
const { shmMap } = await import(process.argv[1]);
const [name, n] = [process.argv[2], Number(process.argv[3])];
const words = new Uint32Array(shmMap(name, n * 4, false));
const half = n / 2;
let bad = 0;
for (let i = 0; i < half; i++) if (words[i] !== (i * 2654435761) >>> 0) bad++;
for (let i = half; i < n - 1; i++) words[i] = (i ^ 0x5a5a5a5a) >>> 0;
Atomics.store(new Int32Array(words.buffer), n - 1, 1); // "written"
const deadline = Date.now() + 20000;
const flag = new Int32Array(words.buffer, 0, n);
while (Atomics.load(flag, n - 1) !== 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
console.log(JSON.stringify({ bad, sawParentAgain: Atomics.load(flag, n - 1) === 2 && words[0] === 0xfeedface }));
`;

t.test('two processes see each other writes through one segment', { skip }, async (tt) => {
  const name = uniqueName();
  const n = 1 << 16; // 256 KiB of uint32
  tt.teardown(() => {
    shmUnlink(name);
  });
  const buffer = shmMap(name, n * 4, true);
  tt.equal(buffer.byteLength, n * 4);
  if (devShm) tt.ok(existsSync(`/dev/shm/${name}`), 'the name exists in /dev/shm');
  const words = new Uint32Array(buffer);
  tt.equal(words[n - 2], 0, 'a new segment is zero-filled');
  for (let i = 0; i < n / 2; i++) words[i] = (i * 2654435761) >>> 0;

  const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD, nativeUrl, name, String(n)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  tt.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

  const flag = new Int32Array(buffer);
  const deadline = Date.now() + 20000;
  while (Atomics.load(flag, n - 1) !== 1 && Date.now() < deadline && child.exitCode === null) {
    await new Promise((r) => setTimeout(r, 2));
  }
  tt.equal(Atomics.load(flag, n - 1), 1, `child wrote its flag ${stderr}`);
  let wrong = 0;
  for (let i = n / 2; i < n - 1; i++) if (words[i] !== ((i ^ 0x5a5a5a5a) >>> 0)) wrong++;
  tt.equal(wrong, 0, 'the parent sees every word the child wrote');
  words[0] = 0xfeedface;
  Atomics.store(flag, n - 1, 2);
  tt.equal(await exited, 0, stderr);
  tt.same(JSON.parse(stdout.trim()), { bad: 0, sawParentAgain: true }, 'the child saw the parent writes, before and after its own');
});

t.test('shmUnlink removes the name; opening it again fails with ENOENT', { skip }, async (tt) => {
  const name = uniqueName();
  const first = new Float64Array(shmMap(name, 4096, true));
  first[3] = 42;
  const second = new Float64Array(shmMap(name, 4096, false));
  tt.equal(second[3], 42, 'a second mapping in the same process sees the same page');
  tt.equal(shmUnlink(name), true);
  if (devShm) tt.notOk(existsSync(`/dev/shm/${name}`), 'gone from /dev/shm');
  tt.equal(shmUnlink(name), false, 'unlinking twice reports the name was gone');
  tt.throws(() => shmMap(name, 4096, false), { code: 'ENOENT', syscall: 'shm_open' });
  second[4] = 7;
  tt.equal(first[4], 7, 'existing mappings outlive the name');
  // The leading '/' is optional.
  const slashed = `/${uniqueName()}`;
  shmMap(slashed, 64, true);
  tt.equal(shmUnlink(slashed.slice(1)), true);
});

t.test('shmUnmap detaches the ArrayBuffer and refuses foreign buffers', { skip }, async (tt) => {
  const name = uniqueName();
  tt.teardown(() => {
    shmUnlink(name);
  });
  const buffer = shmMap(name, 8192, true);
  new Uint8Array(buffer)[100] = 9;
  shmUnmap(buffer);
  tt.equal(buffer.byteLength, 0, 'detached: JS can no longer reach the unmapped pages');
  tt.throws(() => shmUnmap(buffer), { name: 'TypeError', message: /not a live mapping/ });
  tt.throws(() => shmUnmap(new ArrayBuffer(16)), { name: 'TypeError', message: /not a live mapping/ });
  const again = new Uint8Array(shmMap(name, 8192, false));
  tt.equal(again[100], 9, 'the data stays in the segment after an unmap');
});

t.test('shmMap rejects bad arguments', { skip }, async (tt) => {
  const name = uniqueName();
  tt.throws(() => shmMap(name, 0, true), { name: 'RangeError', message: /'bytes' must be a positive integer/ });
  tt.throws(() => shmMap(name, 1.5, true), { name: 'RangeError' });
  tt.throws(() => shmMap('a/b', 64, true), { name: 'TypeError', message: /without '\/'/ });
  tt.throws(() => shmMap(name, 64, 'yes' as unknown as boolean), { name: 'TypeError', message: /create: boolean/ });
  tt.throws(() => shmMap(123 as unknown as string, 64, true), { name: 'TypeError' });
  shmMap(name, 64, true);
  tt.throws(() => shmMap(name, 4096, false), { name: 'RangeError', message: /holds only 64 bytes/ });
  tt.equal(shmUnlink(name), true);
});

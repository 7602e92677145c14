/**
 * allocTypedArray / allocFloat32 (lib/kernels/huge-pages.ts): the arrays are zeroed, of the right
 * type and length, and usable; on a Linux host whose THP setting is 'madvise' or 'always' and with
 * the addon loaded, the array's memory is in 2 MiB pages once touched (read from /proc/self/smaps
 * of a fresh child process: the advised range is its own mapping, flagged 'hg', and its
 * AnonHugePages covers it); every fallback (ZCOLL_HUGE_PAGES=off, no addon, THP 'never' or absent)
 * gives the same zeroed array in ordinary pages; bad arguments fail with EINVAL naming the op.
 * Signum's momentum buffers come from it (checked the same way).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import t from 'tap';
import { allocFloat32, allocTypedArray, allocUint32, HUGE_PAGE_MIN_BYTES, hugePageDecision, hugePageStatus, parseThpMode } from '../../lib/kernels/huge-pages.js';
import { adviseHugePagesNative, nativeLoad } from '../../lib/kernels/native.js';
import { ZcollError } from '../../lib/errors.js';

const here = dirname(fileURLToPath(import.meta.url));
const hugePagesUrl = pathToFileURL(join(here, '..', '..', 'lib', 'kernels', 'huge-pages.js')).href;
const signumUrl = pathToFileURL(join(here, '..', '..', 'lib', 'compress', 'signum.js')).href;

function thpModeOfHost(): string {
  try {
    return parseThpMode(readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8'));
  } catch {
    return 'unavailable';
  }
}
const hostMode = thpModeOfHost();
const hugeExpected = process.platform === 'linux' && nativeLoad.loaded && (hostMode === 'madvise' || hostMode === 'always');

/**
 * A child that allocates `bytes` of float32 with allocFloat32 (or a Signum of that many
 * parameters, which allocates its two momentum buffers), checks that it reads as zeros, writes
 * every element and reads them back, and reports the mappings flagged 'hg' (MADV_HUGEPAGE) in
 * /proc/self/smaps with their size and AnonHugePages, and the process's AnonHugePages in total.
 */
const CHILD = `
const [hugeUrl, signumUrl, what, countText] = process.argv.slice(1);
const { readFileSync } = await import('node:fs');
const m = await import(hugeUrl);
const count = Number(countText);
const smaps = () => {
  let text = '';
  try { text = readFileSync('/proc/self/smaps', 'utf8'); } catch { return { hg: [], anonHugeKiB: 0 }; }
  const hg = [];
  let anonHugeKiB = 0;
  for (const block of text.split(/\\n(?=[0-9a-f]+-[0-9a-f]+ )/)) {
    const size = Number(/\\nSize:\\s+(\\d+) kB/.exec(block)?.[1] ?? 0);
    const huge = Number(/\\nAnonHugePages:\\s+(\\d+) kB/.exec(block)?.[1] ?? 0);
    anonHugeKiB += huge;
    const flags = /\\nVmFlags:([^\\n]*)/.exec(block)?.[1] ?? '';
    if (flags.split(' ').includes('hg')) hg.push({ sizeKiB: size, anonHugeKiB: huge });
  }
  return { hg, anonHugeKiB };
};
const before = smaps();
let arrays;
if (what === 'signum') {
  const { Signum } = await import(signumUrl);
  const s = new Signum(count, { lr: 1e-3 });
  const g = new Float32Array(count).fill(0.5);
  s.signs(g);
  s.signs(g);
  arrays = [s.momentum];
} else {
  arrays = [m.allocFloat32(count)];
}
let nonZero = 0, wrong = 0;
for (const a of arrays) {
  for (let i = 0; i < a.length; i++) if (a[i] !== (what === 'signum' ? a[0] : 0)) nonZero++;
  for (let i = 0; i < a.length; i++) a[i] = i % 1000;
  for (let i = 0; i < a.length; i++) if (a[i] !== i % 1000) wrong++;
}
console.log(JSON.stringify({ status: m.hugePageStatus(), length: arrays[0].length, type: arrays[0].constructor.name, nonZero, wrong, before, after: smaps() }));
`;

interface ChildReport {
  status: { mode: string; advising: boolean; reason: string | null };
  length: number;
  type: string;
  nonZero: number;
  wrong: number;
  before: { hg: { sizeKiB: number; anonHugeKiB: number }[]; anonHugeKiB: number };
  after: { hg: { sizeKiB: number; anonHugeKiB: number }[]; anonHugeKiB: number };
}

function child(what: 'array' | 'signum', count: number, env: Record<string, string | undefined>): { code: number | null; stderr: string; report: ChildReport | undefined } {
  const childEnv: Record<string, string | undefined> = { ...process.env };
  for (const key of ['ZCOLL_HUGE_PAGES', 'ZCOLL_NATIVE_PATH', 'ZCOLL_KERNELS', 'ZCOLL_DEBUG']) delete childEnv[key];
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) delete childEnv[key];
    else childEnv[key] = value;
  }
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', CHILD, hugePagesUrl, signumUrl, what, String(count)], { env: childEnv, encoding: 'utf8', timeout: 60_000 });
  const line = r.stdout.trim().split('\n').pop();
  return { code: r.status, stderr: r.stderr, report: line ? (JSON.parse(line) as ChildReport) : undefined };
}

const MIB = 1 << 20;

t.test('arrays of every dtype and size are zeroed, typed and usable', async (tt) => {
  for (const count of [0, 1, 1000, HUGE_PAGE_MIN_BYTES / 4 - 1, HUGE_PAGE_MIN_BYTES / 4, (24 * MIB) / 4 + 3]) {
    for (const dtype of ['float32', 'float64', 'int32'] as const) {
      const a = allocTypedArray(dtype, count);
      tt.equal(a.length, count, `${dtype} x ${count}: length`);
      tt.equal(a.constructor.name, { float32: 'Float32Array', float64: 'Float64Array', int32: 'Int32Array' }[dtype], `${dtype}: type`);
      tt.equal(a.byteOffset, 0, `${dtype} x ${count}: a whole ArrayBuffer of its own`);
      let nonZero = 0;
      for (let i = 0; i < count; i++) if (a[i] !== 0) nonZero++;
      tt.equal(nonZero, 0, `${dtype} x ${count}: zeroed`);
      for (let i = 0; i < count; i += 4099) a[i] = i;
      let wrong = 0;
      for (let i = 0; i < count; i += 4099) if (a[i] !== i) wrong++;
      tt.equal(wrong, 0, `${dtype} x ${count}: writes read back`);
    }
  }
  const f = allocFloat32(5);
  tt.ok(f instanceof Float32Array && f.length === 5);
  const u = allocUint32((8 * MIB) / 4);
  tt.ok(u instanceof Uint32Array && u.length === (8 * MIB) / 4 && u[u.length - 1] === 0);
});

t.test('bad arguments fail with EINVAL naming the op and the argument', async (tt) => {
  for (const [dtype, count, needle] of [
    ['float16', 4, "argument 'dtype' passed to 'allocTypedArray'"],
    ['float32', -1, "argument 'count' passed to 'allocTypedArray' must be a non-negative integer, got -1"],
    ['float32', 1.5, 'got 1.5'],
    ['int32', Number.NaN, 'got NaN'],
  ] as const) {
    let caught: unknown;
    try {
      allocTypedArray(dtype as 'float32', count);
    } catch (e) {
      caught = e;
    }
    tt.ok(caught instanceof ZcollError && caught.code === 'EINVAL' && caught.message.includes(needle), `${dtype} x ${count}: ${String(caught)}`);
  }
  if (adviseHugePagesNative !== undefined) {
    tt.throws(() => adviseHugePagesNative!(new Float32Array(4) as unknown as ArrayBuffer), /adviseHugePages: expected \(buffer: ArrayBuffer\)/, 'the addon refuses a non-ArrayBuffer');
    tt.equal(adviseHugePagesNative(new ArrayBuffer(MIB)), 0, 'a buffer without a whole aligned 2 MiB range: nothing advised');
  }
});

t.test('the decision: advise only with the addon, a THP-capable kernel, and no opt-out', async (tt) => {
  tt.equal(parseThpMode('always [madvise] never\n'), 'madvise');
  tt.equal(parseThpMode('[always] madvise never'), 'always');
  tt.equal(parseThpMode('always madvise [never]'), 'never');
  tt.equal(parseThpMode(''), 'unavailable');
  tt.equal(parseThpMode(undefined), 'unavailable');
  tt.same(hugePageDecision('madvise', undefined, true), { mode: 'madvise', advising: true, reason: undefined });
  tt.equal(hugePageDecision('always', '', true).advising, true, "'always' advises too (defrag 'madvise' compacts only for advised ranges)");
  const never = hugePageDecision('never', undefined, true);
  tt.equal(never.advising, false);
  tt.match(never.reason, /transparent huge pages are off on this host/);
  tt.match(hugePageDecision('unavailable', undefined, true).reason, /offers no transparent huge pages/);
  tt.match(hugePageDecision('madvise', undefined, false).reason, /native addon/);
  for (const off of ['off', 'OFF', '0', 'false', 'no']) tt.match(hugePageDecision('madvise', off, true).reason, /ZCOLL_HUGE_PAGES=/, off);
  tt.equal(hugePageDecision('madvise', 'on', true).advising, true, 'any other value keeps the default');
  tt.equal(hugePageStatus().advising, hugeExpected && !['off', '0', 'false', 'no'].includes((process.env.ZCOLL_HUGE_PAGES ?? '').toLowerCase()), 'this process: as the host and the addon allow');
});

t.test('a large array is in huge pages where the host offers them (smaps of a fresh process)', { skip: hugeExpected ? false : `host THP '${hostMode}', addon ${nativeLoad.loaded ? 'loaded' : 'not loaded'}, platform ${process.platform}` }, async (tt) => {
  const count = (64 * MIB) / 4;
  const r = child('array', count, {});
  tt.equal(r.code, 0, r.stderr);
  const rep = r.report!;
  tt.same(rep.status, { mode: hostMode, advising: true }, 'advising');
  tt.equal(rep.type, 'Float32Array');
  tt.equal(rep.length, count);
  tt.equal(rep.nonZero, 0, 'zeroed');
  tt.equal(rep.wrong, 0, 'usable');
  tt.equal(rep.before.hg.length, 0, 'no advised mapping before');
  // The advised interior: 64 MiB less at most 2 MiB at each end, in 2 MiB pages once touched.
  const advised = rep.after.hg.filter((m) => m.sizeKiB >= (60 * MIB) / 1024);
  tt.equal(advised.length, 1, `one advised mapping of the array's interior (hg mappings: ${JSON.stringify(rep.after.hg)})`);
  tt.ok(advised[0].sizeKiB <= (64 * MIB) / 1024 && advised[0].sizeKiB % 2048 === 0, 'whole 2 MiB pages inside the array');
  tt.ok(advised[0].anonHugeKiB >= advised[0].sizeKiB / 2, `AnonHugePages ${advised[0].anonHugeKiB} KiB of ${advised[0].sizeKiB} KiB`);
  tt.ok(rep.after.anonHugeKiB - rep.before.anonHugeKiB >= advised[0].sizeKiB / 2, 'the process total grew with it');
});

t.test("Signum's momentum buffers are in huge pages where offered", { skip: hugeExpected ? false : `host THP '${hostMode}'` }, async (tt) => {
  const d = (32 * MIB) / 4;
  const r = child('signum', d, {});
  tt.equal(r.code, 0, r.stderr);
  const rep = r.report!;
  tt.equal(rep.wrong, 0);
  tt.equal(rep.nonZero, 0, 'the momentum of a constant gradient is one value');
  const advised = rep.after.hg.filter((m) => m.sizeKiB >= (28 * MIB) / 1024);
  tt.equal(advised.length, 2, `current and spare: two advised mappings (${JSON.stringify(rep.after.hg)})`);
  for (const m of advised) tt.ok(m.anonHugeKiB >= m.sizeKiB / 2, `AnonHugePages ${m.anonHugeKiB} of ${m.sizeKiB} KiB`);
});

t.test('fallbacks: the same zeroed array in ordinary pages, silently', async (tt) => {
  const count = (16 * MIB) / 4;
  const cases: [string, Record<string, string>, RegExp][] = [
    ['ZCOLL_HUGE_PAGES=off', { ZCOLL_HUGE_PAGES: 'off' }, /ZCOLL_HUGE_PAGES=off/],
    // What an install with --ignore-scripts and no prebuild for the platform looks like to the loader.
    ['no native addon', { ZCOLL_NATIVE_PATH: '/nonexistent/zcoll_native.node' }, /native addon/],
  ];
  for (const [name, env, reason] of cases) {
    const r = child('array', count, env);
    tt.equal(r.code, 0, `${name}: ${r.stderr}`);
    const rep = r.report!;
    tt.equal(rep.status.advising, false, name);
    tt.match(rep.status.reason ?? '', reason, `${name}: says why`);
    tt.equal(rep.length, count, name);
    tt.equal(rep.nonZero, 0, `${name}: zeroed`);
    tt.equal(rep.wrong, 0, `${name}: usable`);
    tt.equal(rep.after.hg.length, 0, `${name}: nothing advised`);
    tt.notMatch(r.stderr, /huge/i, `${name}: nothing printed about huge pages`);
    // With THP 'always' the kernel maps huge pages without advice; with 'madvise' none appear.
    if (hostMode === 'madvise') tt.equal(rep.after.anonHugeKiB, rep.before.anonHugeKiB, `${name}: no huge pages`);
  }
});

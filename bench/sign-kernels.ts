/**
 * Micro-benchmark of signSGD's local work at ResNet-50 size (d = 25M): packing signs (reads 4d
 * bytes), the packed majority vote of M = 4 and 7 messages (reads M·d/8 bytes; 'plus' and 'random'
 * tie rules), unpacking the vote to +-1 floats (writes 4d bytes), Signum's passes (finiteness check,
 * momentum fused with the pack, signed update), the SGD update (axpy) and one Signum step's local
 * part (Signum.signs, Signum.apply). For the JS kernels and, when the addon loaded, the native ones.
 * The fused pass Signum uses (momentumSignPackTo: check + momentum into a second buffer + pack) is
 * set beside the two passes it replaced (firstNonFinite, then momentumSignPack in place), and the
 * update beside an in-place scale pass (kernels.scale(x, 1): reads and writes 4d, the memory-speed
 * floor of any pass that updates x in place).
 * Checks (exit 1 when one fails): before timing, the native pack, vote, fused pass and update are
 * compared bit for bit with the JS kernels on the same inputs (the first 1M coordinates).
 * GB/s = bytes read by the operation / time (1 GB = 1e9 bytes), for the median and the best run
 * (on a shared machine the best run is the better estimate of the loop itself). Single-threaded.
 * Usage: node dist/bench/sign-kernels.js [--d 25000000] [--reps 5] [--m 4,7]
 */
import { jsKernels, nativeKernels, nativeLoad } from '../lib/kernels/index.js';
import type { Kernels } from '../lib/kernels/index.js';
import { Prng } from '../lib/prng.js';
import { majorityVote } from '../lib/compress/majority-vote.js';
import { packedWords, packSigns, unpackSigns } from '../lib/compress/sign.js';
import { Signum } from '../lib/compress/signum.js';
import { allocFloat32, hugePageStatus } from '../lib/kernels/huge-pages.js';
import { benchArgs, numberArg, numberListArg } from './args.js';

const args = benchArgs({
  name: 'sign-kernels',
  summary: 'Throughput of the signSGD kernels (pack, vote, Signum step), JS against native (prints a table).',
  options: {
    d: { type: 'string', value: '25000000', describe: 'coordinates' },
    reps: { type: 'string', value: '5', describe: 'timed repetitions' },
    m: { type: 'string', value: '4,7', describe: 'worker counts of the vote' },
  },
});

const d = numberArg('sign-kernels', 'd', args.d, 25000000);
const reps = numberArg('sign-kernels', 'reps', args.reps, 5);
const workerCounts = numberListArg('sign-kernels', 'm', args.m, [4, 7]);

interface Timing {
  median: number;
  best: number;
}

/** Median and best wall time in ms of `reps` runs after one warm-up run. */
function timeMs(run: () => void): Timing {
  run();
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = process.hrtime.bigint();
    run();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  return { median: times[(times.length - 1) >> 1], best: times[0] };
}

const gbps = (bytes: number, ms: number): string => (bytes / (ms * 1e6)).toFixed(2);

function row(kernelsName: string, operation: string, m: string, bytes: number, t: Timing, note = ''): void {
  console.log(
    `| ${kernelsName} | ${operation} | ${m} | ${t.median.toFixed(1)} | ${t.best.toFixed(1)} | ${gbps(bytes, t.median)} | ${gbps(bytes, t.best)}${note} |`,
  );
}

const prng = new Prng(25);
const x = new Float32Array(d);
for (let i = 0; i < d; i++) x[i] = prng.normal();
const maxM = Math.max(...workerCounts);
const messages = Array.from({ length: maxM }, () => {
  const words = new Uint32Array(packedWords(d));
  for (let w = 0; w < words.length; w++) words[w] = prng.nextUint32();
  return words;
});
const packedOut = new Uint32Array(packedWords(d));
const unpacked = new Float32Array(d);

/** Native against JS on the same inputs, bit for bit: the number of differing words or elements. */
function checkNative(native: Kernels): number {
  const n = Math.min(d, 1_000_003);
  const g = x.subarray(0, n);
  let wrong = 0;
  const diff = (a: ArrayLike<number>, b: ArrayLike<number>): void => {
    for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) wrong++;
  };
  const outs = [jsKernels, native].map((k) => {
    const signs = new Uint32Array(packedWords(n));
    const bad = k.signPack(g, signs);
    const neg = new Uint32Array(packedWords(n));
    const tie = new Uint32Array(packedWords(n));
    k.voteCount(messages.slice(0, 4).map((m) => m.subarray(0, packedWords(n))), packedWords(n), neg, tie);
    const momentum = Float32Array.from(g, (v) => 0.5 * v);
    const next = new Float32Array(n);
    const fused = new Uint32Array(packedWords(n));
    const r = k.momentumSignPackTo(g, momentum, next, 0.9, fused, undefined, 0);
    const params = g.slice();
    k.signApply(params, neg, 1e-3, 1e-4);
    return { bad, signs, neg, tie, r, next, fused, params };
  });
  const [a, b] = outs;
  if (a.bad !== b.bad || a.r !== b.r) wrong++;
  diff(a.signs, b.signs);
  diff(a.neg, b.neg);
  diff(a.tie, b.tie);
  diff(a.next, b.next);
  diff(a.fused, b.fused);
  diff(a.params, b.params);
  return wrong;
}

const kernelSets: [string, Kernels][] = [['js', jsKernels]];
if (nativeKernels !== undefined) kernelSets.push([`native (${nativeLoad.simd ?? '?'})`, nativeKernels]);
else console.log(`# native kernels not loaded: ${nativeLoad.reason ?? 'unknown reason'}`);

const wrong = nativeKernels !== undefined ? checkNative(nativeKernels) : 0;
console.log(nativeKernels !== undefined ? `# check: native equals js bit for bit (pack, vote, momentumSignPackTo, signApply; ${Math.min(d, 1_000_003)} coordinates): ${wrong} wrong` : '# check: native not loaded, nothing to compare');
if (wrong !== 0) process.exitCode = 1;
const huge = hugePageStatus();
console.log(`# d = ${d}, ${reps} runs after a warm-up, node ${process.version}; huge pages for the momentum buffers: ${huge.advising ? `yes (THP ${huge.mode})` : `no (${huge.reason ?? ''})`}`);
console.log('| kernels | operation | M | median ms | best ms | GB/s median | GB/s best |');
console.log('|---|---|---|---|---|---|---|');
for (const [name, ks] of kernelSets) {
  const pack = timeMs(() => packSigns(x, { out: packedOut, kernels: ks }));
  row(name, 'pack (kernels.signPack)', '-', 4 * d, pack);
  for (const m of workerCounts) {
    const votes = messages.slice(0, m);
    const out = new Uint32Array(packedWords(d));
    const tie = new Uint32Array(packedWords(d));
    const tieScratch = new Uint32Array(packedWords(d));
    const words = packedWords(d);
    const raw = timeMs(() => ks.voteCount(votes, words, out, tie));
    row(name, 'vote (kernels.voteCount)', String(m), (m * d) / 8, raw);
    const plus = timeMs(() => majorityVote(votes, d, { out, tieScratch, kernels: ks }));
    row(name, "majorityVote, tie 'plus'", String(m), (m * d) / 8, plus);
    if (m % 2 === 0) {
      const random = timeMs(() => majorityVote(votes, d, { out, tieScratch, tie: 'random', seed: 1, round: 3, kernels: ks }));
      row(name, "majorityVote, tie 'random'", String(m), (m * d) / 8, random);
    }
  }
}
const unpack = timeMs(() => unpackSigns(messages[0], d, unpacked));
row('js', 'unpackSigns', '-', d / 8, unpack, ` (writes ${gbps(4 * d, unpack.best)} best)`);
// Bytes read per pass (writes come on top: 4d for the momentum and the parameters). The fused pass
// reads 8d where the two passes before it read 12d.
for (const [name, ks] of kernelSets) {
  // The momentum buffers are optimizer state, allocated as Signum allocates them (huge pages where
  // offered; ZCOLL_HUGE_PAGES=off for the 4 KiB-page figures); x and params stand for the user's
  // tensors and stay ordinary arrays.
  const momentum = allocFloat32(d);
  const params = new Float32Array(d).fill(0.01);
  const next = allocFloat32(d);
  row(name, 'firstNonFinite', '-', 4 * d, timeMs(() => ks.firstNonFinite(x)));
  row(name, 'momentumSignPack', '-', 8 * d, timeMs(() => ks.momentumSignPack(x, momentum, 0.9, packedOut, undefined, 0)));
  row(name, 'firstNonFinite + momentumSignPack (the two passes before)', '-', 12 * d, timeMs(() => {
    ks.firstNonFinite(x);
    ks.momentumSignPack(x, momentum, 0.9, packedOut, undefined, 0);
  }));
  row(name, 'momentumSignPackTo (check + momentum + pack, one pass)', '-', 8 * d, timeMs(() => ks.momentumSignPackTo(x, momentum, next, 0.9, packedOut, undefined, 0)));
  row(name, "momentumSignPackTo, 'voted' wd", '-', 12 * d, timeMs(() => ks.momentumSignPackTo(x, momentum, next, 0.9, packedOut, params, 1e-4)));
  row(name, 'signApply (wd 0)', '-', 4 * d + d / 8, timeMs(() => ks.signApply(params, messages[0], 1e-4, 0)));
  row(name, 'scale(x, 1) in place (memory-speed floor of an update)', '-', 4 * d, timeMs(() => ks.scale(params, 1)));
  row(name, "momentumSignPack, 'voted' wd", '-', 12 * d, timeMs(() => ks.momentumSignPack(x, momentum, 0.9, packedOut, params, 1e-4)));
  row(name, 'signApply, wd', '-', 4 * d + d / 8, timeMs(() => ks.signApply(params, messages[0], 1e-4, 1e-4)));
  row(name, 'axpy', '-', 8 * d, timeMs(() => ks.axpy(params, -1e-4, x)));
  const signum = new Signum(d, { lr: 1e-4, beta: 0.9, weightDecay: 1e-4, kernels: ks });
  row(name, 'Signum.signs (momentumSignPackTo)', '-', 8 * d, timeMs(() => signum.signs(x)));
  row(name, 'Signum.apply (decoupled wd)', '-', 4 * d + d / 8, timeMs(() => signum.apply(params, messages[0])));
}

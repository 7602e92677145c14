/**
 * Throughput of every kernel of lib/kernels/contract.ts, JS against native, in one run, at 1M and
 * 16M elements (float32 unless the row says otherwise). GB/s counts the bytes a kernel must move
 * (reduceInto: read dst + read src + write dst; scale/divide: read + write; signPack: read floats +
 * write bits; voteCount: M = 8 packed rows read + 2 bit rows written; sqDistances/weightedSum: 16
 * points of n/16 coordinates read once; selectKth: the n values once, though quickselect touches
 * about 3n). Each cell is the best of >= 3 timed calls after one warm-up call (best, not mean: the
 * 2-core machine is shared). Before timing, native output is checked equal to JS output (64K).
 * Then the per-call cost on small arrays (ns per float32 reduceInto sum, n = 8 .. 4096).
 * Bounded: a row stops after 0.2 s or 30 calls; the whole run takes well under 2 minutes.
 *
 * Usage: node dist/bench/kernels.js [--sizes 1048576,16777216]
 */
import { cpus } from 'node:os';
import type { FloatArray, Kernels } from '../lib/kernels/contract.js';
import { jsKernels } from '../lib/kernels/js.js';
import { nativeKernels, nativeLoad } from '../lib/kernels/native.js';
import { benchArgs } from './args.js';

const args = benchArgs({
  name: 'kernels',
  summary: 'Throughput of every kernel, JS against native (prints a markdown report; bench/results/kernels.md holds one).',
  options: { sizes: { type: 'string', value: '1048576,16777216', describe: 'element counts, multiples of 512' } },
});

const MIN_CALLS = 3;
const MAX_CALLS = 30;
const MIN_SECONDS = 0.2;
const VOTERS = 8;
const POINTS = 16;
const CHECK_N = 1 << 16;

interface Row {
  name: string;
  /** Bytes the kernel must move for n elements. */
  bytes(n: number): number;
  /** Fresh inputs; `run` may mutate them (reset() restores what must be restored, untimed). */
  setup(n: number): { run(k: Kernels): unknown; reset(): void; output(): ArrayLike<number> };
}

function randomFloats(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 4294967296 - 0.5) * 100;
  }
  return out;
}

function reduceRow(dtype: 'float32' | 'float64' | 'int32', op: 'sum' | 'min' | 'max'): Row {
  const width = dtype === 'float64' ? 8 : 4;
  return {
    name: `reduceInto ${op} ${dtype}`,
    bytes: (n) => 3 * n * width,
    setup(n) {
      const make = (seed: number) => {
        const f = randomFloats(n, seed);
        return dtype === 'float32' ? f : dtype === 'float64' ? Float64Array.from(f) : Int32Array.from(f, (x) => Math.round(x * 1e6));
      };
      const dst = make(1);
      const src = make(2);
      // Re-adding the same src keeps values bounded enough for a bandwidth test; no reset needed.
      return { run: (k) => k.reduceInto(dst, src, op), reset: () => undefined, output: () => dst };
    },
  };
}

function scalarRow(kind: 'scale' | 'divide', dtype: 'float32' | 'float64' | 'int32'): Row {
  const width = dtype === 'float64' ? 8 : 4;
  return {
    name: `${kind} ${dtype}`,
    bytes: (n) => 2 * n * width,
    setup(n) {
      const f = randomFloats(n, 3);
      const dst = dtype === 'float32' ? f : dtype === 'float64' ? Float64Array.from(f) : Int32Array.from(f, (x) => Math.round(x * 1e6));
      // Factor 1 / divisor 1 keep values steady across repeated calls at the same cost per element.
      const run = kind === 'scale' ? (k: Kernels) => k.scale(dst as FloatArray, 1) : (k: Kernels) => k.divide(dst, dtype === 'int32' ? 1 : 1.0000001);
      return { run, reset: () => undefined, output: () => dst };
    },
  };
}

const rows: Row[] = [
  ...(['float32', 'float64', 'int32'] as const).flatMap((d) => (['sum', 'min', 'max'] as const).map((op) => reduceRow(d, op))),
  scalarRow('scale', 'float32'),
  scalarRow('scale', 'float64'),
  scalarRow('divide', 'float32'),
  scalarRow('divide', 'int32'),
  {
    name: 'signPack',
    bytes: (n) => n * 4 + n / 8,
    setup(n) {
      const src = randomFloats(n, 4);
      const out = new Uint32Array((n + 31) >>> 5);
      return { run: (k) => k.signPack(src, out), reset: () => undefined, output: () => out };
    },
  },
  {
    name: `voteCount M=${VOTERS}`,
    bytes: (n) => (VOTERS * n) / 8 + (2 * n) / 8,
    setup(n) {
      const words = n >>> 5;
      const packed = Array.from({ length: VOTERS }, (_, i) => new Uint32Array(randomFloats(words, 10 + i).buffer));
      const neg = new Uint32Array(words);
      const tie = new Uint32Array(words);
      return { run: (k) => k.voteCount(packed, words, neg, tie), reset: () => undefined, output: () => neg };
    },
  },
  {
    name: `sqDistances ${POINTS} points`,
    bytes: (n) => n * 4 + (n / POINTS) * 8,
    setup(n) {
      const d = n / POINTS;
      const points = Array.from({ length: POINTS }, (_, i) => randomFloats(d, 20 + i));
      const center = Float64Array.from(randomFloats(d, 5));
      const out = new Float64Array(POINTS);
      return { run: (k) => k.sqDistances(points, center, out), reset: () => undefined, output: () => out };
    },
  },
  {
    name: `weightedSum ${POINTS} points`,
    bytes: (n) => n * 4 + (n / POINTS) * 4,
    setup(n) {
      const d = n / POINTS;
      const points = Array.from({ length: POINTS }, (_, i) => randomFloats(d, 40 + i));
      const weights = Float64Array.from({ length: POINTS }, (_, i) => 1 / (i + 1));
      const out = new Float32Array(d);
      return { run: (k) => k.weightedSum(points, weights, out), reset: () => undefined, output: () => out };
    },
  },
  {
    name: 'selectKth (median)',
    bytes: (n) => n * 4,
    setup(n) {
      const pristine = randomFloats(n, 6);
      const values = pristine.slice();
      return { run: (k) => k.selectKth(values, n >>> 1), reset: () => values.set(pristine), output: () => values };
    },
  },
];

/** Best seconds per call over a bounded number of calls. */
function time(run: () => unknown, reset: () => void): number {
  reset();
  run(); // warm-up: JIT, page faults
  let best = Infinity;
  let spent = 0;
  for (let calls = 0; calls < MAX_CALLS && (calls < MIN_CALLS || spent < MIN_SECONDS); calls++) {
    reset();
    const t0 = process.hrtime.bigint();
    run();
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    best = Math.min(best, seconds);
    spent += seconds;
  }
  return best;
}

function sameOutput(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i]) && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) return false;
  return true;
}

function parseSizes(): number[] {
  if (args.sizes === undefined) return [1 << 20, 1 << 24];
  return args.sizes.split(',').map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n <= 0 || n % (32 * POINTS) !== 0) throw new Error(`--sizes: ${s} is not a positive multiple of ${32 * POINTS}`);
    return n;
  });
}

function main(): void {
  const sizes = parseSizes();
  const started = Date.now();
  const native = nativeKernels;
  console.log(`# kernels: JS vs native, ${new Date().toISOString()}`);
  console.log(`node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}, native: ${native ? `loaded (${nativeLoad.simd})` : `missing (${nativeLoad.reason})`}`);
  console.log('');
  console.log('| kernel | n | JS GB/s | native GB/s | native / JS |');
  console.log('|---|---:|---:|---:|---:|');
  for (const n of sizes) {
    for (const row of rows) {
      const state = row.setup(n);
      const jsSeconds = time(() => state.run(jsKernels), state.reset);
      let nativeCell = '-';
      let ratioCell = '-';
      if (native) {
        // Same inputs through both, compared, before the native timing (at CHECK_N elements: the
        // full check is the job of test/kernels/contract.test.ts; this guards against timing a
        // kernel that does something else).
        const a = row.setup(CHECK_N);
        const b = row.setup(CHECK_N);
        a.run(jsKernels);
        b.run(native);
        if (!sameOutput(a.output(), b.output())) throw new Error(`${row.name}: native output differs from JS`);
        const nativeSeconds = time(() => state.run(native), state.reset);
        nativeCell = (row.bytes(n) / nativeSeconds / 1e9).toFixed(2);
        ratioCell = `${(jsSeconds / nativeSeconds).toFixed(1)}x`;
      }
      const label = n >= 1 << 20 ? `${n / (1 << 20)}M` : String(n);
      console.log(`| ${row.name} | ${label} | ${(row.bytes(n) / jsSeconds / 1e9).toFixed(2)} | ${nativeCell} | ${ratioCell} |`);
    }
  }
  console.log('');
  console.log(`(M = 2^20 elements; best of >= ${MIN_CALLS} calls)`);
  printCallOverhead(native);
  console.log('');
  console.log(`(total ${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

/** Nanoseconds per float32 reduceInto sum on small arrays: where the N-API call cost shows. */
function printCallOverhead(native: Kernels | undefined): void {
  console.log('');
  console.log('| reduceInto sum float32, n | JS ns/call | native ns/call |');
  console.log('|---:|---:|---:|');
  for (const n of [8, 64, 256, 1024, 4096]) {
    const dst = new Float32Array(n).fill(1);
    const src = new Float32Array(n).fill(0);
    const calls = Math.ceil(1e6 / Math.max(1, n / 64));
    const perCall = (k: Kernels) => {
      for (let w = 0; w < 1000; w++) k.reduceInto(dst, src, 'sum');
      let best = Infinity;
      for (let round = 0; round < 3; round++) {
        const t0 = process.hrtime.bigint();
        for (let c = 0; c < calls / 3; c++) k.reduceInto(dst, src, 'sum');
        best = Math.min(best, Number(process.hrtime.bigint() - t0) / (calls / 3));
      }
      return best.toFixed(0);
    };
    console.log(`| ${n} | ${perCall(jsKernels)} | ${native ? perCall(native) : '-'} |`);
  }
}

main();

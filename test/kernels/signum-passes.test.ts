/**
 * Signum's two passes per step (issue 20 item 2) against a plain serial reference written here from
 * the formulas, and the native kernels against the JS twins bit for bit:
 *   momentumSignPackTo: check + momentum update into a second buffer + sign pack in one pass;
 *   signApply: x <- x - lr·(s + wd·x) reading the packed vote.
 * Random data at lengths that are not multiples of 8, 32 or 256 (the vector widths and word size),
 * buffers at unaligned offsets (the native loop streams only into 16-byte aligned buffers), one
 * length past the native streaming threshold (2^22 elements), +0/-0 gradients and momenta whose new
 * value is exactly +0 or -0 (both pack as +1: bit 1 iff m < 0), and the failure order: the first
 * NaN/Inf input wins over an earlier fp32 overflow, an overflow is reported when every input is finite.
 * The arithmetic is fp32 with a rounding after every operation (contract.ts): the serial reference
 * rounds through a Float32Array store (not Math.fround, which js.ts uses), and numpy's float32
 * arrays (/usr/bin/python3, an implementation of fp32 arithmetic independent of V8 and of the
 * addon) compute the same steps for a third opinion; that test is skipped without numpy.
 */
import { spawnSync } from 'node:child_process';
import t from 'tap';
import { jsKernels, nativeKernels, nativeLoad } from '../../lib/kernels/index.js';
import type { Kernels } from '../../lib/kernels/index.js';
import { Prng } from '../../lib/prng.js';

const prng = new Prng(2020);
const impls: [string, Kernels | undefined][] = [
  ['js', jsKernels],
  ['native', nativeKernels],
];
const nativeSkip = nativeKernels === undefined ? `native addon not built: ${nativeLoad.reason}` : false;

/** A Float32Array of n elements at `offset` floats into a fresh buffer (offset 1: 4-byte aligned only). */
function at(n: number, offset: number): Float32Array {
  return new Float32Array(new ArrayBuffer(4 * (n + offset)), 4 * offset, n);
}

/** Random values with the edge cases mixed in: +0, -0, tiny and large magnitudes. */
function values(n: number, offset: number): Float32Array {
  const x = at(n, offset);
  for (let i = 0; i < n; i++) {
    const u = prng.next();
    x[i] = u < 0.05 ? 0 : u < 0.1 ? -0 : u < 0.12 ? 1e-30 * prng.normal() : u < 0.14 ? 1e30 * prng.normal() : prng.normal();
  }
  return x;
}

/** fp32 rounding through a store into a Float32Array: the reference's own way to round. */
const cell = new Float32Array(1);
function r32(x: number): number {
  cell[0] = x;
  return cell[0];
}

/**
 * The serial reference of momentumSignPackTo: one element at a time, in the contract's words:
 * b = fp32(beta), a = fp32(1 - beta), w = fp32(wd); d = g or fp32(g + fp32(w·x)); m' = fp32(fp32(b·m) + fp32(a·d)).
 */
function referenceMomentum(grad: Float32Array, momentum: Float32Array, beta: number, params: Float32Array | undefined, wd: number): { next: Float32Array; signs: Uint32Array; result: number } {
  const d = momentum.length;
  const next = new Float32Array(d);
  const signs = new Uint32Array(Math.ceil(d / 32));
  const b = r32(beta);
  const a = r32(1 - beta);
  const w = r32(wd);
  let overflow = -1;
  for (let i = 0; i < d; i++) {
    const inputs = params === undefined ? [grad[i]] : [grad[i], params[i]];
    if (inputs.some((v) => !Number.isFinite(v))) return { next, signs, result: i };
    const g = params === undefined ? grad[i] : r32(grad[i] + r32(w * params[i]));
    next[i] = r32(r32(b * momentum[i]) + r32(a * g));
    if (next[i] < 0) signs[i >> 5] |= 1 << (i & 31);
    if (overflow < 0 && !Number.isFinite(next[i])) overflow = i;
  }
  return { next, signs, result: overflow };
}

/** The serial reference of signApply: s = -1 where the vote bit is 1, else +1; fp32 after every operation. */
function referenceApply(params: Float32Array, votes: Uint32Array, lr: number, wd: number): Float32Array {
  const l = r32(lr);
  const w = r32(wd);
  return Float32Array.from(params, (x, i) => {
    const s = (votes[i >> 5] >>> (i & 31)) & 1 ? -1 : 1;
    return wd === 0 ? r32(x - r32(l * s)) : r32(x - r32(l * r32(s + r32(w * x))));
  });
}

const bits = (a: Float32Array): Uint32Array => new Uint32Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));

/** The first index where the two differ (as bits for floats), or -1: cheap on long arrays, where t.same is slow. */
function firstDiff(a: Float32Array | Uint32Array, b: Float32Array | Uint32Array): number {
  const x = a instanceof Float32Array ? bits(a) : a;
  const y = b instanceof Float32Array ? bits(b) : b;
  if (x.length !== y.length) return Math.min(x.length, y.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i;
  return -1;
}

for (const [name, k] of impls) {
  t.test(`${name}: momentumSignPackTo equals the serial reference`, { skip: k === undefined ? nativeSkip : false }, async (t) => {
    if (k === undefined) return;
    for (const d of [0, 1, 7, 8, 9, 31, 32, 33, 255, 256, 257, 1000, 4099, 65_537]) {
      for (const [beta, voted] of [[0.9, false], [0.9, true], [0, true], [0.5, false]] as const) {
        for (const offset of [0, 1, 4]) {
          const grad = values(d, offset);
          const momentum = values(d, (offset + 1) % 4);
          // Momenta whose new value is exactly +0 or -0: m = +-0 with g = +-0.
          for (let i = 0; i < d; i += 13) {
            momentum[i] = i % 2 === 0 ? -0 : 0;
            grad[i] = i % 4 < 2 ? -0 : 0;
          }
          const params = voted ? values(d, offset) : undefined;
          const wd = voted ? 0.01 : 0;
          const before = momentum.slice();
          const next = at(d, offset);
          const out = new Uint32Array(Math.ceil(d / 32)).fill(0xdeadbeef);
          const result = k.momentumSignPackTo(grad, momentum, next, beta, out, params, wd);
          const ref = referenceMomentum(grad, momentum, beta, params, wd);
          const label = `d=${d} beta=${beta}${voted ? ' voted' : ''} offset=${offset}`;
          t.equal(result, -1, `${label}: finite`);
          t.equal(firstDiff(next, ref.next), -1, `${label}: new momentum bit for bit`);
          t.equal(firstDiff(out, ref.signs), -1, `${label}: signs`);
          t.equal(firstDiff(momentum, before), -1, `${label}: old momentum only read`);
        }
      }
    }
    // Past the native streaming threshold (2^22 elements), with a partial last word; `next` at
    // offsets 0 and 4 floats (16 bytes apart, so one of them is 32-byte aligned: 32-byte streaming
    // stores) and 1 (4-byte aligned only: plain stores).
    const d = (1 << 22) + 37;
    const grad = values(d, 0);
    const momentum = values(d, 0);
    const ref = referenceMomentum(grad, momentum, 0.9, undefined, 0);
    for (const offset of [0, 4, 1]) {
      const next = at(d, offset);
      const out = new Uint32Array(Math.ceil(d / 32));
      t.equal(k.momentumSignPackTo(grad, momentum, next, 0.9, out, undefined, 0), -1);
      t.equal(firstDiff(next, ref.next), -1, `d=${d} next at offset ${offset}: new momentum bit for bit`);
      t.equal(firstDiff(out, ref.signs), -1, `d=${d}: signs`);
    }
  });

  t.test(`${name}: momentumSignPackTo failures`, { skip: k === undefined ? nativeSkip : false }, async (t) => {
    if (k === undefined) return;
    const d = 1000;
    for (const bad of [NaN, Infinity, -Infinity]) {
      for (const i of [0, 31, 32, 517, 999]) {
        const grad = values(d, 0);
        grad[i] = bad;
        const momentum = values(d, 0);
        const before = momentum.slice();
        t.equal(k.momentumSignPackTo(grad, momentum, new Float32Array(d), 0.9, new Uint32Array(32), undefined, 0), i, `grad[${i}] = ${bad}`);
        t.equal(firstDiff(momentum, before), -1, 'momentum only read');
        const params = values(d, 0);
        params[i] = bad;
        t.equal(k.momentumSignPackTo(values(d, 0), momentum, new Float32Array(d), 0.9, new Uint32Array(32), params, 0.1), i, `params[${i}] = ${bad}`);
      }
    }
    // An fp32 overflow (finite inputs, 'voted' decay) is reported at its first index, unless a
    // later input is bad: the bad input wins.
    const huge = new Float32Array(d).fill(1);
    huge[40] = 3e38;
    huge[700] = 3e38;
    const momentum = new Float32Array(d);
    t.equal(k.momentumSignPackTo(huge, momentum, new Float32Array(d), 0.5, new Uint32Array(32), huge, 4), 40, 'first overflow');
    const later = huge.slice();
    later[900] = NaN;
    t.equal(k.momentumSignPackTo(later, momentum, new Float32Array(d), 0.5, new Uint32Array(32), huge, 4), 900, 'a bad input after an overflow wins');
    t.equal(referenceMomentum(later, momentum, 0.5, huge, 4).result, 900, 'as the reference says');
  });

  t.test(`${name}: signApply equals the serial reference`, { skip: k === undefined ? nativeSkip : false }, async (t) => {
    if (k === undefined) return;
    for (const d of [0, 1, 7, 8, 9, 31, 32, 33, 255, 256, 257, 4099, 65_537]) {
      for (const wd of [0, 1e-3]) {
        for (const offset of [0, 1]) {
          const params = values(d, offset);
          // Half the votes random, then runs of all-minus and all-plus words.
          const votes = Uint32Array.from({ length: Math.ceil(d / 32) }, (_, w) => (w % 3 === 0 ? 0xffffffff : w % 3 === 1 ? 0 : prng.nextUint32()));
          const ref = referenceApply(params, votes, 1e-3, wd);
          k.signApply(params, votes, 1e-3, wd);
          t.equal(firstDiff(params, ref), -1, `d=${d} wd=${wd} offset=${offset}`);
        }
      }
    }
  });
}

t.test('native equals js bit for bit on the same random steps', { skip: nativeSkip }, async (t) => {
  if (nativeKernels === undefined) return;
  const d = 100_003;
  for (const voted of [false, true]) {
    const state = impls.map(() => ({ m: new Float32Array(d), spare: new Float32Array(d), x: values(d, 0) }));
    state[1].x.set(state[0].x);
    for (let step = 0; step < 4; step++) {
      const grad = values(d, 0);
      const votes = Uint32Array.from({ length: Math.ceil(d / 32) }, () => prng.nextUint32());
      const signs = state.map((s, i) => {
        const out = new Uint32Array(votes.length);
        const k = impls[i][1]!;
        t.equal(k.momentumSignPackTo(grad, s.m, s.spare, 0.9, out, voted ? s.x : undefined, voted ? 1e-2 : 0), -1);
        [s.m, s.spare] = [s.spare, s.m];
        k.signApply(s.x, votes, 1e-3, voted ? 0 : 1e-2);
        return out;
      });
      t.equal(firstDiff(signs[1], signs[0]), -1, `step ${step}${voted ? ' voted' : ''}: signs`);
      t.equal(firstDiff(state[1].m, state[0].m), -1, `step ${step}: momentum`);
      t.equal(firstDiff(state[1].x, state[0].x), -1, `step ${step}: parameters`);
    }
  }
});

/** numpy's float32 arrays compute the contract's steps: every ufunc rounds its result to fp32, and
 * separate ufuncs never fuse a multiply into an add. Inputs and outputs are raw little-endian fp32. */
const NUMPY_STEPS = `
import sys, numpy as np
d, beta, wd, lr = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
raw = np.frombuffer(sys.stdin.buffer.read(), dtype='<u4')
g, m, x = (raw[k * d:(k + 1) * d].view('<f4') for k in range(3))
votes = raw[3 * d:]
b, a, w, l = np.float32(beta), np.float32(1.0 - beta), np.float32(wd), np.float32(lr)
bits = (votes[np.arange(d) >> 5] >> (np.arange(d) & 31).astype(np.uint32)) & 1
s = np.where(bits == 1, np.float32(-1), np.float32(1)).astype(np.float32)
with np.errstate(all='ignore'):
    plain = b * m + a * g
    voted = b * m + a * (g + w * x)
    step = x - l * s
    decayed = x - l * (s + w * x)
out = np.concatenate([plain, voted, step, decayed]).astype('<f4')
assert out.dtype == np.float32 and all(v.dtype == np.float32 for v in (plain, voted, step, decayed))
sys.stdout.buffer.write(out.tobytes())
`;
const numpy = spawnSync('/usr/bin/python3', ['-c', 'import numpy'], { encoding: 'utf8' });
const numpySkip = numpy.status === 0 ? false : 'needs /usr/bin/python3 with numpy (python3-numpy)';

t.test('the fp32 steps equal numpy float32 arithmetic bit for bit', { skip: numpySkip }, async (t) => {
  const d = 100_003;
  const beta = 0.9;
  const wd = 0.01;
  const lr = 1e-3;
  const grad = values(d, 0);
  const momentum = values(d, 0);
  const params = values(d, 0);
  const votes = Uint32Array.from({ length: Math.ceil(d / 32) }, () => prng.nextUint32());
  const input = Buffer.concat([grad, momentum, params].map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength)).concat([Buffer.from(votes.buffer)]));
  const run = spawnSync('/usr/bin/python3', ['-c', NUMPY_STEPS, String(d), String(beta), String(wd), String(lr)], { input, maxBuffer: 64 << 20, timeout: 60_000 });
  t.equal(run.status, 0, run.stderr?.toString());
  if (run.status !== 0) return;
  const out = new Float32Array(new Uint8Array(run.stdout).buffer);
  t.equal(out.length, 4 * d, 'numpy wrote four vectors');
  const want = [0, 1, 2, 3].map((k) => out.subarray(k * d, (k + 1) * d));
  // The serial reference first (the test's own fp32 rounding), then each kernel set.
  t.equal(firstDiff(referenceMomentum(grad, momentum, beta, undefined, 0).next, want[0]), -1, 'reference momentum = numpy');
  t.equal(firstDiff(referenceMomentum(grad, momentum, beta, params, wd).next, want[1]), -1, "reference 'voted' momentum = numpy");
  t.equal(firstDiff(referenceApply(params, votes, lr, 0), want[2]), -1, 'reference signApply = numpy');
  t.equal(firstDiff(referenceApply(params, votes, lr, wd), want[3]), -1, 'reference signApply with wd = numpy');
  for (const [name, k] of impls) {
    if (k === undefined) continue;
    const next = new Float32Array(d);
    const out32 = new Uint32Array(votes.length);
    t.equal(k.momentumSignPackTo(grad, momentum, next, beta, out32, undefined, 0), -1);
    t.equal(firstDiff(next, want[0]), -1, `${name}: momentum = numpy`);
    t.equal(k.momentumSignPackTo(grad, momentum, next, beta, out32, params, wd), -1);
    t.equal(firstDiff(next, want[1]), -1, `${name}: 'voted' momentum = numpy`);
    const x0 = params.slice();
    k.signApply(x0, votes, lr, 0);
    t.equal(firstDiff(x0, want[2]), -1, `${name}: signApply = numpy`);
    const x1 = params.slice();
    k.signApply(x1, votes, lr, wd);
    t.equal(firstDiff(x1, want[3]), -1, `${name}: signApply with wd = numpy`);
  }
  // The fp32 rule is not the double one: on these inputs rounding only at the end would differ.
  let differs = 0;
  for (let i = 0; i < d; i++) if (!Object.is(Math.fround(beta * momentum[i] + (1 - beta) * grad[i]), want[0][i])) differs++;
  t.ok(differs > 0, `the double-then-fp32 rule differs from the fp32 one at ${differs} of ${d} coordinates`);
});

t.test('native momentumSignPackTo refuses bad arguments with TypeError/RangeError', { skip: nativeSkip }, async (t) => {
  const k = nativeKernels;
  if (k === undefined) return;
  const f = new Float32Array(40);
  const out = new Uint32Array(2);
  t.throws(() => k.momentumSignPackTo(f, f.slice(), new Float32Array(39), 0.9, out, undefined, 0), { name: 'RangeError', message: /momentumSignPackTo: next has 39 elements, momentum has 40; they must be equal/ });
  t.throws(() => k.momentumSignPackTo(new Float32Array(39), f, f.slice(), 0.9, out, undefined, 0), { name: 'RangeError', message: /grad has 39 elements, needs at least 40/ });
  t.throws(() => k.momentumSignPackTo(f, f.slice(), f.slice(), 0.9, new Uint32Array(1), undefined, 0), { name: 'RangeError', message: /out has 1 words, needs at least 2/ });
  t.throws(() => k.momentumSignPackTo(f, f, f, 0.9, out, undefined, 0), { name: 'RangeError', message: /next or out shares memory with another argument/ }, 'next is the momentum');
  t.throws(() => k.momentumSignPackTo(f.slice(), f, new Float32Array(40), 0.9, new Uint32Array(f.buffer, 0, 2), undefined, 0), { name: 'RangeError', message: /shares memory/ }, 'out inside the momentum');
  t.throws(() => k.momentumSignPackTo(f, f.slice(), f.slice(), 0.9, out, new Float64Array(40) as unknown as Float32Array, 0.1), { name: 'TypeError', message: /'params' must be a Float32Array or undefined/ });
  t.throws(() => k.momentumSignPackTo(f, f.slice(), f.slice(), '0.9' as unknown as number, out, undefined, 0), { name: 'TypeError', message: /'beta' must be a number/ });
});

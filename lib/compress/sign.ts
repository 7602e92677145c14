/**
 * signSGD's 1-bit wire format (Bernstein, Zhao, Azizzadenesheli, Anandkumar, "signSGD with Majority
 * Vote is Communication Efficient and Fault Tolerant", ICLR 2019): coordinate i of a d-vector is
 * bit (i & 31) of word i >> 5 (contiguous, LSB first), and the bit is 1 iff x[i] < 0. So +0 and -0
 * both encode +1, as sign(0) -> +1 in the authors' ICLR'19 code; bits past d in the
 * last word are 0. A message is ceil(d/32) 32-bit words (4·ceil(d/32) bytes, d/8 nominal); the
 * transport adds its header.
 * NaN and +-Inf have no sign worth voting with (the reference casts them silently): packing them
 * fails with ENUMERIC naming the rank and the first bad index.
 * Cost: one pass over d floats (kernels.signPack), d/8 bytes written; unpacking writes d floats.
 */
import { ZcollError } from '../errors.js';
import { kernels as defaultKernels } from '../kernels/index.js';
import type { Kernels } from '../kernels/index.js';

/** Words of a packed message of d signs: ceil(d/32). */
export function packedWords(d: number): number {
  return Math.ceil(d / 32);
}

/** Payload bytes of a packed message of d signs (without the transport header). */
export function packedBytes(d: number): number {
  return 4 * packedWords(d);
}

export interface PackSignsOptions {
  /** This rank, named in errors. */
  rank?: number;
  /** Destination of ceil(d/32) words or more (only the first ceil(d/32) are written); fresh if absent. */
  out?: Uint32Array;
  /** Kernel implementation (default: the one in use, see lib/kernels/index.ts). */
  kernels?: Kernels;
}

/** Packs the signs of x: bit = 1 iff x[i] < 0. Throws ENUMERIC at the first NaN or +-Inf. */
export function packSigns(x: Float32Array, opts: PackSignsOptions = {}): Uint32Array {
  const ctx = { op: 'packSigns', ...(opts.rank !== undefined ? { rank: opts.rank } : {}) };
  if (!(x instanceof Float32Array)) {
    throw new ZcollError('EINVAL', `argument 'x' of packSigns must be a Float32Array, got ${describe(x)}`, ctx);
  }
  const words = packedWords(x.length);
  const out = opts.out ?? new Uint32Array(words);
  if (!(out instanceof Uint32Array) || out.length < words) {
    throw new ZcollError(
      'EINVAL',
      `option 'out' of packSigns must be a Uint32Array of at least ${words} words for ${x.length} signs, got ${describe(out)}`,
      ctx,
    );
  }
  const bad = (opts.kernels ?? defaultKernels).signPack(x, out);
  if (bad >= 0) {
    throw new ZcollError(
      'ENUMERIC',
      `cannot take the sign of element ${bad} of ${x.length}: it is ${String(x[bad])} (NaN and +-Inf are refused)`,
      { ...ctx, details: { index: bad, value: String(x[bad]), length: x.length } },
    );
  }
  return out;
}

/**
 * Decodes d signs from packed words to +1 / -1 floats. Bits past d are ignored (a peer may have set
 * them; they must not leak into the result).
 */
export function unpackSigns(packed: Uint32Array, d: number, out?: Float32Array): Float32Array {
  if (!(packed instanceof Uint32Array)) {
    throw new ZcollError('EINVAL', `argument 'packed' of unpackSigns must be a Uint32Array, got ${describe(packed)}`, {
      op: 'unpackSigns',
    });
  }
  if (!Number.isInteger(d) || d < 0) {
    throw new ZcollError('EINVAL', `argument 'd' of unpackSigns must be a non-negative integer, got ${String(d)}`, {
      op: 'unpackSigns',
    });
  }
  const words = packedWords(d);
  if (packed.length < words) {
    throw new ZcollError('EINVAL', `unpackSigns: ${d} signs need ${words} packed words, got ${packed.length}`, {
      op: 'unpackSigns',
      details: { expected: words, received: packed.length },
    });
  }
  const dst = out ?? new Float32Array(d);
  if (!(dst instanceof Float32Array) || dst.length < d) {
    throw new ZcollError('EINVAL', `option 'out' of unpackSigns must be a Float32Array of at least ${d} elements, got ${describe(dst)}`, {
      op: 'unpackSigns',
    });
  }
  const full = d >>> 5;
  for (let w = 0; w < full; w++) {
    const word = packed[w];
    const base = w << 5;
    for (let j = 0; j < 32; j++) dst[base + j] = 1 - 2 * ((word >>> j) & 1);
  }
  const base = full << 5;
  if (base < d) {
    const word = packed[full];
    for (let j = 0; base + j < d; j++) dst[base + j] = 1 - 2 * ((word >>> j) & 1);
  }
  return dst;
}

/** The sign of coordinate i in a packed message: +1 or -1. */
export function signAt(packed: Uint32Array, i: number): 1 | -1 {
  return (packed[i >>> 5] >>> (i & 31)) & 1 ? -1 : 1;
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (ArrayBuffer.isView(v)) return `${v.constructor.name}(${(v as unknown as { length: number }).length})`;
  return typeof v;
}

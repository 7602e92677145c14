/**
 * Signum with majority vote (Bernstein, Zhao, Azizzadenesheli, Anandkumar, ICLR 2019, Alg. 1) on
 * flat fp32 typed arrays. Per step, on each worker:
 *   m <- beta·m + (1 - beta)·g          momentum kept locally in fp32, never sent;
 *   send sign(m)                         1 bit per coordinate (sign.ts), d/8 bytes;
 *   V <- majority vote of all signs      majority-vote.ts, done by the caller's transport mode;
 *   x <- x - lr·(V + wd·x)               weight decay after the vote ('decoupled', the ICLR'19 code).
 * wdMode 'voted' is the ICML'18 form (Bernstein, Wang, Azizzadenesheli, Anandkumar; mxnet's Signum):
 * the decay enters the momentum before the sign, m <- beta·m + (1 - beta)·(g + wd·x), then
 * x <- x - lr·V. The two are different optimizers (Bernstein et al., ICML'18 and ICLR'19). beta = 0 gives signSGD (m = g).
 * sign(0) is +1 (the ICLR'19 wire rule); the ternary sign(0) = 0 of the ICML'18 runs is not 1 bit
 * and is not offered.
 * Arithmetic is fp32 with a rounding after every operation, as PyTorch and the GPU frameworks
 * compute a momentum update: m <- fp32(fp32(b·m) + fp32(a·g)) with b = fp32(beta), a = fp32(1 - beta),
 * and x <- fp32(x - fp32(l·fp32(V + fp32(w·x)))) with l = fp32(lr), w = fp32(wd), in exactly that order
 * and without FMA (lib/kernels/contract.ts): deterministic run to run and rank to rank, and the
 * same bits with the JS and the native kernels. lr and a non-zero wd must therefore be normal fp32
 * numbers (about 1.2e-38 to 3.4e38): smaller ones would round to 0 or to a subnormal, larger to Inf.
 * Cost per step: two passes over memory, the fewest the data allows (the gradient exists only
 * after the previous update, so the update and the next momentum pass cannot share one):
 *   1. kernels.momentumSignPackTo: checks g (and x, 'voted'), updates the momentum and packs its
 *      signs in one pass, writing the new momentum to a second buffer: the old one is only read, so
 *      a bad gradient (or an fp32 overflow) leaves the state as it was without a checking pass
 *      before the update. Reads 8d (12d 'voted'), writes 4d (streamed: no read for ownership) + d/8.
 *      signSGD (beta = 0, no 'voted' decay) packs g directly with kernels.signPack (reads 4d).
 *   2. kernels.signApply: x <- x - lr·(V + wd·x) reading the packed vote. Reads 4d + d/8, writes 4d.
 * 20d bytes per step in all against 24d for check + in-place momentum + update; the price is a
 * second momentum buffer (4d bytes of memory). No allocation per step: the message buffer and the
 * error contexts are made once.
 */
import { ZcollError } from '../errors.js';
import type { ErrorContext } from '../errors.js';
import { kernels as defaultKernels } from '../kernels/index.js';
import { allocFloat32, allocUint32 } from '../kernels/huge-pages.js';
import type { Kernels } from '../kernels/index.js';
import { packedWords } from './sign.js';

export const WEIGHT_DECAY_MODES = ['decoupled', 'voted'] as const;
export type WeightDecayMode = (typeof WEIGHT_DECAY_MODES)[number];

export interface SignumOptions {
  /** Learning rate eta (> 0). The papers' defaults: 1e-4 (ImageNet), 1e-3 (CIFAR, QRNN). */
  lr: number;
  /** Momentum beta in [0, 1) (default 0.9, the ICLR'19 default); 0 is signSGD. */
  beta?: number;
  /** Weight decay lambda >= 0 (default 0). */
  weightDecay?: number;
  /** 'decoupled' (default): x -= lr·(V + wd·x), ICLR'19. 'voted': wd·x is added to g before the momentum and the sign, ICML'18. */
  wdMode?: WeightDecayMode;
  /** This rank, named in errors. */
  rank?: number;
  /** Kernel implementation of the momentum, pack and update passes (default: the one in use). */
  kernels?: Kernels;
}

/** The vote exchange of one step: this worker's packed signs in, the packed majority vote out. */
export type VoteExchange = (signs: Uint32Array) => Uint32Array | Promise<Uint32Array>;

export class Signum {
  /** Number of coordinates (parameters). */
  readonly d: number;
  readonly beta: number;
  readonly weightDecay: number;
  readonly wdMode: WeightDecayMode;
  private learningRate: number;
  private readonly rank: number | undefined;
  private readonly kernels: Kernels;
  private readonly signsBuffer: Uint32Array;
  /** The momentum (current) and the buffer the next step writes into; swapped after each good step. */
  private current: Float32Array;
  private spare: Float32Array;
  private readonly signsCtx: ErrorContext;
  private readonly applyCtx: ErrorContext;

  constructor(d: number, opts: SignumOptions) {
    const ctx = ctxOf(opts.rank, 'Signum');
    if (!Number.isInteger(d) || d < 0) {
      throw new ZcollError('EINVAL', `argument 'd' of Signum must be a non-negative integer, got ${String(d)}`, ctx);
    }
    const beta = opts.beta ?? 0.9;
    if (!(beta >= 0 && beta < 1)) {
      throw new ZcollError('EINVAL', `option 'beta' of Signum must be in [0, 1), got ${String(beta)}`, ctx);
    }
    const wd = opts.weightDecay ?? 0;
    if (!(wd >= 0 && Number.isFinite(wd))) {
      throw new ZcollError('EINVAL', `option 'weightDecay' of Signum must be a finite number >= 0, got ${String(wd)}`, ctx);
    }
    if (wd !== 0 && !isNormal32(wd)) {
      throw new ZcollError('EINVAL', `option 'weightDecay' of Signum is used in fp32 and must be 0 or between ${FP32_MIN_NORMAL} and ${FP32_MAX}, got ${String(wd)}`, ctx);
    }
    const wdMode = opts.wdMode ?? 'decoupled';
    if (!(WEIGHT_DECAY_MODES as readonly string[]).includes(wdMode)) {
      throw new ZcollError('EINVAL', `option 'wdMode' of Signum must be 'decoupled' or 'voted', got ${JSON.stringify(wdMode)}`, ctx);
    }
    this.d = d;
    this.beta = beta;
    this.weightDecay = wd;
    this.wdMode = wdMode;
    this.rank = opts.rank;
    this.kernels = opts.kernels ?? defaultKernels;
    this.learningRate = checkLr(opts.lr, ctx);
    // In huge pages where the kernel offers them (kernels/huge-pages.ts): the momentum pass streams
    // through both buffers every step, and 2 MiB pages spare it a TLB miss and a prefetcher stop per 4 KiB.
    this.current = allocFloat32(d);
    // signSGD never updates a momentum: no second buffer.
    this.spare = this.beta === 0 && !(wdMode === 'voted' && wd !== 0) ? this.current : allocFloat32(d);
    this.signsBuffer = allocUint32(packedWords(d));
    this.signsCtx = ctxOf(opts.rank, 'Signum.signs');
    this.applyCtx = ctxOf(opts.rank, 'Signum.apply');
  }

  /**
   * The local momentum m, fp32, starts at 0. Not kept for signSGD (beta = 0 without 'voted' decay,
   * where m would be g): the signs of g are packed directly and this stays 0. The momentum lives
   * in two buffers used in turn, so this is a different array after each successful signs() call:
   * read it (or set() it, to restore a state) after a step, do not keep it across steps.
   */
  get momentum(): Float32Array {
    return this.current;
  }

  /** The learning rate; settable between steps (schedules, warm-up). */
  get lr(): number {
    return this.learningRate;
  }

  set lr(value: number) {
    this.learningRate = checkLr(value, ctxOf(this.rank, 'Signum'));
  }

  /**
   * Updates the momentum with this step's gradient and returns its packed signs, the message to
   * send. `params` is read only in wdMode 'voted'. The returned array is reused by the next call,
   * or is `out` when given: ceil(d/32) words to pack into, such as a registered vote scratch's
   * `signs` (SignVoteScratch), which same-host peers then read in place.
   * A NaN or +-Inf in grad (or in params, 'voted') fails with ENUMERIC and leaves the momentum as it was.
   */
  signs(grad: Float32Array, params?: Float32Array, out: Uint32Array = this.signsBuffer): Uint32Array {
    const ctx = this.signsCtx;
    this.checkLength(grad, 'grad', ctx);
    if (out !== this.signsBuffer && !(out instanceof Uint32Array && out.length === this.signsBuffer.length)) {
      throw new ZcollError('EINVAL', `Signum.signs: 'out' must be a Uint32Array of ${this.signsBuffer.length} words for ${this.d} parameters, got ${out instanceof Uint32Array ? `${out.length} words` : typeof out}`, ctx);
    }
    const voted = this.wdMode === 'voted' && this.weightDecay !== 0;
    if (voted) {
      if (params === undefined) {
        throw new ZcollError('EINVAL', `Signum.signs needs 'params' when wdMode is 'voted' (the decay enters the momentum)`, ctx);
      }
      this.checkLength(params, 'params', ctx);
    }
    if (this.beta === 0 && !voted) {
      // signSGD: m would be 0·m + g, whose signs are g's (+-0 both pack as +1): skip the momentum.
      // The pack reports the first NaN/Inf itself: one pass, no separate check.
      const bad = this.kernels.signPack(grad, out);
      if (bad >= 0) throw this.badInput('grad', grad, bad, ctx);
      return out;
    }
    const bad = this.kernels.momentumSignPackTo(grad, this.current, this.spare, this.beta, out, voted ? params : undefined, voted ? this.weightDecay : 0);
    if (bad >= 0) {
      // The momentum (this.current) was only read: the state is as it was before the call.
      if (!isFinite32(grad[bad])) throw this.badInput('grad', grad, bad, ctx);
      if (voted && !isFinite32(params![bad])) throw this.badInput('params', params!, bad, ctx);
      // Finite inputs can still overflow fp32 on the store (|m| > 3.4e38): no sign worth sending.
      // Recomputed here: the kernel leaves `next` unspecified when it fails.
      const value = String(momentumElement(this.beta, this.current[bad], grad[bad], voted ? this.weightDecay : 0, voted ? params![bad] : 0));
      throw new ZcollError(
        'ENUMERIC',
        `momentum element ${bad} of ${this.d} overflowed fp32 to ${value}; the gradient (or the weight decay term) is too large; the momentum was left unchanged`,
        { ...ctx, details: { index: bad, value } },
      );
    }
    const previous = this.current;
    this.current = this.spare;
    this.spare = previous;
    return out;
  }

  /** Applies the packed vote V (ceil(d/32) words) to params in place. */
  apply(params: Float32Array, vote: Uint32Array): void {
    const ctx = this.applyCtx;
    this.checkLength(params, 'params', ctx);
    const words = packedWords(this.d);
    if (!(vote instanceof Uint32Array) || vote.length < words) {
      throw new ZcollError('EINVAL', `Signum.apply: the vote must be a Uint32Array of ${words} words for ${this.d} parameters`, ctx);
    }
    this.kernels.signApply(params, vote, this.learningRate, this.wdMode === 'decoupled' ? this.weightDecay : 0);
  }

  /** One step: signs, exchange (the caller's vote mode), apply. */
  async step(params: Float32Array, grad: Float32Array, exchange: VoteExchange): Promise<void> {
    const signs = this.signs(grad, params);
    const vote = await exchange(signs);
    this.apply(params, vote);
  }

  /** One step of a single worker (M = 1): the vote is this worker's own sign. */
  stepLocal(params: Float32Array, grad: Float32Array): void {
    this.apply(params, this.signs(grad, params));
  }

  private checkLength(v: Float32Array, name: string, ctx: ErrorContext): void {
    if (!(v instanceof Float32Array) || v.length !== this.d) {
      throw new ZcollError(
        'EINVAL',
        `'${name}' must be a Float32Array of ${this.d} elements, got ${v instanceof Float32Array ? `${v.length} elements` : typeof v}`,
        ctx,
      );
    }
  }

  private badInput(name: string, v: Float32Array, i: number, ctx: ErrorContext): ZcollError {
    return new ZcollError('ENUMERIC', `'${name}' element ${i} of ${this.d} is ${String(v[i])}; the momentum was left unchanged`, {
      ...ctx,
      details: { index: i, value: String(v[i]) },
    });
  }
}

/** x - x is NaN exactly for NaN and +-Inf (the kernels' test). */
function isFinite32(x: number): boolean {
  return x - x === 0;
}

/** The smallest normal and the largest finite fp32 numbers. */
const FP32_MIN_NORMAL = 2 ** -126;
const FP32_MAX = Math.fround(3.4028234663852886e38);

/** True iff x rounds to a normal, finite fp32 number (the kernels compute with fround(x)). */
function isNormal32(x: number): boolean {
  const r = Math.abs(Math.fround(x));
  return r >= FP32_MIN_NORMAL && r <= FP32_MAX;
}

/**
 * One element of the kernels' fp32 momentum rule (lib/kernels/contract.ts), for error messages:
 * fround(fround(b·m) + fround(a·(g [+ fround(w·x)]))), rounding after every operation.
 */
function momentumElement(beta: number, m: number, g: number, wd: number, x: number): number {
  const decayed = wd === 0 ? g : Math.fround(g + Math.fround(Math.fround(wd) * x));
  return Math.fround(Math.fround(Math.fround(beta) * m) + Math.fround(Math.fround(1 - beta) * decayed));
}

function checkLr(lr: number, ctx: ErrorContext): number {
  if (!(typeof lr === 'number' && lr > 0 && Number.isFinite(lr))) {
    throw new ZcollError('EINVAL', `option 'lr' of Signum must be a finite number > 0, got ${String(lr)}`, ctx);
  }
  if (!isNormal32(lr)) {
    throw new ZcollError('EINVAL', `option 'lr' of Signum is used in fp32 and must be between ${FP32_MIN_NORMAL} and ${FP32_MAX}, got ${String(lr)}`, ctx);
  }
  return lr;
}

function ctxOf(rank: number | undefined, op: string): ErrorContext {
  return rank !== undefined ? { rank, op } : { op };
}

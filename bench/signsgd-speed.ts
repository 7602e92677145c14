/**
 * Time and bytes per step of distributed Signum against float32 ring all-reduce (issue 5 item 7),
 * in one run over the same ranks: d = 25M (ResNet-50 size), 4 rank processes on one host.
 * Variants, interleaved rep by rep so all see the same machine load:
 *   allreduce-f32     comm.allReduce(grad, op 'avg', in place on the gradient buffer, as a training
 *                     loop owns its fresh gradient), then the SGD step x += (-lr)·g (kernels.axpy);
 *   allreduce-f32-registered  the same on a buffer of comm.allocBuffer (same-host peers read it in
 *                     place), as DistributedOptimizer's fusion buffer is: zcoll's fastest float32 path;
 *   signum-allgather  Signum.signs (finiteness check + momentum fused with the pack) -> signVote
 *                     'allgather' -> Signum.apply (kernels.signApply); the vote is given a
 *                     SignVoteScratch made once per variant, registered with the communicator, as
 *                     the training strategy keeps one: the signs are packed into its registered
 *                     buffer, and same-host peers read what it sends in place;
 *   signum-server     the same with signVote 'server' (root 0);
 *   signum-reduce     the same with signVote 'reduce'.
 *   signum-<mode>-plain  the same with a scratch in ordinary memory (every message copied into a
 *                     shared-memory slot per peer): the path before registered scratches, same sitting.
 *   allreduce-f32-momentum  the f32 all-reduce, then SGD with momentum in fp32 (the baseline the
 *                     signSGD papers compared with): m <- beta·m + (1 - beta)·g (kernels.momentumSignPackTo,
 *                     the fp32 rule of Signum's momentum; its d/8 bytes of signs are not used), then
 *                     x += (-lr)·m (kernels.axpy): two passes, 24d bytes (a fused pass would move 20d).
 *                     An extra column compares every variant with it; it does not replace allreduce-f32.
 *   signum-allgather-chunked  issue 20 item 2's overlap experiment: the vector in --chunks word-aligned
 *                     chunks; chunk k's momentum + pack, then its 'allgather' vote is called (not
 *                     awaited: the communicator runs it while the next chunks are packed), and each
 *                     chunk's vote is applied to its slice as soon as it arrives. Own momentum and
 *                     parameters; the same kernels and the same bits as signum-allgather (checked).
 *                     Its comm and exchange columns are '-': the exchange overlaps the local passes.
 * Both sides run their local passes in the kernels in use (native when the addon loaded).
 * Per rep (each rep starts after a barrier):
 *   step      the whole optimizer step, the slowest rank's;
 *   comm      the collective alone (allReduce / signVote, vote included): from the moment the last
 *             rank called it to the moment the last rank got its result (clock of the host, shared
 *             by the rank processes). A rank's own call also counts the wait for the peers that are
 *             still in their local passes (4 ranks on fewer cores finish them at different times);
 *             that figure, the slowest rank's call, is reported too ("comm, per-rank call");
 *   local     step - comm: Signum's check, momentum + pack and update; f32's SGD update; plus the
 *             wait for the slowest rank's local work;
 *   exchange  what a communication library adds to a step: f32 = comm; Signum = comm + the pack.
 *             The pack is fused into the momentum pass, so it is timed as a separate
 *             kernels.signPack of the momentum right after the step (outside the step's time):
 *             an upper bound of its share of the fused pass. The momentum and the parameter update
 *             are work every momentum optimizer does, with or without compression.
 * Bytes: payload sent per rank per step from the outbox counters (max over ranks), and payload
 * received, counted after the timed reps in one extra step per variant by a fault seam that adds
 * up what each rank sends to each peer (the seam slows sending, so that step is not timed).
 * Headers come on top (< 256 B per message).
 * CPU: per rep, the CPU time (user + system, process.cpuUsage) of all ranks' processes during their
 * step, summed, median over the reps; and its share of what the cores could give in the step's wall
 * time (cores x step): near 100 %, the step is bound by the CPU the ranks share (a core stalled on
 * memory counts as busy), and overlapping its phases cannot shorten it, only less work can. A
 * second table splits one rank's CPU per step: before the collective, during it, after it.
 * Page faults: minor page faults of a rank's whole step (process.resourceUsage); per rep the rank
 * with the most, median over the reps: first touches of fresh buffers and of cold shared-memory slots, which
 * cost CPU time per 4 KiB and grow with the machine's load.
 * Local passes: each rank's own time in Signum.signs (check + momentum + pack, one kernel pass) and
 * Signum.apply (one pass), or f32's axpy; per rep the slowest rank, median over the reps.
 * Memory bound: after the timed reps every rank streams kernels.scale(x, 1) over a 4d-byte buffer
 * (reads and writes 4d, the access pattern of the update) at the same time as the others, then rank
 * 0 alone; the aggregate GB/s of all ranks at once, ranks x 8d bytes over the wall time from the
 * first rank's start to the last rank's end (with more ranks than cores they do not all stream at
 * once, so a rank's own time would overstate the sum), bounds the local passes from below:
 * ranks x (bytes each rank's passes move) / aggregate GB/s.
 * Checks (exit 1 when one fails): after the timed reps, one more step per variant is checked against
 * references computed independently in JS: f32, every rank's result at 4096 sampled coordinates
 * against the mean of all ranks' inputs summed in double; Signum, the new momentum and the signs
 * against jsKernels.momentumSignPackTo from the momentum before the step, the vote against
 * majorityVote (JS kernels) of all ranks' signs (gathered), and the parameters against
 * jsKernels.signApply of that vote (signum-allgather-chunked: the same, on its whole vectors);
 * f32 with momentum: the average as f32, and the new momentum and parameters against
 * jsKernels.momentumSignPackTo and jsKernels.axpy from the state before the step.
 * Quiet check: the machine's busy CPU time over the run (/proc/stat) less the CPU of the bench's own
 * processes, printed as the CPU other processes took (a second engine on the machine shows here
 * even when the load average, a 1-minute mean, still carries a previous job's load).
 * Prints a self-contained markdown report: date, load average before, during and after, node, kernels,
 * transport, then median and best of the reps, and speed-ups vs f32 (from medians / from bests).
 * Run: node dist/bench/signsgd-speed.js [--d 25000000] [--ranks 4] [--reps 9] [--lr 1e-4] [--chunks 2]
 * (without ZCOLL_RANK it launches its ranks on 127.0.0.1 itself; ZCOLL_TRANSPORT and
 * ZCOLL_KERNELS pass through). Memory: ~4 x 4d bytes per rank plus the collectives' buffers.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { init, type Communicator } from '../lib/index.js';
import { jsKernels, kernels, nativeLoad } from '../lib/kernels/index.js';
import { allocFloat32, allocUint32, hugePageStatus } from '../lib/kernels/huge-pages.js';
import { majorityVote } from '../lib/compress/majority-vote.js';
import { Signum } from '../lib/compress/signum.js';
import { packedWords } from '../lib/compress/sign.js';
import { signVote, SignVoteScratch, type VotePhaseTimes } from '../lib/compress/vote-modes.js';
import type { SignVoteMode } from '../lib/compress/wire-bytes.js';
import { Prng } from '../lib/prng.js';
import { freePort } from '../lib/cluster/free-port.js';
import { benchArgs, intArg, numberArg } from './args.js';

const ALL_VARIANTS = [
  'allreduce-f32',
  'allreduce-f32-registered',
  'allreduce-f32-momentum',
  'signum-allgather',
  'signum-server',
  'signum-reduce',
  'signum-allgather-plain',
  'signum-server-plain',
  'signum-reduce-plain',
  'signum-allgather-chunked',
] as const;
const isF32 = (v: Variant): boolean => v.startsWith('allreduce-f32');
/** The variant whose exchange overlaps its local passes: no comm figure of its own. */
const isOverlapped = (v: Variant): boolean => v === 'signum-allgather-chunked';
type Variant = (typeof ALL_VARIANTS)[number];
/** The vote mode of a signum-<mode>[-plain] variant. */
const modeOf = (v: Variant): SignVoteMode => v.slice('signum-'.length).replace(/-plain$/, '') as SignVoteMode;
/** Whether a Signum variant's vote scratch is plain memory (the path before registered scratches). */
const isPlain = (v: Variant): boolean => v.endsWith('-plain');
/** One rank's timings of one step. */
interface Sample {
  variant: Variant;
  rep: number;
  stepMs: number;
  commMs: number;
  /** performance.timeOrigin + performance.now() when this rank called the collective / got its result. */
  commEntry: number;
  commExit: number;
  /** The standalone pack of the momentum after the step (0 for f32). */
  packMs: number;
  payloadSent: number;
  /** Minor page faults of this rank during the step. */
  faults: number;
  /** 'reduce': this rank's phases of the vote (ms). */
  phases?: VotePhaseTimes;
  /** This rank's local passes: Signum.signs (0 for f32) and Signum.apply or axpy (ms). */
  signsMs: number;
  applyMs: number;
  /** CPU time (user + system) of this rank's process during the step, ms. */
  cpuMs: number;
  /** The part of cpuMs before the collective was called, and during it (to its result). */
  cpuBeforeMs: number;
  cpuCollectiveMs: number;
}

/** One rank's verdict on the checked step of a variant: elements that differ from the reference. */
interface Check {
  variant: Variant;
  wrong: number;
  what: string;
}

/** One rank's in-place streaming pass (reads and writes 4d bytes): its time and wall-clock start and end. */
interface Stream {
  alone: boolean;
  rep: number;
  ms: number;
  start: number;
  end: number;
}

/** signum-allgather-chunked's own state: chunks of whole words, momentum, parameters, signs; the assembled vote of the checked step. */
interface ChunkedState {
  chunks: { lo: number; hi: number; wlo: number; whi: number; scratch: SignVoteScratch }[];
  current: Float32Array;
  spare: Float32Array;
  params: Float32Array;
  signs: Uint32Array;
  vote: Uint32Array;
  keepVote?: boolean;
}

/** Payload bytes one rank sent to each peer in the untimed counting step of a variant. */
interface PeerBytes {
  variant: Variant;
  perPeer: number[];
}

const args = benchArgs({
  name: 'signsgd-speed',
  summary: 'Time and bytes per step of distributed Signum against float32 ring all-reduce, 4 ranks (prints a table).',
  options: {
    ranks: { type: 'string', value: '4', describe: 'rank processes' },
    d: { type: 'string', value: '25000000', describe: 'coordinates' },
    reps: { type: 'string', value: '9', describe: 'timed steps per variant' },
    lr: { type: 'string', value: '1e-4', describe: 'learning rate' },
    chunks: { type: 'string', value: '2', describe: 'chunks of signum-allgather-chunked' },
    variants: { type: 'string', value: ALL_VARIANTS.join(','), describe: 'variants to run, comma-separated (allreduce-f32, the baseline, always runs)' },
  },
});

/** --variants a,b: a subset (allreduce-f32, the baseline, always runs). */
const VARIANTS: readonly Variant[] = ((): Variant[] => {
  const want = (args.variants ?? ALL_VARIANTS.join(',')).split(',');
  const bad = want.filter((w) => !(ALL_VARIANTS as readonly string[]).includes(w));
  if (bad.length > 0) {
    process.stderr.write(`signsgd-speed: --variants: unknown ${bad.join(', ')}; known: ${ALL_VARIANTS.join(', ')}\n`);
    process.exit(2);
  }
  return ALL_VARIANTS.filter((v) => v === 'allreduce-f32' || want.includes(v));
})();

async function worker(): Promise<void> {
  const d = numberArg('signsgd-speed', 'd', args.d, 25000000);
  const reps = numberArg('signsgd-speed', 'reps', args.reps, 9);
  const lr = numberArg('signsgd-speed', 'lr', args.lr, 1e-4);
  const comm: Communicator = await init({ timeoutMs: 300_000 });
  const prng = new Prng(1000 + comm.rank);
  const grad = new Float32Array(d);
  for (let i = 0; i < d; i++) grad[i] = prng.next() - 0.5;
  // The f32 side's own gradient buffer, reduced in place every step (it drifts towards the ranks'
  // mean rep by rep, which changes nothing in the time of a float32 sum).
  const gradF32 = grad.slice();
  const gradF32Registered = comm.allocBuffer('float32', d) as Float32Array;
  gradF32Registered.set(grad);
  const params = new Float32Array(d);
  const signum = new Signum(d, { lr, beta: 0.9, rank: comm.rank });
  // f32 SGD with momentum: its own gradient buffer, parameters and the two momentum buffers. The
  // momentum is optimizer state, allocated as Signum allocates its own (allocFloat32: huge pages
  // where offered), so that the extra column compares like with like; the gradients and the
  // parameters of every variant stand for the user's tensors and stay ordinary arrays.
  const gradF32Momentum = grad.slice();
  const paramsF32Momentum = new Float32Array(d);
  const f32Momentum = { current: allocFloat32(d), spare: allocFloat32(d), signs: allocUint32(packedWords(d)) };
  // signum-allgather-chunked: its own state, word-aligned chunks, a vote scratch per chunk.
  const chunkCount = intArg('signsgd-speed', 'chunks', args.chunks, 2, 1);
  const chunked = ((): ChunkedState => {
    const words = packedWords(d);
    const perChunk = Math.ceil(words / chunkCount);
    const chunks: ChunkedState['chunks'] = [];
    for (let wlo = 0; wlo < words; wlo += perChunk) {
      const whi = Math.min(words, wlo + perChunk);
      const lo = 32 * wlo;
      const hi = Math.min(d, 32 * whi);
      chunks.push({ lo, hi, wlo, whi, scratch: new SignVoteScratch(comm.size, hi - lo) });
    }
    // The state Signum would own in library memory (huge pages where offered), the parameters plain.
    return { chunks, current: allocFloat32(d), spare: allocFloat32(d), params: new Float32Array(d), signs: allocUint32(words), vote: allocUint32(words) };
  })();
  const packScratch = new Uint32Array(packedWords(d));
  const scratch = new Map<Variant, SignVoteScratch>();
  // Registered with the communicator (same-host peers read the sent buffers in place), as the
  // training strategy keeps it; the -plain variants keep every buffer in ordinary memory.
  const scratchOf = (v: Variant): SignVoteScratch => scratch.get(v) ?? scratch.set(v, new SignVoteScratch(comm.size, d, isPlain(v) ? {} : { comm })).get(v)!;
  // The last Signum step's message and vote (for the checked step).
  let lastSigns: Uint32Array = new Uint32Array(0);
  let lastVote: Uint32Array = new Uint32Array(0);
  const step = async (v: Variant): Promise<Omit<Sample, 'variant' | 'rep'>> => {
    await comm.barrier();
    const sent0 = comm.outbox.counters.payloadBytes;
    const faults0 = process.resourceUsage().minorPageFault;
    const cpu0 = cpuNow();
    const t0 = performance.now();
    let a: number;
    let b: number;
    let ca = cpu0;
    let cb = cpu0;
    let signsMs = 0;
    let applyOverlapped: number | undefined;
    const phases: VotePhaseTimes = {};
    if (v === 'allreduce-f32-momentum') {
      a = performance.now();
      ca = cpuNow();
      await comm.allReduce(gradF32Momentum, { op: 'avg', inPlace: true });
      b = performance.now();
      cb = cpuNow();
      const bad = kernels.momentumSignPackTo(gradF32Momentum, f32Momentum.current, f32Momentum.spare, signum.beta, f32Momentum.signs, undefined, 0);
      if (bad >= 0) throw new Error(`allreduce-f32-momentum: rank ${comm.rank}: momentum element ${bad} is not finite`);
      [f32Momentum.current, f32Momentum.spare] = [f32Momentum.spare, f32Momentum.current];
      kernels.axpy(paramsF32Momentum, -lr, f32Momentum.current);
    } else if (isF32(v)) {
      const g = v === 'allreduce-f32' ? gradF32 : gradF32Registered;
      a = performance.now();
      ca = cpuNow();
      await comm.allReduce(g, { op: 'avg', inPlace: true });
      b = performance.now();
      cb = cpuNow();
      kernels.axpy(params, -lr, g);
    } else if (v === 'signum-allgather-chunked') {
      // Chunk k's vote is called as soon as its signs exist and applied when it arrives; the
      // communicator runs the calls one at a time in call order, while this rank packs chunk k+1.
      const pending: Promise<void>[] = [];
      let applyTotal = 0;
      for (const c of chunked.chunks) {
        const bad = kernels.momentumSignPackTo(grad.subarray(c.lo, c.hi), chunked.current.subarray(c.lo, c.hi), chunked.spare.subarray(c.lo, c.hi), signum.beta, chunked.signs.subarray(c.wlo, c.whi), undefined, 0);
        if (bad >= 0) throw new Error(`signum-allgather-chunked: rank ${comm.rank}: element ${c.lo + bad} is not finite`);
        const voted = signVote(comm, chunked.signs.subarray(c.wlo, c.whi), c.hi - c.lo, { mode: 'allgather', scratch: c.scratch });
        pending.push(
          voted.then((vote) => {
            const p = performance.now();
            kernels.signApply(chunked.params.subarray(c.lo, c.hi), vote, lr, 0);
            applyTotal += performance.now() - p;
            if (chunked.keepVote === true) chunked.vote.set(vote, c.wlo);
          }),
        );
      }
      a = performance.now();
      ca = cpuNow();
      signsMs = a - t0;
      await Promise.all(pending);
      [chunked.current, chunked.spare] = [chunked.spare, chunked.current];
      b = performance.now();
      cb = cpuNow();
      applyOverlapped = applyTotal;
    } else {
      const s = scratchOf(v);
      // Registered: packed straight into the scratch's registered buffer, which the peers read in place.
      const signs = isPlain(v) ? signum.signs(grad) : signum.signs(grad, undefined, s.signs);
      a = performance.now();
      ca = cpuNow();
      signsMs = a - t0;
      const vote = await signVote(comm, signs, d, { mode: modeOf(v), root: 0, scratch: s, phases });
      b = performance.now();
      cb = cpuNow();
      signum.apply(params, vote);
      lastSigns = signs;
      lastVote = vote;
    }
    const end = performance.now();
    const applyMs = applyOverlapped ?? end - b;
    const stepMs = end - t0;
    const cpuMs = cpuNow() - cpu0;
    const faults = process.resourceUsage().minorPageFault - faults0;
    const commMs = b - a;
    const payloadSent = comm.outbox.counters.payloadBytes - sent0;
    let packMs = 0;
    if (!isF32(v)) {
      const p = performance.now();
      kernels.signPack(v === 'signum-allgather-chunked' ? chunked.current : signum.momentum, packScratch);
      packMs = performance.now() - p;
    }
    const origin = performance.timeOrigin;
    return { stepMs, commMs, commEntry: origin + a, commExit: origin + b, packMs, payloadSent, faults, signsMs, applyMs, cpuMs, cpuBeforeMs: ca - cpu0, cpuCollectiveMs: cb - ca, ...(modeOf(v) === 'reduce' ? { phases } : {}) };
  };
  /** The same 4096 coordinates on every rank. */
  const sampled = (): Uint32Array => {
    const pick = new Prng(77);
    return Uint32Array.from({ length: Math.min(4096, d) }, () => Math.floor(pick.next() * d));
  };
  const checkF32Step = async (v: Variant): Promise<Check> => {
    const g = v === 'allreduce-f32' ? gradF32 : v === 'allreduce-f32-momentum' ? gradF32Momentum : gradF32Registered;
    const at = sampled();
    const mine = Float32Array.from(at, (i) => g[i]);
    const all = await comm.allGather(mine);
    const withMomentum = v === 'allreduce-f32-momentum';
    const momentumBefore = withMomentum ? f32Momentum.current.slice() : new Float32Array(0);
    const paramsBefore = withMomentum ? paramsF32Momentum.slice() : new Float32Array(0);
    await step(v);
    let wrong = 0;
    for (let k = 0; k < at.length; k++) {
      let sum = 0;
      let mag = 0;
      for (let r = 0; r < comm.size; r++) {
        sum += all[r * at.length + k];
        mag += Math.abs(all[r * at.length + k]);
      }
      // float32 sums in another order: a few ulps of the magnitudes involved.
      if (!(Math.abs(g[at[k]] - sum / comm.size) <= 1e-6 * (1 + mag))) wrong++;
    }
    if (withMomentum) {
      // The momentum and the update from the averaged gradient, in JS.
      const next = new Float32Array(d);
      if (jsKernels.momentumSignPackTo(g, momentumBefore, next, signum.beta, new Uint32Array(packedWords(d)), undefined, 0) !== -1) wrong++;
      jsKernels.axpy(paramsBefore, -lr, next);
      for (let i = 0; i < d; i++) if (!Object.is(f32Momentum.current[i], next[i]) || !Object.is(paramsF32Momentum[i], paramsBefore[i])) wrong++;
    }
    return { variant: v, wrong, what: `${at.length} sampled coordinates of the average against a double-precision sum` };
  };
  const checkSignumStep = async (v: Variant): Promise<Check> => {
    const isChunked = v === 'signum-allgather-chunked';
    const momentumBefore = (isChunked ? chunked.current : signum.momentum).slice();
    const paramsBefore = (isChunked ? chunked.params : params).slice();
    chunked.keepVote = isChunked;
    await step(v);
    chunked.keepVote = false;
    if (isChunked) {
      lastSigns = chunked.signs;
      lastVote = chunked.vote;
    }
    const nextRef = new Float32Array(d);
    const signsRef = new Uint32Array(packedWords(d));
    let wrong = jsKernels.momentumSignPackTo(grad, momentumBefore, nextRef, signum.beta, signsRef, undefined, 0) === -1 ? 0 : 1;
    const m = isChunked ? chunked.current : signum.momentum;
    const x = isChunked ? chunked.params : params;
    for (let i = 0; i < d; i++) if (!Object.is(m[i], nextRef[i])) wrong++;
    for (let w = 0; w < signsRef.length; w++) if (signsRef[w] !== lastSigns[w]) wrong++;
    const rows = await comm.allGather(new Int32Array(lastSigns.buffer, lastSigns.byteOffset, signsRef.length));
    const packed = Array.from({ length: comm.size }, (_, r) => new Uint32Array(rows.buffer, rows.byteOffset + 4 * r * signsRef.length, signsRef.length));
    const voteRef = majorityVote(packed, d, { tie: 'plus', kernels: jsKernels });
    for (let w = 0; w < voteRef.length; w++) if (voteRef[w] !== lastVote[w]) wrong++;
    jsKernels.signApply(paramsBefore, voteRef, lr, 0);
    for (let i = 0; i < d; i++) if (!Object.is(x[i], paramsBefore[i])) wrong++;
    return { variant: v, wrong, what: 'momentum, signs, vote and parameters (elements and words) against JS references' };
  };
  for (const v of VARIANTS) await step(v); // warm-up: schedules, shared-memory regions, JIT
  for (let rep = 0; rep < reps; rep++) {
    for (const v of VARIANTS) {
      const s = await step(v);
      process.stdout.write(`RESULT ${JSON.stringify({ variant: v, rep, ...s })}\n`);
    }
  }
  for (const v of VARIANTS) {
    const perPeer = new Array<number>(comm.size).fill(0);
    comm.setFaultSeam((msg) => {
      perPeer[msg.peer] += msg.payload?.byteLength ?? 0;
      return msg;
    });
    await step(v);
    comm.setFaultSeam(undefined);
    process.stdout.write(`BYTES ${JSON.stringify({ variant: v, perPeer })}\n`);
  }
  // The checked steps: one per variant, against references computed in JS (see the file comment).
  for (const v of VARIANTS) {
    const check = isF32(v) ? await checkF32Step(v) : await checkSignumStep(v);
    process.stdout.write(`CHECK ${JSON.stringify(check)}\n`);
  }
  // Streaming bandwidth: all ranks at once, then rank 0 alone (the others wait at the barrier).
  for (const alone of [false, true]) {
    for (let rep = 0; rep < 5; rep++) {
      await comm.barrier();
      if (!alone || comm.rank === 0) {
        const t = performance.now();
        kernels.scale(gradF32, 1); // x·1 = x exactly: the data stays as it was
        const e = performance.now();
        const origin = performance.timeOrigin;
        process.stdout.write(`STREAM ${JSON.stringify({ alone, rep, ms: e - t, start: origin + t, end: origin + e } satisfies Stream)}\n`);
      }
    }
  }
  if (comm.rank === 0) process.stdout.write(`KERNELS ${kernels.name}${kernels.name === 'native' ? ` (${nativeLoad.simd ?? '?'})` : ''}\n`);
  for (const s of scratch.values()) s.release();
  comm.freeBuffer(gradF32Registered);
  await comm.close();
  // This process's whole CPU time, for the launcher's count of the CPU other processes took.
  const own = process.cpuUsage();
  process.stdout.write(`CPUTOTAL ${(own.user + own.system) / 1000}\n`);
}

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

const loadNow = (): string => loadavg().map((x) => x.toFixed(2)).join(' ');

/** This process's CPU time (user + system) so far, ms. */
function cpuNow(): number {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
}

/** Busy CPU time of the whole machine since boot, ms (/proc/stat: every column but idle and iowait), or undefined off Linux. */
function busyCpuMs(): number | undefined {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, , , irq, softirq, steal] = fields;
    // USER_HZ is 100 on Linux builds for every architecture Node runs on.
    return (user + nice + system + irq + softirq + (steal ?? 0)) * 10;
  } catch {
    return undefined;
  }
}

async function launch(): Promise<void> {
  const ranks = numberArg('signsgd-speed', 'ranks', args.ranks, 4);
  const d = numberArg('signsgd-speed', 'd', args.d, 25000000);
  const cores = availableParallelism();
  const started = new Date();
  const loadBefore = loadNow();
  const busyBefore = busyCpuMs();
  const port = await freePort();
  const script = fileURLToPath(import.meta.url);
  const samples: Sample[][] = Array.from({ length: ranks }, () => []);
  const peerBytes: PeerBytes[][] = Array.from({ length: ranks }, () => []);
  const checks: Check[][] = Array.from({ length: ranks }, () => []);
  const streams: Stream[][] = Array.from({ length: ranks }, () => []);
  let kernelName = '?';
  let ranksCpuMs = 0;
  // The 1-minute load average sampled while the ranks run (the machine may be shared).
  const loadDuring: number[] = [];
  const sampler = setInterval(() => loadDuring.push(loadavg()[0]), 2000);
  const codes = await Promise.all(
    Array.from({ length: ranks }, (_, rank) =>
      new Promise<number | null>((resolve) => {
        const child = spawn(process.execPath, [script, ...process.argv.slice(2)], {
          env: { ...process.env, ZCOLL_RANK: String(rank), ZCOLL_WORLD_SIZE: String(ranks), ZCOLL_MASTER_ADDR: '127.0.0.1', ZCOLL_MASTER_PORT: String(port) },
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let out = '';
        child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
        child.on('close', (code) => {
          for (const line of out.split('\n')) {
            if (line.startsWith('RESULT ')) samples[rank].push(JSON.parse(line.slice(7)) as Sample);
            if (line.startsWith('BYTES ')) peerBytes[rank].push(JSON.parse(line.slice(6)) as PeerBytes);
            if (line.startsWith('KERNELS ')) kernelName = line.slice(8);
            if (line.startsWith('CPUTOTAL ')) ranksCpuMs += Number(line.slice(9));
            if (line.startsWith('CHECK ')) checks[rank].push(JSON.parse(line.slice(6)) as Check);
            if (line.startsWith('STREAM ')) streams[rank].push(JSON.parse(line.slice(7)) as Stream);
          }
          resolve(code);
        });
      }),
    ),
  );
  clearInterval(sampler);
  if (codes.some((c) => c !== 0)) throw new Error(`a rank failed: exit codes ${codes.join(', ')}`);
  const loadAfter = loadNow();
  const busyAfter = busyCpuMs();
  const wallMs = Date.now() - started.getTime();
  // The machine's busy CPU (all processes, /proc/stat) less this bench's own (ranks and launcher):
  // what other processes took while the bench ran. Near 0 on a quiet machine.
  const launcherCpu = process.cpuUsage();
  const othersMs = busyBefore !== undefined && busyAfter !== undefined ? busyAfter - busyBefore - ranksCpuMs - (launcherCpu.user + launcherCpu.system) / 1000 : undefined;
  const others =
    othersMs !== undefined
      ? `CPU taken by other processes during the run: ${(Math.max(0, othersMs) / 1000).toFixed(1)} s of ${((cores * wallMs) / 1000).toFixed(0)} s (${((100 * Math.max(0, othersMs)) / (cores * wallMs)).toFixed(0)} % of ${cores} cores; /proc/stat busy time less the bench's own)`
      : 'CPU taken by other processes: n/a (no /proc/stat)';
  const during = loadDuring.length > 0 ? `${Math.min(...loadDuring).toFixed(2)}-${Math.max(...loadDuring).toFixed(2)}` : 'n/a';
  const reps = samples[0].length / VARIANTS.length;
  /** Per rep, the slowest rank's value of `pick`. */
  const slowest = (v: Variant, pick: (s: Sample) => number): number[] =>
    Array.from({ length: reps }, (_, rep) => Math.max(...samples.map((rs) => pick(rs.find((s) => s.variant === v && s.rep === rep)!))));
  const lastEntry = (v: Variant): number[] => slowest(v, (s) => s.commEntry);
  const each = (xs: number[], ys: number[], f: (x: number, y: number) => number): number[] => xs.map((x, i) => f(x, ys[i]));
  const figures = (v: Variant) => {
    const step = slowest(v, (s) => s.stepMs);
    // From the last rank's call to the last rank's result.
    const comm = each(slowest(v, (s) => s.commExit), lastEntry(v), (exit, entry) => exit - entry);
    return {
      step,
      comm,
      rankComm: slowest(v, (s) => s.commMs),
      exchange: each(comm, slowest(v, (s) => s.packMs), (c, p) => c + p),
      local: each(step, comm, (st, c) => st - c),
      signs: slowest(v, (s) => s.signsMs),
      apply: slowest(v, (s) => s.applyMs),
      faults: slowest(v, (s) => s.faults),
      cpu: Array.from({ length: reps }, (_, rep) => samples.reduce((sum, rs) => sum + rs.find((s) => s.variant === v && s.rep === rep)!.cpuMs, 0)),
      sent: Math.max(...samples.flatMap((rs) => rs.filter((s) => s.variant === v).map((s) => s.payloadSent))),
      received: Math.max(
        ...Array.from({ length: ranks }, (_, r) =>
          peerBytes.reduce((sum, rows, src) => sum + (src === r ? 0 : rows.find((b) => b.variant === v)!.perPeer[r]), 0),
        ),
      ),
    };
  };
  const base = figures('allreduce-f32');
  const baseRegistered = VARIANTS.includes('allreduce-f32-registered') ? figures('allreduce-f32-registered') : base;
  const baseMomentum = VARIANTS.includes('allreduce-f32-momentum') ? figures('allreduce-f32-momentum') : undefined;
  const ms = (x: number): string => x.toFixed(0);
  const ratio = (f32: number[], mine: number[]): string =>
    `${(median(f32) / median(mine)).toFixed(1)}x / ${(Math.min(...f32) / Math.min(...mine)).toFixed(1)}x`;
  /** The median / best cell of a figure, '-' for the overlapped variant's exchange figures. */
  const pair = (v: Variant, xs: number[]): string => (isOverlapped(v) ? '-' : `${ms(median(xs))} / ${ms(Math.min(...xs))}`);
  const ratioOf = (v: Variant, f32: number[], mine: number[]): string => (isOverlapped(v) ? '-' : ratio(f32, mine));
  const hugeStatus = hugePageStatus();
  const lines = [
    `# ${started.toISOString()}: d = ${d} (${((4 * d) / 1e6).toFixed(0)} MB of float32), ${ranks} ranks on 127.0.0.1 ` +
      `(transport ${process.env.ZCOLL_TRANSPORT || 'default'}), ${cores} cores, ${reps} reps after a warm-up, kernels ${kernelName}, node ${process.version}, ` +
      `huge pages for library-owned buffers: ${hugeStatus.advising ? `yes (THP ${hugeStatus.mode})` : `no (${hugeStatus.reason ?? ''})`}`,
    `# load average (1, 5, 15 min): ${loadBefore} before, ${loadAfter} after; 1-min load ${during} during the run; ${(wallMs / 1000).toFixed(0)} s`,
    `# ${others}`,
    '| variant | step ms median / best | comm ms median / best | exchange ms median / best | local ms median | local passes ms median: signs / apply (slowest rank) | comm, per-rank call, ms median / best | MB sent per rank per step | MB received per rank per step | page faults per rank per step (median) | CPU ms of all ranks per step (median), share of the cores | step speed-up vs f32 (median / best) | comm speed-up | exchange speed-up | step speed-up vs f32-registered | comm speed-up | exchange speed-up |' +
      (baseMomentum !== undefined ? ' extra: step speed-up vs f32 SGD with momentum (median / best) |' : ''),
    `|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|${baseMomentum !== undefined ? '---|' : ''}`,
  ];
  for (const v of VARIANTS) {
    const f = figures(v);
    lines.push(
      `| ${v} | ${ms(median(f.step))} / ${ms(Math.min(...f.step))} | ${pair(v, f.comm)} | ` +
        `${pair(v, f.exchange)} | ${isOverlapped(v) ? '-' : ms(median(f.local))} | ${isF32(v) ? '-' : ms(median(f.signs))} / ${ms(median(f.apply))} | ` +
        `${pair(v, f.rankComm)} | ${(f.sent / 1e6).toFixed(2)} | ` +
        `${(f.received / 1e6).toFixed(2)} | ${median(f.faults).toFixed(0)} | ${ms(median(f.cpu))}, ${((100 * median(each(f.cpu, f.step, (c, st) => c / (cores * st))))).toFixed(0)} % | ${ratio(base.step, f.step)} | ${ratioOf(v, base.comm, f.comm)} | ${ratioOf(v, base.exchange, f.exchange)} | ` +
        `${ratio(baseRegistered.step, f.step)} | ${ratioOf(v, baseRegistered.comm, f.comm)} | ${ratioOf(v, baseRegistered.exchange, f.exchange)} |` +
        (baseMomentum !== undefined ? ` ${ratio(baseMomentum.step, f.step)} |` : ''),
    );
  }
  const reduceVariants = VARIANTS.filter((v) => !isF32(v) && !isOverlapped(v) && modeOf(v) === 'reduce');
  if (reduceVariants.length > 0) {
    // Per phase, the slowest rank's time per rep, median and best over the reps.
    const names = ['prepare', 'alltoall', 'vote', 'gather'] as const;
    lines.push('', `'reduce' phases, slowest rank, wall ms median / best: | variant | prepare (padded signs) | all-to-all of sign chunks | vote of the chunk (voteCount, ties) | all-gather of chunk votes (direct) |`);
    for (const v of reduceVariants) {
      const cells = names.map((n) => {
        const xs = slowest(v, (s) => s.phases?.[n] ?? NaN);
        return `${ms(median(xs))} / ${ms(Math.min(...xs))}`;
      });
      lines.push(`| ${v} | ${cells.join(' | ')} |`);
    }
    // CPU per rank per phase: the median over ranks x reps (the step is CPU-bound on shared cores).
    lines.push('', `'reduce' phases, CPU per rank, ms median over ranks x reps: | variant | prepare | all-to-all | vote | all-gather | sum |`);
    for (const v of reduceVariants) {
      const of = (pick: (c: NonNullable<VotePhaseTimes['cpu']>) => number): number[] => samples.flatMap((rs) => rs.filter((s) => s.variant === v && s.phases?.cpu !== undefined).map((s) => pick(s.phases!.cpu!)));
      const cells = names.map((n) => ms(median(of((c) => c[n]))));
      lines.push(`| ${v} | ${cells.join(' | ')} | ${ms(median(of((c) => c.prepare + c.alltoall + c.vote + c.gather)))} |`);
    }
  }
  // Where each rank's CPU goes (the step is bound by the CPU the ranks share when their sum fills the cores).
  {
    const all = (v: Variant, pick: (s: Sample) => number): number[] => samples.flatMap((rs) => rs.filter((s) => s.variant === v).map(pick));
    lines.push(
      '',
      'CPU per rank per step, ms (median over ranks x reps):',
      '| variant | before the collective (Signum: momentum + pack) | the collective, to its result | after it (the update; f32 with momentum: momentum + update) | whole step |',
      '|---|---|---|---|---|',
    );
    for (const v of VARIANTS) {
      if (isOverlapped(v)) continue;
      const before = median(all(v, (s) => s.cpuBeforeMs));
      const collective = median(all(v, (s) => s.cpuCollectiveMs));
      const whole = median(all(v, (s) => s.cpuMs));
      const after = median(all(v, (s) => s.cpuMs - s.cpuBeforeMs - s.cpuCollectiveMs));
      lines.push(`| ${v} | ${before.toFixed(1)} | ${collective.toFixed(1)} | ${after.toFixed(1)} | ${whole.toFixed(1)} |`);
    }
  }
  // Streaming bandwidth and the memory bound of the local passes.
  // Per rep: the bytes of every rank that streamed over the wall time from the first start to the last end.
  const streamGBs = (alone: boolean): number[] =>
    Array.from({ length: 5 }, (_, rep) => {
      const runs = streams.flatMap((rs) => rs.filter((x) => x.alone === alone && x.rep === rep));
      const wall = Math.max(...runs.map((x) => x.end)) - Math.min(...runs.map((x) => x.start));
      return (runs.length * 8 * d) / (wall * 1e6);
    });
  const together = streamGBs(false);
  const alone = streamGBs(true);
  const bestTogether = Math.max(...together);
  // Bytes per rank per step of the local passes: Signum reads g and m (8d), writes m (4d) and the
  // signs (d/8), then reads the vote (d/8) and reads and writes x (8d); SGD's axpy reads x and g, writes x.
  const signumBytes = 20 * d + d / 4;
  const sgdBytes = 12 * d;
  // SGD with momentum as run here: the momentum pass (reads g, m; writes m, signs) and axpy (reads x, m; writes x).
  const momentumBytes = 24 * d + d / 8;
  const bound = (bytes: number): string => ((ranks * bytes) / (bestTogether * 1e6)).toFixed(0);
  const signumLocal = VARIANTS.filter((v) => !isF32(v)).map((v) => {
    const f = figures(v);
    return `${v} ${ms(median(f.signs) + median(f.apply))}`;
  });
  lines.push(
    '',
    `Memory: in-place streaming pass (kernels.scale, reads + writes 4d bytes per rank): all ${ranks} ranks at once ` +
      `${bestTogether.toFixed(1)} GB/s in sum (best; median ${median(together).toFixed(1)}), one rank alone ${Math.max(...alone).toFixed(1)} GB/s (best; median ${median(alone).toFixed(1)}).`,
    `Local passes per rank per step: Signum ${(signumBytes / 1e6).toFixed(0)} MB (20d + d/4: momentum + pack 12d + d/8, update 8d + d/8), ` +
      `SGD ${(sgdBytes / 1e6).toFixed(0)} MB (12d), SGD with momentum ${(momentumBytes / 1e6).toFixed(0)} MB (24d + d/8, two passes). ` +
      `Bound at ${bestTogether.toFixed(1)} GB/s for ${ranks} ranks: Signum ${bound(signumBytes)} ms, SGD ${bound(sgdBytes)} ms, SGD with momentum ${bound(momentumBytes)} ms; ` +
      `measured signs + apply, slowest rank, medians: ${signumLocal.join(', ')} ms.`,
  );
  // Checks: every rank, every variant.
  const failed: string[] = [];
  for (const v of VARIANTS) {
    const got = checks.map((rs) => rs.find((c) => c.variant === v));
    const wrong = got.reduce((sum, c) => sum + (c?.wrong ?? 1), 0);
    if (wrong !== 0 || got.some((c) => c === undefined)) failed.push(`${v}: ${wrong} wrong (${got.map((c, r) => `rank ${r}: ${c === undefined ? 'no check' : c.wrong}`).join(', ')})`);
  }
  lines.push(
    '',
    failed.length === 0
      ? `Checks: 0 wrong in every variant (${VARIANTS.length} variants x ${ranks} ranks; ${checks[0][0]?.what ?? ''}; ${checks[0].at(-1)?.what ?? ''})`
      : `Checks FAILED: ${failed.join('; ')}`,
  );
  process.stdout.write(`${lines.join('\n')}\n`);
  if (failed.length > 0) process.exitCode = 1;
}

(process.env.ZCOLL_RANK === undefined ? launch() : worker()).catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});

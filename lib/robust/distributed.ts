/**
 * Robust aggregation on the Communicator: every rank contributes its own vector (a gradient), the
 * aggregator of aggregator.ts (or BGMD, bgmd.ts) combines them, and every rank gets the result. The
 * vectors travel only through `comm.exchangeDirect`, never through relays (docs/architecture.md, trust
 * boundary), so a Byzantine rank can corrupt nothing but its own entry. A vector of the wrong
 * length or dtype (the exchange's EMISMATCH entry) or holding NaN/Inf is treated as Byzantine:
 * dropped or replaced by zeros per the `invalid` option, counted in the report, never a crash.
 *
 * Modes, with n ranks, d float32 values, payload bytes per round (headers aside):
 *  - 'allgather': exchangeDirect() all-to-all; every rank aggregates the same rows in the same
 *    order with the same deterministic code, so every honest rank gets a bitwise-identical result.
 *    Wire: each rank sends and receives (n - 1) 4d bytes; n (n - 1) 4d in total. Compute: every
 *    rank runs the aggregator (n times the work of one server) and, for BGMD, holds the n x d
 *    per-worker memory. Trust: no rank is trusted. Agreement assumes a Byzantine rank sends the
 *    same vector to every peer; one that equivocates (different vectors to different peers) can make
 *    honest ranks disagree (there is no Byzantine broadcast here), although each honest rank's result
 *    is still a robust aggregate of rows that include every honest rank's own vector.
 *  - 'server': exchangeDirect({ root }) (each rank sends its vector straight to `root`), the root
 *    aggregates and sends back [update | per-rank verdicts | status]. Wire: the root receives
 *    (n - 1) 4d bytes; the reply carries 4 (d + n + 1) bytes to each of the n - 1 other ranks:
 *    with reply 'broadcast' (default, comm.broadcast: binomial tree or pipelined chain) the root
 *    sends it once or log2(n) times and other ranks forward it; with reply 'direct' (comm.send) the
 *    root sends it n - 1 times. Total about 2 (n - 1) 4d either way. Only the root aggregates and
 *    holds BGMD's memory. Trust: the root (it computes the update), and with reply 'broadcast' also
 *    every rank that relays the reply (a Byzantine relay can alter the update for the ranks below it
 *    in the tree or chain); reply 'direct' removes the relays at the cost of the root's egress.
 *    A failure of the root's aggregation (say, no valid row) is sent in the reply's status slot, so
 *    every rank throws the same ZcollError instead of waiting for a reply that never comes.
 * BGMD's per-worker memory lives where the aggregation runs (aggregatorOptions.memory 'perWorker',
 * the default: an n x d buffer on the root, or on every rank in 'allgather'), or with memory
 * 'workers' on each rank itself (bgmd-residual.ts): every rank sends a_i = lr g_i + memory_i, the
 * aggregation holds no memory, and each rank keeps a_i with I zeroed after the round (or its old
 * memory when its row was not used, or when the round failed). Every rank then needs I: in
 * 'allgather' it selects I itself; in 'server' the reply carries [verdicts | status | update on I
 * | I] (2k values instead of d). The results are bitwise those of 'perWorker'.
 * Cost beyond the wire: the aggregator's own (aggregator.ts, bgmd.ts) plus one copy of d values (the
 * update out of the server's reply). The aggregating ranks keep one d-length receive buffer per peer
 * between rounds (exchangeDirect's `into`).
 * Follows the server and decentralised settings of BGMD (Acharya et al., AISTATS 2022) and the
 * trust rule of docs/architecture.md; bitwise agreement rests on aggregator.ts's determinism.
 */
import { ERROR_CODES, ZcollError, isZcollError, type ErrorCode } from '../errors.js';
import type { Communicator } from '../comm/communicator.js';
import { aggregate, isAggregatorName, type AggregationReport, type AggregatorName, type AggregatorOptionsByName, type InvalidRowPolicy } from './aggregator.js';
import { Bgmd, blockSize, type BgmdOptions, type BgmdReport } from './bgmd.js';
import { BgmdResidual, firstOutOfOrder } from './bgmd-residual.js';
import { checkInvalidPolicy, isFiniteRow } from './row-screen.js';

export type RobustMode = 'server' | 'allgather';
export type RobustReply = 'broadcast' | 'direct';
export type RobustAggregatorName = AggregatorName | 'bgmd';

/** Options of the aggregator itself: 'invalid' and 'length' are set by RobustAllReduce. */
export type RobustAggregatorOptions<N extends RobustAggregatorName> = N extends 'bgmd'
  ? Omit<BgmdOptions, 'workers' | 'length' | 'invalid'>
  : N extends AggregatorName
    ? Omit<AggregatorOptionsByName[N], 'invalid' | 'length'>
    : never;

export interface RobustAllReduceOptions<N extends RobustAggregatorName> {
  mode: RobustMode;
  aggregator: N;
  /** Vector length d every honest rank contributes. */
  length: number;
  aggregatorOptions?: RobustAggregatorOptions<N>;
  /** Invalid vectors (wrong length or dtype, NaN/Inf): 'exclude' (default) or 'zero'. */
  invalid?: InvalidRowPolicy;
  /** 'server' mode: the aggregating rank. Default 0. */
  root?: number;
  /** 'server' mode: how the update goes back. Default 'broadcast'. */
  reply?: RobustReply;
  /** Deadline of each exchange, in ms (default: the communicator's). */
  timeoutMs?: number;
}

/** Why a rank's vector was not used as sent. */
export type RankVerdict = 'ok' | 'mismatch' | 'nonFinite';

export interface RobustRoundReport {
  readonly round: number;
  readonly mode: RobustMode;
  readonly aggregator: RobustAggregatorName;
  /** Per rank: 'mismatch' (wrong length or dtype), 'nonFinite' (NaN/Inf) or 'ok'. Known on every rank. */
  readonly verdicts: readonly RankVerdict[];
  /** Ranks whose vector was invalid (excluded or zeroed), ascending. */
  readonly invalidRanks: readonly number[];
  /** True where the aggregation ran (every rank in 'allgather', the root in 'server'). */
  readonly aggregatedHere: boolean;
  /** The aggregator's report, where the aggregation ran; row positions are ranks. */
  readonly aggregation?: AggregationReport | BgmdReport;
}

export interface RobustRound {
  /** Length d. Aggregators: the aggregated vector. 'bgmd': the step, already scaled by lr (x <- x - update). */
  readonly update: Float32Array;
  readonly report: RobustRoundReport;
}

/** Tag of the 'direct' reply's point-to-point messages. */
const REPLY_TAG = 0x52_4f_42; // 'ROB'
const VERDICT_CODE: Readonly<Record<RankVerdict, number>> = { ok: 0, mismatch: 1, nonFinite: 2 };
const VERDICT_OF: readonly RankVerdict[] = ['ok', 'mismatch', 'nonFinite'];
const NO_SELECTION = new Uint32Array(0);

export class RobustAllReduce<N extends RobustAggregatorName = RobustAggregatorName> {
  readonly mode: RobustMode;
  readonly aggregator: N;
  readonly length: number;
  readonly root: number;
  readonly reply: RobustReply;
  private readonly invalid: InvalidRowPolicy;
  private readonly aggregatorOptions: RobustAggregatorOptions<N> | undefined;
  private readonly timeoutMs: number | undefined;
  /** BGMD state, only where the aggregation runs. */
  private readonly bgmd: Bgmd<AggregatorName> | undefined;
  /** BGMD with memory 'workers': this rank's own residual (every rank has one). */
  private readonly residual: BgmdResidual | undefined;
  /** BGMD with memory 'workers': k = |I|, which the server's reply carries (every rank needs I). */
  private readonly sparseK: number | undefined;
  /**
   * exchangeDirect's `into`: where the peers' vectors land on the ranks that aggregate, reused every
   * round (a fresh d-length array per peer costs a page fault per 4 KiB on first touch, and the rows
   * are only read during the round); no slot for this rank, whose own vector is used as it is.
   */
  private into: (Float32Array | undefined)[] | undefined;
  private rounds = 0;

  constructor(
    private readonly comm: Communicator,
    options: RobustAllReduceOptions<N>,
  ) {
    const op = 'RobustAllReduce';
    const ctx = { rank: comm.rank, op };
    if (options === null || typeof options !== 'object') throw new ZcollError('EINVAL', `${op} needs an options object { mode, aggregator, length }`, ctx);
    const { mode, aggregator, length } = options;
    if (mode !== 'server' && mode !== 'allgather') throw new ZcollError('EINVAL', `option 'mode' of ${op} must be 'server' or 'allgather', got ${String(mode)}`, ctx);
    if (aggregator !== 'bgmd' && !isAggregatorName(aggregator)) throw new ZcollError('EINVAL', `option 'aggregator' of ${op} must be 'bgmd' or a known aggregator, got ${String(aggregator)}`, ctx);
    if (!Number.isInteger(length) || length < 1) throw new ZcollError('EINVAL', `option 'length' of ${op} must be an integer >= 1, got ${String(length)}`, ctx);
    const root = options.root ?? 0;
    if (!Number.isInteger(root) || root < 0 || root >= comm.size) throw new ZcollError('EINVAL', `option 'root' of ${op} must be a rank in 0..${comm.size - 1}, got ${String(root)}`, ctx);
    const reply = options.reply ?? 'broadcast';
    if (reply !== 'broadcast' && reply !== 'direct') throw new ZcollError('EINVAL', `option 'reply' of ${op} must be 'broadcast' or 'direct', got ${String(reply)}`, ctx);
    if (options.timeoutMs !== undefined && !(Number.isFinite(options.timeoutMs) && options.timeoutMs > 0)) {
      throw new ZcollError('EINVAL', `option 'timeoutMs' of ${op} must be a number > 0, got ${String(options.timeoutMs)}`, ctx);
    }
    this.mode = mode;
    this.aggregator = aggregator;
    this.length = length;
    this.root = root;
    this.reply = reply;
    this.invalid = checkInvalidPolicy(options.invalid, op);
    this.aggregatorOptions = options.aggregatorOptions;
    this.timeoutMs = options.timeoutMs;
    if (aggregator === 'bgmd') {
      const bgmdOptions = (options.aggregatorOptions ?? {}) as Omit<BgmdOptions, 'workers' | 'length' | 'invalid'>;
      // Every rank checks the options (a bad beta must fail everywhere, not only on the root); only
      // the aggregating ranks keep a Bgmd and its n x d memory.
      const bgmd = new Bgmd<AggregatorName>({ ...bgmdOptions, workers: comm.size, length: this.aggregatesHere ? length : 1, invalid: this.invalid });
      if (this.aggregatesHere) this.bgmd = bgmd;
      if (bgmd.memoryMode === 'workers') {
        // Each rank keeps its own residual and sends lr g + memory; the aggregator holds none.
        this.residual = new BgmdResidual({ length, invalid: this.invalid });
        this.sparseK = blockSize(bgmd.beta, length);
      }
    }
  }

  /** True on the ranks that run the aggregation (and hold BGMD's memory). */
  get aggregatesHere(): boolean {
    return this.mode === 'allgather' || this.comm.rank === this.root;
  }

  /**
   * BGMD with per-worker memory, where the aggregation runs: rank r's residual (a view; do not
   * modify). With memory 'workers', each rank has its own only.
   */
  memoryRow(rank: number): Float32Array {
    if (this.residual !== undefined) {
      if (rank === this.comm.rank) return this.residual.row;
      throw new ZcollError('EINVAL', `RobustAllReduce.memoryRow: with BGMD memory 'workers' rank ${this.comm.rank} holds only its own memory, not rank ${String(rank)}'s`, { rank: this.comm.rank, op: 'RobustAllReduce' });
    }
    if (this.bgmd === undefined) {
      throw new ZcollError('EINVAL', `RobustAllReduce.memoryRow: no BGMD memory on rank ${this.comm.rank} (aggregator '${this.aggregator}', mode '${this.mode}')`, { rank: this.comm.rank, op: 'RobustAllReduce' });
    }
    return this.bgmd.memoryRow(rank);
  }

  /**
   * One round: contributes `vector` (this rank's own, length d; NaN/Inf allowed, it is then counted
   * as invalid) and returns the aggregate. Every rank must call it. `lr` (> 0, default 1) is BGMD's
   * step size and is ignored by the other aggregators.
   */
  async step(vector: Float32Array, lr = 1): Promise<RobustRound> {
    const op = 'RobustAllReduce.step';
    const ctx = { rank: this.comm.rank, op };
    // This rank's own mistakes are errors here: sent on, they would silently make it Byzantine.
    if (!(vector instanceof Float32Array)) throw new ZcollError('EINVAL', `${op}: the vector must be a Float32Array, got ${describe(vector)}`, ctx);
    if (vector.length !== this.length) throw new ZcollError('EINVAL', `${op}: the vector has length ${vector.length}, this RobustAllReduce expects ${this.length}`, ctx);
    if (!(typeof lr === 'number' && Number.isFinite(lr) && lr > 0)) throw new ZcollError('EINVAL', `${op}: lr must be a finite number > 0, got ${String(lr)}`, ctx);
    this.rounds++;
    const residual = this.residual;
    // Memory at the workers: this rank sends a = lr g + memory; its memory changes only on commit.
    const sent = residual !== undefined ? residual.augment(vector, lr) : vector;
    try {
      const round = await this.exchangeAndAggregate(sent, lr);
      if (residual !== undefined) residual.commit(round.selected ?? NO_SELECTION, round.report.verdicts[this.comm.rank] === 'ok');
      return { update: round.update, report: round.report };
    } catch (e) {
      residual?.abort();
      throw e;
    }
  }

  private async exchangeAndAggregate(vector: Float32Array, lr: number): Promise<RobustRound & { selected?: Uint32Array }> {
    const op = 'RobustAllReduce.step';
    const ctx = { rank: this.comm.rank, op };
    const timeout = this.timeoutMs !== undefined ? { timeoutMs: this.timeoutMs } : {};
    this.into ??= Array.from({ length: this.comm.size }, (_, r) => (this.aggregatesHere && r !== this.comm.rank ? new Float32Array(this.length) : undefined));
    const into = this.into;
    if (this.mode === 'allgather') {
      const entries = await this.comm.exchangeDirect(vector, { ...timeout, into });
      const { update, verdicts, aggregation, selected } = this.aggregateEntries(entries, lr);
      return { update, report: this.report(verdicts, aggregation), ...(selected !== undefined ? { selected } : {}) };
    }
    const n = this.comm.size;
    const d = this.length;
    const k = this.sparseK;
    const entries = await this.comm.exchangeDirect(vector, { ...timeout, root: this.root, into });
    // The reply, dense: [update (d) | verdict per rank (n) | status (1): 0 ok, else 1 + index in
    // ERROR_CODES]. BGMD with memory at the workers, where every rank needs I: [verdicts (n) |
    // status (1) | update on I (k) | I (k, uint32 bits)], which is also 2k values instead of d.
    const replyBytes = new ArrayBuffer(4 * (k !== undefined ? n + 1 + 2 * k : d + n + 1));
    const reply = new Float32Array(replyBytes);
    const verdictAt = k !== undefined ? 0 : d;
    const statusAt = verdictAt + n;
    let failure: ZcollError | undefined;
    let aggregation: AggregationReport | BgmdReport | undefined;
    if (this.comm.rank === this.root) {
      try {
        const done = this.aggregateEntries(entries, lr);
        if (k !== undefined) {
          const selected = done.selected as Uint32Array;
          for (let t = 0; t < k; t++) reply[n + 1 + t] = done.update[selected[t]];
          new Uint32Array(replyBytes, 4 * (n + 1 + k), k).set(selected);
        } else {
          reply.set(done.update, 0);
        }
        for (let r = 0; r < n; r++) reply[verdictAt + r] = VERDICT_CODE[done.verdicts[r]];
        aggregation = done.aggregation;
      } catch (e) {
        // Whatever failed, the other ranks must hear of it, or they would wait for the reply until their deadline.
        failure = isZcollError(e) ? e : new ZcollError('EINTERNAL', `${op}: the aggregation failed: ${(e as Error).message}`, ctx, { cause: e });
        const code = failure.code;
        for (let r = 0; r < n; r++) reply[verdictAt + r] = VERDICT_CODE[verdictOf(entries[r], d)];
        reply[statusAt] = 1 + ERROR_CODES.indexOf(code);
      }
    }
    if (this.reply === 'broadcast') {
      await this.comm.broadcast(reply, { ...timeout, root: this.root, inPlace: true });
    } else if (this.comm.rank === this.root) {
      const sends: Promise<void>[] = [];
      for (let p = 0; p < n; p++) if (p !== this.root) sends.push(this.comm.send(reply, p, { tag: REPLY_TAG }));
      await Promise.all(sends);
    } else {
      await this.comm.recv(reply, this.root, { ...timeout, tag: REPLY_TAG });
    }
    if (failure !== undefined) throw failure;
    const verdicts: RankVerdict[] = [];
    for (let r = 0; r < n; r++) verdicts.push(VERDICT_OF[reply[verdictAt + r]] ?? 'mismatch');
    const status = reply[statusAt];
    if (status !== 0) {
      const code: ErrorCode = ERROR_CODES[status - 1] ?? 'EINTERNAL';
      throw new ZcollError(code, `${op}: the aggregation failed on the root (rank ${this.root}) with ${code}`, { ...ctx, peer: this.root, details: { verdicts } });
    }
    if (k === undefined) return { update: reply.slice(0, d), report: this.report(verdicts, aggregation) };
    // Rebuilt from I and its values: bitwise the root's update (exactly 0 outside I).
    const selected = new Uint32Array(replyBytes, 4 * (n + 1 + k), k).slice();
    const bad = firstOutOfOrder(selected, d);
    if (bad >= 0) throw new ZcollError('EPROTO', `${op}: the reply of the root (rank ${this.root}) holds I[${bad}] = ${selected[bad]}, not ascending below ${d}`, { ...ctx, peer: this.root });
    const update = new Float32Array(d);
    for (let t = 0; t < k; t++) update[selected[t]] = reply[n + 1 + t];
    return { update, report: this.report(verdicts, aggregation), selected };
  }

  private report(verdicts: RankVerdict[], aggregation: AggregationReport | BgmdReport | undefined): RobustRoundReport {
    const invalidRanks: number[] = [];
    for (let r = 0; r < verdicts.length; r++) if (verdicts[r] !== 'ok') invalidRanks.push(r);
    return {
      round: this.rounds,
      mode: this.mode,
      aggregator: this.aggregator,
      verdicts,
      invalidRanks,
      aggregatedHere: this.aggregatesHere,
      ...(aggregation !== undefined ? { aggregation } : {}),
    };
  }

  /** Rows in rank order (an invalid entry becomes an empty row, which every aggregator screens out), aggregated. */
  private aggregateEntries(
    entries: ReadonlyArray<Float32Array | ZcollError | null>,
    lr: number,
  ): { update: Float32Array; verdicts: RankVerdict[]; aggregation: AggregationReport | BgmdReport; selected?: Uint32Array } {
    const d = this.length;
    const mismatched = entries.map((e) => !(e instanceof Float32Array) || e.length !== d);
    const rows = entries.map((e, r) => (mismatched[r] ? new Float32Array(0) : (e as Float32Array)));
    // The aggregator screens every row anyway (length, NaN/Inf): its verdict is reused, not a second pass.
    const verdictsFrom = (invalidRows: readonly number[]): RankVerdict[] =>
      entries.map((_, r) => (mismatched[r] ? 'mismatch' : invalidRows.includes(r) ? 'nonFinite' : 'ok'));
    if (this.bgmd !== undefined) {
      const s = this.bgmd.step(rows, lr);
      return { update: s.update, verdicts: verdictsFrom(s.report.invalidRows), aggregation: s.report, selected: s.selected };
    }
    const name = this.aggregator as AggregatorName;
    const options = { ...((this.aggregatorOptions ?? {}) as object), invalid: this.invalid, length: d } as AggregatorOptionsByName[AggregatorName];
    const a = aggregate(name, rows, options);
    return { update: a.value, verdicts: verdictsFrom(a.report.invalidRows), aggregation: a.report };
  }
}

/** A received entry's verdict: the exchange's EMISMATCH (or anything not a length-d Float32Array), NaN/Inf, or ok. */
function verdictOf(e: Float32Array | ZcollError | null, d: number): RankVerdict {
  if (!(e instanceof Float32Array) || e.length !== d) return 'mismatch';
  return isFiniteRow(e) ? 'ok' : 'nonFinite';
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (typeof x !== 'object') return typeof x;
  return (x as object).constructor?.name ?? 'object';
}

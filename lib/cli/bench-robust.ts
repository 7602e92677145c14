/**
 * `zcoll bench robust`: Byzantine-robust aggregation as a collective. Every rank sends its float32
 * gradient straight to every other rank (comm.exchangeDirect: never relayed, so a Byzantine rank
 * controls only its own row) and aggregates the n rows itself with the chosen rule of lib/robust
 * (deterministic, so all ranks agree). The timed step is exchange + aggregation.
 * Rows are seeded pseudo-gradients ((i%7)+1 plus N(0, 0.1^2) noise per rank), regenerated on every
 * rank: the check compares the result bitwise with the rule applied to the fault-free rows (bgmd,
 * stateful: by a reference instance that has replayed every round the live one ran, warm-up
 * included). With Byzantine ranks in the plan an honest rank's result is held to the rule's stated
 * bound instead (robust-bound.ts: distance from the honest rows' mean within sqrt(kappa) times their
 * spread; all d elements count as wrong when it is not, a rule with no bound fails every result), and
 * the fault columns show how many rows the rule excluded (invalid rows, or rows Krum did not select)
 * and the largest distance as a fraction of the bound.
 * algbw = S / time with S = d * 4 bytes; busbw uses the all-reduce factor 2(n-1)/n so the figure
 * compares with the all-reduce it replaces (the direct exchange moves (n-1) S per rank).
 */
import type { Communicator } from '../comm/communicator.js';
import { ZcollError } from '../errors.js';
import type { FaultPlan } from '../faults/plan.js';
import type { HonestView } from '../faults/rank-faults.js';
import { Prng } from '../prng.js';
import { aggregate, type AggregatorName, type Aggregation } from '../robust/aggregator.js';
import { Bgmd } from '../robust/bgmd.js';
import type { BenchCase, BenchStep } from './bench-collectives.js';
import { boundRatio, robustBound, withinBound } from './robust-bound.js';

/** CLI names (issue 8) to lib/robust names; bgmd is the stateful block-GM wrapper. */
export const ROBUST_AGGREGATORS: Readonly<Record<string, AggregatorName | 'bgmd'>> = {
  mean: 'mean',
  median: 'coordinateMedian',
  'trimmed-mean': 'trimmedMean',
  krum: 'krum',
  'multi-krum': 'multiKrum',
  gm: 'geometricMedian',
  cc: 'centeredClipping',
  bgmd: 'bgmd',
};

export interface RobustCaseOptions {
  aggregator: string;
  /** Byzantine rows the rule assumes (trimmed-mean, krum); default: the plan's Byzantine ranks when any. */
  f?: number;
  plan: FaultPlan;
  seed: number;
}

export function robustRow(rank: number, d: number, seed: number): Float32Array {
  const prng = new Prng((seed * 7919 + rank * 104729 + 1) >>> 0);
  const row = new Float32Array(d);
  for (let i = 0; i < d; i++) row[i] = (i % 7) + 1 + 0.1 * prng.normal();
  return row;
}

function excludedOf(a: Aggregation): number {
  const r = a.report;
  return r.invalidRows.length + (r.selectedRows !== undefined ? r.used - r.selectedRows.length : 0);
}

export function robustCase(comm: Communicator, o: RobustCaseOptions): BenchCase {
  const rule = ROBUST_AGGREGATORS[o.aggregator];
  if (rule === undefined) throw new ZcollError('EINVAL', `--aggregator: unknown aggregator '${o.aggregator}' (one of ${Object.keys(ROBUST_AGGREGATORS).join(', ')})`);
  const n = comm.size;
  const byzantineRanks = new Set(o.plan.byzantine.flatMap((b) => b.ranks));
  const f = o.f ?? (byzantineRanks.size > 0 ? byzantineRanks.size : undefined);
  const ruleOptions = f !== undefined && (rule === 'trimmedMean' || rule === 'krum' || rule === 'multiKrum') ? { f } : {};
  const segmentElems = Math.max(1, Math.floor(comm.segmentBytes / 4));
  const ruleF = rule === 'trimmedMean' || rule === 'krum' || rule === 'multiKrum' ? f : undefined;
  const bound = byzantineRanks.size > 0 ? robustBound(o.aggregator, n, byzantineRanks.size, ruleF) : undefined;
  // A Byzantine rank's own result is not the system's concern: only honest ranks are held to the bound.
  const judged = !byzantineRanks.has(comm.rank);
  return {
    collective: 'robust',
    algorithm: o.aggregator,
    redop: 'none',
    root: -1,
    type: 'float32',
    busFactor: (k) => (2 * (k - 1)) / k,
    fitSize: (bytes) => Math.floor(bytes / 4) * 4,
    ...(bound !== undefined ? { byzantineCheck: `results of honest ranks outside the bound: ${bound.text}` } : {}),
    prepare: (bytes): BenchStep => {
      const d = bytes / 4;
      const rows = Array.from({ length: n }, (_, r) => robustRow(r, d, o.seed));
      const mine = rows[comm.rank];
      const run1 = (input: readonly Float32Array[], bgmd: Bgmd<AggregatorName> | undefined): { value: Float32Array; excluded: number } => {
        if (bgmd !== undefined) {
          const s = bgmd.step(input, 1);
          return { value: s.update, excluded: s.report.invalidRows.length };
        }
        const a = aggregate(rule as AggregatorName, input, ruleOptions);
        return { value: a.value, excluded: excludedOf(a) };
      };
      // bgmd keeps per-worker memory, so each round's result depends on every round before it: the
      // reference runs its own instance on the fault-free rows and must replay the SAME rounds as
      // the live one, warm-up rounds included (run() is called for warm-up iterations, check() is
      // not). check() therefore catches the reference up to the live round count before comparing;
      // stepping the reference only in check() left it one round behind per warm-up iteration, and
      // with the memory shifted the selected blocks differ (2k wrong values per rank and round).
      const makeBgmd = (): Bgmd<AggregatorName> | undefined => (rule === 'bgmd' ? new Bgmd<AggregatorName>({ workers: n, length: d, seed: o.seed }) : undefined);
      const live = makeBgmd();
      const reference = makeBgmd();
      let liveRounds = 0;
      let referenceRounds = 0;
      let refValue: Float32Array | undefined = rule === 'bgmd' ? undefined : run1(rows, undefined).value;
      let last: { value: Float32Array; excluded: number } = { value: new Float32Array(0), excluded: 0 };
      const honestRows = rows.filter((_, r) => !byzantineRanks.has(r));
      let lastRatio = 0;
      const honestView: HonestView = (msg) => {
        const off = msg.header.segment * segmentElems;
        return rows.filter((_, r) => !byzantineRanks.has(r)).map((row) => row.subarray(off, off + msg.header.elements));
      };
      return {
        reset: () => undefined,
        run: async () => {
          const entries = await comm.exchangeDirect(mine);
          const got = entries.map((e) => (e instanceof Float32Array ? e : new Float32Array(0)));
          last = run1(got, live);
          liveRounds++;
        },
        check: () => {
          if (bound !== undefined) {
            if (!judged) return 0;
            lastRatio = boundRatio(last.value, honestRows, bound.kappa);
            return withinBound(lastRatio) ? 0 : d;
          }
          if (reference !== undefined) {
            // Untimed: replay the rounds the reference has not seen (the warm-up ones, or any run unchecked).
            for (; referenceRounds < liveRounds; referenceRounds++) refValue = run1(rows, reference).value;
          }
          const ref = refValue!;
          if (last.value.length !== ref.length) return d;
          let wrong = 0;
          for (let i = 0; i < d; i++) if (!Object.is(last.value[i], ref[i])) wrong++;
          return wrong;
        },
        excluded: () => last.excluded,
        ...(bound !== undefined ? { boundRatio: () => lastRatio } : {}),
        honestView,
      };
    },
  };
}

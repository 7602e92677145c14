/**
 * `zcoll topo`: what MULTITREE makes of a topology, as text or JSON. Pure: topology in, report out
 * (the yargs wiring lives in main.ts). Prints the construction steps T against the lower bound, the
 * trees' depths, directed-link use per step, the verifiers' verdicts (data flow, links and ports,
 * tree shape) for every schedule algorithm, their schedule hashes, and the simulated time / algbw /
 * busbw of each over a size sweep with the 'auto' choice. A check an algorithm does not promise
 * (cache.ts ALGORITHM_CLAIMS) is reported as information: 'n/a' for tree shape, 'contends' for
 * links, never as a failure.
 */
import { describeTopology, topologyHash, type Topology } from '../cluster/topology.js';
import { multitreeLowerBound } from '../cluster/topology-routes.js';
import { DEFAULT_SIM_PARAMS, chooseAlgorithm } from '../schedule/choose.js';
import { ALGORITHM_CLAIMS, cachedSchedule, SCHEDULE_ALGORITHMS, type ScheduleAlgorithm } from '../schedule/cache.js';
import { scheduleHash } from '../schedule/hash.js';
import { buildMultitreeTrees, multitreeSchedule, treeDepths, type MultitreeRule } from '../schedule/multitree.js';
import { simulate, type SimParams } from '../schedule/simulate.js';
import type { Schedule } from '../schedule/types.js';
import { verifyLinks, verifyTrees } from '../schedule/verify-links.js';
import { verifySchedule } from '../schedule/verify.js';

export interface TopoReportOptions {
  readonly sizes: readonly number[];
  readonly json: boolean;
  readonly rule?: MultitreeRule;
  readonly params?: SimParams;
  /** Skip the symbolic data-flow proof above this many transfers (it is the slow check). */
  readonly maxVerifyTransfers?: number;
}

interface Verdict {
  readonly ok: boolean;
  readonly errors: readonly string[];
}

interface AlgorithmReport {
  readonly algorithm: ScheduleAlgorithm;
  readonly steps: number;
  readonly transfers: number;
  readonly hash: string;
  readonly dataflow: Verdict | 'skipped';
  /** Links and ports; `claimed` false: the builder does not promise contention freedom (errors are contention found). */
  readonly links: Verdict & { readonly claimed: boolean };
  /** Tree shape per chunk, or 'n/a' for algorithms that are not made of trees. */
  readonly trees: Verdict | 'n/a';
}

export interface TopoReport {
  readonly topology: string;
  readonly topologyHash: string;
  readonly nranks: number;
  readonly switches: number;
  readonly directedLinks: number;
  readonly multitree: {
    readonly rule: MultitreeRule;
    readonly T: number;
    readonly lowerBound: number;
    readonly buildMs: number;
    readonly depth: { readonly min: number; readonly max: number; readonly mean: number };
    /** Directed-link copies used per construction step (= per all-gather step). */
    readonly linkUsePerStep: readonly number[];
    readonly linkCapacity: number;
  };
  readonly algorithms: readonly AlgorithmReport[];
  readonly sweep: ReadonlyArray<{
    readonly bytes: number;
    readonly results: ReadonlyArray<{ readonly algorithm: ScheduleAlgorithm; readonly timeS: number; readonly algbw: number; readonly busbw: number }>;
    readonly auto: ScheduleAlgorithm;
  }>;
}

function verdict(v: { ok: boolean; errors: string[] }): Verdict {
  return { ok: v.ok, errors: v.errors.slice(0, 5) };
}

/** Link hops per step of the copy phase of a MULTITREE schedule (steps T..2T-1). */
function linkUse(s: Schedule, T: number): number[] {
  const use = new Array<number>(T).fill(0);
  for (const t of s.transfers) if (t.kind === 'copy' && t.path !== undefined) use[t.step - T] += t.path.length - 1;
  return use;
}

export function buildTopoReport(t: Topology, opts: TopoReportOptions): TopoReport {
  const rule = opts.rule ?? 'artifact';
  const params = opts.params ?? DEFAULT_SIM_PARAMS;
  const maxVerify = opts.maxVerifyTransfers ?? 50_000;
  const started = performance.now();
  const trees = buildMultitreeTrees(t, { rule });
  const buildMs = performance.now() - started;
  const depths = treeDepths(trees);
  const mt = multitreeSchedule(trees);
  const algorithms: AlgorithmReport[] = SCHEDULE_ALGORITHMS.map((algorithm) => {
    const s = algorithm === 'multitree' ? mt : cachedSchedule(t, algorithm, { rule });
    return {
      algorithm,
      steps: s.steps,
      transfers: s.transfers.length,
      hash: scheduleHash(s),
      dataflow: s.transfers.length <= maxVerify ? verdict(verifySchedule(s)) : 'skipped',
      links: { ...verdict(verifyLinks(s, t)), claimed: ALGORITHM_CLAIMS[algorithm].contentionFree },
      trees: ALGORITHM_CLAIMS[algorithm].trees ? verdict(verifyTrees(s)) : 'n/a',
    };
  });
  const sweep = opts.sizes.map((bytes) => {
    const results = SCHEDULE_ALGORITHMS.map((algorithm) => {
      const s = algorithm === 'multitree' ? mt : cachedSchedule(t, algorithm, { rule });
      const r = simulate(s, t, bytes, params);
      return { algorithm, timeS: r.timeS, algbw: r.algbw, busbw: r.busbw };
    });
    return { bytes, results, auto: chooseAlgorithm(t, bytes, SCHEDULE_ALGORITHMS, params, { rule }).algorithm };
  });
  return {
    topology: describeTopology(t),
    topologyHash: topologyHash(t),
    nranks: t.nranks,
    switches: t.nswitches,
    directedLinks: t.links.length,
    multitree: {
      rule,
      T: trees.T,
      lowerBound: multitreeLowerBound(t),
      buildMs: Math.round(buildMs * 10) / 10,
      depth: {
        min: depths.length > 0 ? Math.min(...depths) : 0,
        max: depths.length > 0 ? Math.max(...depths) : 0,
        mean: depths.length > 0 ? depths.reduce((a, b) => a + b, 0) / depths.length : 0,
      },
      linkUsePerStep: linkUse(mt, trees.T),
      linkCapacity: t.links.reduce((a, l) => a + l.multiplicity, 0),
    },
    algorithms,
    sweep,
  };
}

function formatBytes(b: number): string {
  if (b >= 1 << 30) return `${b / (1 << 30)}G`;
  if (b >= 1 << 20) return `${b / (1 << 20)}M`;
  if (b >= 1 << 10) return `${b / (1 << 10)}K`;
  return `${b}`;
}

function gbs(x: number): string {
  return Number.isFinite(x) ? (x / 1e9).toFixed(2) : 'inf';
}

function formatVerdict(v: Verdict | 'skipped' | 'n/a'): string {
  if (v === 'skipped' || v === 'n/a') return v;
  return v.ok ? 'ok' : `FAIL (${v.errors[0] ?? ''})`;
}

function formatLinks(v: AlgorithmReport['links']): string {
  if (v.ok || v.claimed) return formatVerdict(v);
  return 'contends';
}

export function topoReport(t: Topology, opts: TopoReportOptions): string {
  const r = buildTopoReport(t, opts);
  if (opts.json) return JSON.stringify(r, null, 2);
  const lines: string[] = [];
  const m = r.multitree;
  lines.push(`# topology: ${r.topology}`);
  lines.push(`# ${r.nranks} ranks, ${r.switches} switches, ${r.directedLinks} directed links, hash ${r.topologyHash.slice(0, 16)}`);
  lines.push(`# multitree (${m.rule}): T = ${m.T} construction steps (lower bound ${m.lowerBound}), ${2 * m.T} schedule steps, built in ${m.buildMs} ms`);
  lines.push(`# tree depth: min ${m.depth.min}, max ${m.depth.max}, mean ${m.depth.mean.toFixed(2)}`);
  const shown = m.linkUsePerStep.length > 32 ? [...m.linkUsePerStep.slice(0, 16), '...', ...m.linkUsePerStep.slice(-8)] : m.linkUsePerStep;
  lines.push(`# link use per step (of ${m.linkCapacity} directed link copies): ${shown.join(' ')}`);
  lines.push('#');
  const nameWidth = Math.max(...r.algorithms.map((a) => a.algorithm.length));
  lines.push(`# ${'algorithm'.padEnd(nameWidth)}  steps  transfers  dataflow  links+ports  trees  hash`);
  for (const a of r.algorithms) {
    lines.push(`# ${a.algorithm.padEnd(nameWidth)} ${String(a.steps).padStart(6)} ${String(a.transfers).padStart(10)}  ${formatVerdict(a.dataflow).padEnd(8)}  ${formatLinks(a.links).padEnd(11)}  ${formatVerdict(a.trees).padEnd(5)}  ${a.hash.slice(0, 16)}`);
  }
  lines.push('#');
  const p = opts.params ?? DEFAULT_SIM_PARAMS;
  lines.push(`# simulated (alpha ${p.alphaS * 1e6} us, ${(1 / p.betaSPerByte / 1e9).toFixed(2)} GB/s per link, gamma ${p.gammaSPerByte ?? 0} s/B); time in us, algbw/busbw in GB/s`);
  const header = ['size'.padStart(8)];
  const timeWidth = (a: string): number => Math.max(16, a.length + 5);
  for (const a of SCHEDULE_ALGORITHMS) header.push(`${a} time`.padStart(timeWidth(a)), 'algbw'.padStart(7), 'busbw'.padStart(7));
  header.push('auto'.padStart(10));
  lines.push(header.join(' '));
  for (const row of r.sweep) {
    const cells = [formatBytes(row.bytes).padStart(8)];
    for (const x of row.results) cells.push((x.timeS * 1e6).toFixed(1).padStart(timeWidth(x.algorithm)), gbs(x.algbw).padStart(7), gbs(x.busbw).padStart(7));
    cells.push(row.auto.padStart(10));
    lines.push(cells.join(' '));
  }
  return lines.join('\n');
}

// RobustAllReduce on real rank processes (4 honest ranks; then 5 ranks of which 3 are Byzantine):
// in 'allgather' and 'server' mode every honest rank gets a result bitwise identical to the pure
// aggregator run in this process on the rows as they were sent (the independent reference); a rank
// sending NaN/Inf (own vector corrupted before the call) and a rank sending the wrong length (fault
// seam rewriting its frame headers) are excluded (or zeroed) and reported with the right reason on
// every rank; a rank sending -100 x its vector (fault seam rewriting its payload bytes) does not
// move the GM/BGMD result; BGMD's per-worker memory carried over 3 rounds equals a local Bgmd run;
// an aggregation that cannot run fails with the same error on every rank, and no rank crashes.
import t from 'tap';
import { runRanks } from '../helpers/ranks.js';
import { aggregate, type AggregatorName, type AggregatorOptionsByName } from '../../lib/robust/aggregator.js';
import { Bgmd } from '../../lib/robust/bgmd.js';
import { BgmdResidual } from '../../lib/robust/bgmd-residual.js';
import { isZcollError } from '../../lib/errors.js';
import {
  BGMD_LR,
  CASES,
  contributedVector,
  LENGTH,
  SIZES,
  hashOf,
  hashOfRows,
  ownVector,
  receivedRow,
  roleOf,
  type RoundResult,
  type Scenario,
} from './distributed-cases.js';

interface Reference {
  hash?: string;
  error?: string;
  memoryHash?: string;
  /** BGMD with memory at the workers: each rank's own memory after the last round. */
  ownMemoryHashes?: string[];
  value?: Float32Array;
  selectedRows?: readonly number[];
}

/** The pure aggregators on the received rows, in this process: one reference per round. */
function references(scenario: Scenario, c: number): Reference[] {
  const k = CASES[c];
  const n = SIZES[scenario];
  const rowsOf = (round: number): Float32Array[] => Array.from({ length: n }, (_, r) => receivedRow(scenario, c, round, r));
  const invalid = k.invalid ?? 'exclude';
  if (k.aggregator === 'bgmd' && k.options?.memory === 'workers') {
    // Each rank's residual augments its own vector; the aggregator receives what the seams make of a.
    const beta = Number(k.options.beta);
    const bgmd = new Bgmd({ beta, memory: 'workers', workers: n, length: LENGTH, invalid });
    const residuals = Array.from({ length: n }, () => new BgmdResidual({ length: LENGTH, invalid }));
    // The honest world must also be bitwise the run with the memory on the aggregator.
    const central = scenario === 'honest' ? new Bgmd({ beta, workers: n, length: LENGTH, invalid }) : undefined;
    // 'allgather': every rank commits the I of its own aggregation, whose own row is its a as sent
    // (a rank's seam changes only what the others receive), so a Byzantine rank's view is its own.
    const views = k.mode === 'allgather' ? Array.from({ length: n }, () => new Bgmd({ beta, memory: 'workers', workers: n, length: LENGTH, invalid })) : undefined;
    const refs: Reference[] = [];
    for (let round = 0; round < k.rounds; round++) {
      const sent = residuals.map((r, rank) => r.augment(contributedVector(scenario, c, round, rank), BGMD_LR));
      const received = sent.map((a, rank) => receivedRow(scenario, c, round, rank, a));
      const s = bgmd.step(received, BGMD_LR);
      // Every view first: a commit reuses the buffer its rank sent.
      const seen = residuals.map((_, rank) => views?.[rank].step(received.map((row, p) => (p === rank ? sent[rank] : row)), BGMD_LR) ?? s);
      residuals.forEach((r, rank) => r.commit(seen[rank].selected, !seen[rank].report.invalidRows.includes(rank)));
      const viaCentral = central?.step(rowsOf(round), BGMD_LR);
      if (viaCentral !== undefined && hashOf(viaCentral.update) !== hashOf(s.update)) throw new Error(`case ${c} round ${round}: memory 'workers' differs from 'perWorker'`);
      refs.push({ hash: hashOf(s.update), value: s.update });
    }
    refs[refs.length - 1].ownMemoryHashes = residuals.map((r) => hashOf(r.row));
    return refs;
  }
  if (k.aggregator === 'bgmd') {
    const bgmd = new Bgmd({ ...(k.options ?? {}), workers: n, length: LENGTH, invalid });
    const refs: Reference[] = [];
    for (let round = 0; round < k.rounds; round++) {
      const s = bgmd.step(rowsOf(round), BGMD_LR);
      refs.push({ hash: hashOf(s.update), value: s.update });
    }
    refs[refs.length - 1].memoryHash = hashOfRows(Array.from({ length: n }, (_, r) => bgmd.memoryRow(r)));
    return refs;
  }
  try {
    const options = { ...(k.options ?? {}), invalid, length: LENGTH } as AggregatorOptionsByName[AggregatorName];
    const a = aggregate(k.aggregator, rowsOf(0), options);
    return [{ hash: hashOf(a.value), value: a.value, ...(a.report.selectedRows !== undefined ? { selectedRows: a.report.selectedRows } : {}) }];
  } catch (e) {
    if (!isZcollError(e)) throw e;
    return [{ error: e.code }];
  }
}

function distance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let acc = 0;
  for (let j = 0; j < a.length; j++) acc += (a[j] - b[j]) ** 2;
  return Math.sqrt(acc);
}

const EXPECTED_VERDICT = { honest: 'ok', scaledFlip: 'ok', nan: 'nonFinite', wrongLength: 'mismatch' } as const;

for (const scenario of ['honest', 'byzantine'] as const) {
  t.test(`RobustAllReduce, ${scenario} world`, async (t) => {
    const n = SIZES[scenario];
    const outs = await runRanks(n, { script: 'test/robust/distributed-worker.js', args: [scenario], killAfterMs: 60_000 });
    for (const o of outs) t.equal(o.code, 0, `rank ${o.rank} (${roleOf(scenario, o.rank)}) exits 0 ${o.stderr.slice(-1500)} ${o.stdout.slice(-500)}`);
    const honest = outs.filter((o) => roleOf(scenario, o.rank) === 'honest');
    const expectedVerdicts = Array.from({ length: n }, (_, r) => EXPECTED_VERDICT[roleOf(scenario, r)]);
    const expectedInvalid = expectedVerdicts.flatMap((v, r) => (v === 'ok' ? [] : [r]));
    for (let c = 0; c < CASES.length; c++) {
      const k = CASES[c];
      if (k.only !== undefined && k.only !== scenario) continue;
      const label = `case ${c} ${k.mode} ${k.aggregator}${k.options !== undefined ? ' ' + JSON.stringify(k.options) : ''}${k.invalid !== undefined ? ' invalid=' + k.invalid : ''}${k.reply !== undefined ? ' reply=' + k.reply : ''}`;
      const refs = references(scenario, c);
      for (let round = 0; round < k.rounds; round++) {
        const ref = refs[round];
        for (const o of honest) {
          const got = (o.results as RoundResult[]).find((r) => r.case === c && r.round === round);
          if (got === undefined) {
            t.fail(`${label} round ${round}: rank ${o.rank} printed no result`);
            continue;
          }
          if (ref.error !== undefined) {
            t.equal(got.error, ref.error, `${label}: rank ${o.rank} fails with the reference's error`);
            continue;
          }
          t.equal(got.error, undefined, `${label} round ${round}: rank ${o.rank} did not fail`);
          t.equal(got.hash, ref.hash, `${label} round ${round}: rank ${o.rank} is bitwise equal to the local reference`);
          t.same(got.verdicts, expectedVerdicts, `${label} round ${round}: rank ${o.rank} verdicts`);
          t.same(got.invalidRanks, expectedInvalid, `${label} round ${round}: rank ${o.rank} invalid ranks`);
          const aggregates = k.mode === 'allgather' || o.rank === 0;
          t.equal(got.aggregatedHere, aggregates, `${label}: rank ${o.rank} aggregatedHere`);
          if (ref.ownMemoryHashes !== undefined) {
            t.equal(got.ownMemoryHash, ref.ownMemoryHashes[o.rank], `${label}: rank ${o.rank}'s own memory after ${k.rounds} rounds equals the local simulation`);
          }
          if (ref.memoryHash !== undefined && aggregates) {
            t.equal(got.memoryHash, ref.memoryHash, `${label}: rank ${o.rank}'s per-worker memory after ${k.rounds} rounds equals the local simulation`);
          }
        }
      }
      // The scaled-flip rank is finite, so not "invalid": the robust rules must absorb it instead.
      if (scenario === 'byzantine' && k.invalid === undefined && refs[0].value !== undefined) {
        const honestMean = new Float64Array(LENGTH);
        for (const r of [0, 1]) {
          const v = ownVector(c, 0, r);
          for (let j = 0; j < LENGTH; j++) honestMean[j] += v[j] / 2;
        }
        const flip = receivedRow(scenario, c, 0, 4);
        const polluted = new Float64Array(LENGTH); // the mean of the valid rows: ranks 0, 1 and the flipped 4
        for (let j = 0; j < LENGTH; j++) polluted[j] = (2 * honestMean[j] + flip[j]) / 3;
        const off = distance(refs[0].value, honestMean) / distance(polluted, honestMean);
        if (k.aggregator === 'mean') t.ok(off > 0.99, `${label}: the mean follows the flipped row (${off.toFixed(3)})`);
        if (k.aggregator === 'geometricMedian' || k.aggregator === 'coordinateMedian' || k.aggregator === 'multiKrum') {
          t.ok(off < 0.05, `${label}: the flipped row moves the result by ${off.toFixed(4)} of what it moves the mean`);
        }
        if (k.aggregator === 'multiKrum') t.notOk(refs[0].selectedRows?.includes(4), `${label}: multiKrum leaves the flipped row out`);
      }
    }
  });
}

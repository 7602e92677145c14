import t, { type Test } from 'tap';
import { Bgmd, type BgmdStep } from '../../lib/robust/bgmd.js';
import { BgmdResidual } from '../../lib/robust/bgmd-residual.js';
import { bitwiseEqual, randomRows } from './random-rows.js';

/**
 * The same rounds twice: `Bgmd` with the n x d memory on the aggregator ('perWorker'), and `Bgmd`
 * with memory 'workers' fed by one BgmdResidual per worker. Updates, I, the invalid rows and every
 * worker's memory must agree bit for bit, round after round.
 */
function runBoth(
  t: Test,
  label: string,
  options: { n: number; d: number; beta: number; lr: number; rounds: number; invalid: 'exclude' | 'zero'; inner: 'geometricMedian' | 'mean'; bad?: (round: number, rows: Float32Array[]) => void; rowsOf?: (round: number) => Float32Array[] },
): { here: BgmdStep[]; there: BgmdStep[] } {
  const { n, d, beta, lr, rounds, invalid, inner } = options;
  const central = new Bgmd({ workers: n, length: d, beta, inner, invalid });
  const aggregator = new Bgmd({ workers: n, length: d, beta, inner, invalid, memory: 'workers' });
  const residuals = Array.from({ length: n }, () => new BgmdResidual({ length: d, invalid }));
  const here: BgmdStep[] = [];
  const there: BgmdStep[] = [];
  for (let round = 0; round < rounds; round++) {
    const g = options.rowsOf?.(round) ?? randomRows(n, d, 7000 + round, 1 + round);
    options.bad?.(round, g);
    const a = residuals.map((r, i) => r.augment(g[i], lr));
    const viaWorkers = aggregator.step(a, lr);
    const viaCentral = central.step(g, lr);
    residuals.forEach((r, i) => r.commit(viaWorkers.selected, !viaWorkers.report.invalidRows.includes(i)));
    const at = `${label} round ${round}`;
    t.same([...viaWorkers.selected], [...viaCentral.selected], `${at}: same I`);
    t.ok(bitwiseEqual(viaWorkers.update, viaCentral.update), `${at}: update bitwise equal`);
    // 'zero': an honest worker with a NaN gradient sends its memory alone, a valid row for the aggregator.
    const expectedInvalid = invalid === 'exclude' ? viaCentral.report.invalidRows : [];
    t.same(viaWorkers.report.invalidRows, expectedInvalid, `${at}: invalid rows`);
    t.equal(viaWorkers.report.candidates, viaCentral.report.candidates, `${at}: same selection path (candidates ${String(viaCentral.report.candidates)})`);
    t.ok(residuals.every((r, i) => bitwiseEqual(r.row, central.memoryRow(i))), `${at}: every worker's memory bitwise equal to the aggregator's row`);
    here.push(viaCentral);
    there.push(viaWorkers);
  }
  return { here, there };
}

t.test("memory at the workers: bitwise the rounds of memory 'perWorker' (candidates, all d, beta 1)", async (t) => {
  // d >= 65536 selects among sampled-threshold candidates; small d and beta 1 select from all d.
  runBoth(t, 'candidates GM', { n: 5, d: 70_000, beta: 0.05, lr: 0.1, rounds: 3, invalid: 'exclude', inner: 'geometricMedian' });
  runBoth(t, 'candidates mean', { n: 16, d: 70_000, beta: 0.1, lr: 0.3, rounds: 2, invalid: 'exclude', inner: 'mean' });
  runBoth(t, 'all d', { n: 4, d: 3000, beta: 0.2, lr: 0.7, rounds: 4, invalid: 'exclude', inner: 'geometricMedian' });
  runBoth(t, 'beta 1', { n: 3, d: 500, beta: 1, lr: 0.25, rounds: 3, invalid: 'exclude', inner: 'geometricMedian' });
  // Too few candidates (large values only on the sampled coordinates, fewer than k of them): the
  // round falls back to all d scores, and the block is gathered from the rows.
  const sampled = new Set<number>();
  for (let r = 0; r < 256; r++) {
    const start = Math.min(70_000 - 16, Math.floor((r * 70_000) / 256));
    for (let j = start; j < start + 16; j++) sampled.add(j);
  }
  const spiky = (round: number): Float32Array[] =>
    randomRows(6, 70_000, 100 + round, 1).map((row) => row.map((v, j) => v * (sampled.has(j) ? 100 : 0.01)));
  const { there } = runBoth(t, 'fallback', { n: 6, d: 70_000, beta: 0.1, lr: 0.5, rounds: 2, invalid: 'exclude', inner: 'mean', rowsOf: spiky });
  t.equal(there[0].report.candidates, undefined, 'the spiky rounds did select from all d scores');
});

t.test('memory at the workers: NaN/Inf gradients under exclude and zero, a wrong-length row', async (t) => {
  const bad = (round: number, rows: Float32Array[]): void => {
    if (round === 1) rows[2][40_000] = Number.NaN;
    if (round === 2) rows[0][5] = Number.NEGATIVE_INFINITY;
  };
  for (const invalid of ['exclude', 'zero'] as const) {
    const { there } = runBoth(t, `nan ${invalid}`, { n: 5, d: 70_000, beta: 0.05, lr: 0.1, rounds: 4, invalid, inner: 'geometricMedian', bad });
    if (invalid === 'exclude') t.same(there[1].report.invalidRows, [2], 'the NaN row is reported');
  }
  // A Byzantine a_i of the wrong length or with NaN (not from a BgmdResidual) is excluded and counted.
  const aggregator = new Bgmd({ workers: 3, length: 100, beta: 0.1, memory: 'workers' });
  const rows = randomRows(3, 100, 5, 1);
  const nan = rows[1].slice();
  nan[3] = Number.NaN;
  const step = aggregator.step([rows[0], new Float32Array(99), nan], 0.1);
  t.same(step.report.invalidRows, [1, 2]);
  t.ok(step.update.every(Number.isFinite), 'the update stays finite');
  t.throws(() => aggregator.meanMemory(), { code: 'EINVAL' }, 'the aggregator holds no memory to average');
});

t.test('BgmdResidual: round protocol and argument errors', async (t) => {
  const r = new BgmdResidual({ length: 4 });
  const g = Float32Array.of(1, -2, 3, 4);
  const a = r.augment(g, 0.5);
  t.same([...a], [0.5, -1, 1.5, 2]);
  t.throws(() => r.augment(g, 0.5), { code: 'EINVAL', message: /previous round was neither committed nor aborted/ });
  t.throws(() => r.commit(Uint32Array.of(2, 1), true), { code: 'EINVAL', message: /ascending indices below 4; selected\[1\] = 1/ });
  t.throws(() => r.commit(Uint32Array.of(4), true), { code: 'EINVAL', message: /selected\[0\] = 4/ });
  r.commit(Uint32Array.of(1), true);
  t.same([...r.row], [0.5, 0, 1.5, 2], 'used: a with I zeroed');
  r.augment(g, 0.5);
  r.commit(Uint32Array.of(0), false);
  t.same([...r.row], [0.5, 0, 1.5, 2], 'not used: the memory as it was');
  r.augment(g, 0.5);
  r.abort();
  t.same([...r.row], [0.5, 0, 1.5, 2], 'aborted: the memory as it was');
  t.throws(() => r.commit(Uint32Array.of(0), true), { code: 'EINVAL', message: /no round in flight/ });
  t.throws(() => r.augment(new Float32Array(3), 0.5), { code: 'EINVAL', message: /length 4, got length 3/ });
  t.throws(() => r.augment(g, 0), { code: 'EINVAL', message: /lr must be a finite number > 0/ });
  t.throws(() => new BgmdResidual({ length: 0 }), { code: 'EINVAL', message: /'length' of BgmdResidual/ });
  const z = new BgmdResidual({ length: 2, invalid: 'zero' });
  z.augment(Float32Array.of(1, 1), 1);
  z.commit(new Uint32Array(0), true);
  const sent = z.augment(Float32Array.of(Number.NaN, 1), 1);
  t.equal(z.gradientFinite, false);
  t.same([...sent], [1, 1], "'zero': a NaN gradient sends the memory alone");
  r.reset();
  t.same([...r.row], [0, 0, 0, 0]);
});

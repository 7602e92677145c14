// `zcoll topo` report: the pure function prints T, depths, link use, verdicts and the size sweep,
// as text and as JSON, with numbers that agree with the builder and the simulator.
import t from 'tap';
import { buildTopology } from '../../lib/cluster/topology.js';
import { buildTopoReport, topoReport } from '../../lib/cli/topo.js';
import { buildMultitreeTrees } from '../../lib/schedule/multitree.js';

const torus = buildTopology({ kind: 'torus', dims: [4, 4] }, 16);

t.test('text report of a 4x4 torus', async (t) => {
  const text = topoReport(torus, { sizes: [1024, 64 << 20], json: false });
  t.match(text, /T = 5 construction steps \(lower bound 4\), 10 schedule steps/);
  t.match(text, /link use per step \(of 64 directed link copies\): 64 64 48 48 16/);
  t.match(text, /tree depth: min 4, max 4/);
  for (const a of ['ring', 'multitree', 'tree']) t.match(text, new RegExp(`# ${a}\\s+\\d+\\s+\\d+\\s+ok\\s+ok\\s+ok`));
  // Recursive doubling promises neither trees nor contention freedom: reported, not failed.
  t.match(text, /# recursive-doubling\s+4\s+64\s+ok\s+contends\s+n\/a/);
  t.notMatch(text, /FAIL/);
  const rows = text.split('\n').filter((l) => /^\s+(1K|64M)\s/.test(l));
  t.equal(rows.length, 2);
  // 1 KiB: latency-bound, recursive doubling's 4 exchanges beat the tree's 8 hops even with its contention.
  t.match(rows[0], /recursive-doubling$/);
  t.match(rows[1], /multitree$/);
});

t.test('JSON report agrees with the builder', async (t) => {
  const json = JSON.parse(topoReport(torus, { sizes: [1 << 20], json: true })) as ReturnType<typeof buildTopoReport>;
  t.equal(json.multitree.T, buildMultitreeTrees(torus).T);
  t.equal(json.nranks, 16);
  t.same(json.multitree.linkUsePerStep, [64, 64, 48, 48, 16]);
  t.equal(json.sweep[0].bytes, 1 << 20);
  const byAlg = Object.fromEntries(json.sweep[0].results.map((r) => [r.algorithm, r]));
  t.ok(byAlg.multitree.timeS < byAlg.ring.timeS);
  t.equal(byAlg.ring.busbw, (byAlg.ring.algbw * 30) / 16);
  t.ok(json.algorithms.every((a) => (a.links.ok || !a.links.claimed) && (a.trees === 'n/a' || a.trees.ok) && a.dataflow !== 'skipped' && a.dataflow.ok));
  t.ok(json.algorithms.filter((a) => a.algorithm === 'ring' || a.algorithm === 'multitree').every((a) => a.links.ok && a.links.claimed && a.trees !== 'n/a'), 'ring and MULTITREE claim and keep both');
  const rd = json.algorithms.find((a) => a.algorithm === 'recursive-doubling');
  t.match(rd, { trees: 'n/a', links: { ok: false, claimed: false } }, 'recursive doubling contends on a torus and says so');
  // 'auto' is the argmin of the simulated times.
  const fastest = json.sweep[0].results.reduce((a, b) => (b.timeS < a.timeS ? b : a));
  t.equal(json.sweep[0].auto, fastest.algorithm);
});

t.test('large schedules skip the slow data-flow proof but keep the link checks', async (t) => {
  const r = buildTopoReport(torus, { sizes: [], json: true, maxVerifyTransfers: 100 });
  t.equal(r.algorithms.find((a) => a.algorithm === 'multitree')?.dataflow, 'skipped');
  t.ok(r.algorithms.every((a) => a.links.ok || !a.links.claimed));
});

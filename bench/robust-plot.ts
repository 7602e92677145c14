/**
 * The grid of bench/results/robust.md (test accuracy per attack and aggregator, from
 * bench/robust-experiment.ts) as a picture: one group of bars per attack, one bar per aggregator.
 * Reads the table from the results file, so the plot always shows the recorded run.
 *   node dist/bench/robust-plot.js [--in bench/results/robust.md] [--out bench/results/robust-grid.svg]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import { benchArgs, outputPath } from './args.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = benchArgs({
  name: 'robust-plot',
  summary: 'The accuracy grid of bench/results/robust.md as an SVG bar chart.',
  options: {
    in: { type: 'string', value: 'FILE.md', describe: 'the results table (default: bench/results/robust.md)' },
    out: { type: 'string', value: 'FILE.svg', describe: 'the chart (default: bench/results/robust-grid.svg, or a fresh file beside it if that exists)' },
  },
});
const input = resolve(args.in ?? join(REPO, 'bench', 'results', 'robust.md'));
const output = resolve(outputPath(args.out, join(REPO, 'bench', 'results', 'robust-grid.svg')));
const lines = readFileSync(input, 'utf8').split('\n');
const head = lines.findIndex((l) => l.startsWith('| attack |'));
if (head < 0) throw new Error(`${input}: no "| attack | ..." table`);
const cells = (l: string): string[] => l.split('|').slice(1, -1).map((c) => c.trim());
const aggregators = cells(lines[head]).slice(1);
const points: Array<{ attack: string; aggregator: string; accuracy: number }> = [];
for (let i = head + 2; i < lines.length && lines[i].startsWith('|'); i++) {
  const [attack, ...values] = cells(lines[i]);
  values.forEach((v, k) => points.push({ attack, aggregator: aggregators[k], accuracy: Number(v) }));
}
const spec: vl.TopLevelSpec = {
  $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
  title: 'Test accuracy under attack, 16 workers (softmax regression on MNIST digits)',
  data: { values: points },
  mark: 'bar',
  width: 135,
  height: 220,
  encoding: {
    column: { field: 'attack', type: 'nominal', title: null, header: { labelAngle: 0, labelLimit: 0, labelFontSize: 9 } },
    x: { field: 'aggregator', type: 'nominal', axis: null },
    y: { field: 'accuracy', type: 'quantitative', scale: { domain: [0, 1] }, title: 'test accuracy' },
    color: { field: 'aggregator', type: 'nominal', title: 'aggregator' },
  },
};
const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
writeFileSync(output, await view.toSVG());
process.stdout.write(`${output}: ${points.length} bars\n`);

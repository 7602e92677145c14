/**
 * `--plot FILE.svg` and `zcoll report --plot`: bus bandwidth vs size, one line per series (collective,
 * algorithm and fault plan), on a log2 size axis; and, when a run had faults, the time of every
 * timed round vs the round, one line per series and size. Drawn with vega-lite, compiled to a vega
 * spec and rendered to SVG headless (vega's 'none' renderer), so no SVG is written by hand.
 * vega and vega-lite (23 MB) are optional peer dependencies: a training job does not install them,
 * so they are imported here, at the first plot, and their absence is a clear ECONFIG naming them.
 */
import { writeFileSync } from 'node:fs';
import type * as Vega from 'vega';
import type * as vl from 'vega-lite';
import { ZcollError } from '../errors.js';
import type { BenchRow } from './bench-table.js';

/** The packages --plot needs and the ranges zcoll is tested with (package.json peerDependencies). */
export const PLOT_PACKAGES: Readonly<Record<string, string>> = { vega: '^6.4.0', 'vega-lite': '^6.4.3' };

interface Plotting {
  vega: typeof Vega;
  vl: typeof vl;
}

function isMissingPackage(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
}

let plotting: Promise<Plotting> | undefined;

/**
 * Imports vega and vega-lite, or throws ZcollError('ECONFIG') saying which are missing and the
 * command that installs them. `zcoll bench --plot` calls it before the benchmark runs, so a missing
 * package costs no benchmark time.
 */
export function loadPlotting(): Promise<Plotting> {
  plotting ??= (async () => {
    const names = Object.keys(PLOT_PACKAGES);
    const settled = await Promise.allSettled(names.map((name) => import(name)));
    const missing = names.filter((_, i) => {
      const s = settled[i];
      return s !== undefined && s.status === 'rejected' && isMissingPackage(s.reason);
    });
    if (missing.length > 0) {
      const install = missing.map((name) => `${name}@${PLOT_PACKAGES[name] ?? 'latest'}`).join(' ');
      throw new ZcollError(
        'ECONFIG',
        `--plot needs the package${missing.length > 1 ? 's' : ''} ${missing.join(' and ')}, which ${missing.length > 1 ? 'are' : 'is'} not installed ` +
          `(optional peer dependencies of zcoll, left out so that training jobs do not install them). Install with: npm install ${install}`,
        { op: 'plot', details: { missing } },
      );
    }
    const failed = settled.find((s) => s.status === 'rejected');
    if (failed !== undefined && failed.status === 'rejected') throw failed.reason;
    const [vega, vegaLite] = settled.map((s) => (s as PromiseFulfilledResult<unknown>).value);
    return { vega: vega as typeof Vega, vl: vegaLite as typeof vl };
  })();
  // A failed load is not cached: installing the package and trying again in the same process works.
  plotting.catch(() => {
    plotting = undefined;
  });
  return plotting;
}

interface BusPoint {
  series: string;
  size: number;
  label: string;
  busbw: number;
}

interface RoundPoint {
  series: string;
  round: number;
  time_ms: number;
}

function sizeLabel(bytes: number): string {
  for (const [unit, k] of [['G', 1024 ** 3], ['M', 1024 ** 2], ['K', 1024]] as const) if (bytes >= k && bytes % k === 0) return `${bytes / k}${unit}`;
  return `${bytes}`;
}

/** A size axis's tick labels in the units the tables use (4K, 64M), not raw bytes. */
const SIZE_LABEL_EXPR =
  "datum.value >= 1073741824 ? format(datum.value / 1073741824, '.3~') + 'G' : datum.value >= 1048576 ? format(datum.value / 1048576, '.3~') + 'M' : datum.value >= 1024 ? format(datum.value / 1024, '.3~') + 'K' : datum.value";

/**
 * Colours far enough apart to tell lines apart; vega's default category10 repeats after ten, which put
 * two of bench/peers' twelve lines in one colour. Beyond this list the shapes still differ.
 */
const SERIES_COLOURS = [
  '#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#7f7f7f',
  '#000075', '#aa6e28', '#3cb44b', '#f032e6', '#469990', '#e6194b',
];
/** Point marks: a reader who cannot tell two colours apart (or prints in grey) still can by shape. */
const SERIES_SHAPES = ['circle', 'square', 'triangle-up', 'diamond', 'cross', 'triangle-down', 'triangle-right', 'wye', 'triangle-left', 'stroke', 'arrow', 'wedge'];

/**
 * Colour and shape channels that give each series of `order` its own colour and its own mark (the
 * i-th series gets the i-th of each list, so the pair is unique for far more series than either list
 * holds), with one legend that shows every name whole (labelLimit 0: no truncation).
 */
export function seriesChannels(order: readonly string[]): { color: Record<string, unknown>; shape: Record<string, unknown> } {
  const legend = { orient: 'bottom', direction: 'vertical', labelLimit: 0, title: null } as const;
  return {
    color: { field: 'series', type: 'nominal', title: null, legend, scale: { domain: [...order], range: order.map((_, i) => SERIES_COLOURS[i % SERIES_COLOURS.length]) } },
    shape: { field: 'series', type: 'nominal', title: null, legend, scale: { domain: [...order], range: order.map((_, i) => SERIES_SHAPES[i % SERIES_SHAPES.length]) } },
  };
}

/** A log2 size axis with ticks at the measured sizes only (log2 ticks between them would read 4.8828125K), at most ~12. */
function sizeAxis(sizesSeen: readonly number[], title: string): Record<string, unknown> {
  const sizes = [...new Set(sizesSeen)].sort((a, b) => a - b);
  const every = Math.max(1, Math.ceil(sizes.length / 12));
  const ticks = sizes.filter((_, i) => i % every === 0);
  return { field: 'size', type: 'quantitative', scale: { type: 'log', base: 2 }, title, axis: { values: ticks, labelExpr: SIZE_LABEL_EXPR } };
}

/** One point of a chart of a value against message size. */
export interface SizePoint {
  series: string;
  size: number;
  value: number;
  /** Charts with more than one panel draw each panel side by side (e.g. '2 ranks', '4 ranks'). */
  panel?: string;
}

export interface SizeChart {
  title: string;
  subtitle?: string;
  yTitle: string;
  /** Log scale on y too (values spanning decades: latency, busbw from 4K to 64M). */
  logY: boolean;
  points: readonly SizePoint[];
}

/**
 * Charts of a value against message size on log axes, one line per series; a series keeps its colour
 * and mark across every chart and panel, and the one legend names each series in full.
 */
export function sizeChartsSpec(charts: readonly SizeChart[]): vl.TopLevelSpec {
  const order = [...new Set(charts.flatMap((c) => c.points.map((p) => p.series)))];
  const { color, shape } = seriesChannels(order);
  const specs = charts.map((c) => {
    const points = c.points.filter((p) => p.value > 0);
    const encoding = {
      x: sizeAxis(points.map((p) => p.size), 'message size (log2)'),
      y: { field: 'value', type: 'quantitative', title: c.yTitle, ...(c.logY ? { scale: { type: 'log' } } : {}) },
      color,
      shape,
    };
    const mark = { type: 'line', point: { size: 60, filled: true }, tooltip: true };
    const title = c.subtitle === undefined ? { text: c.title } : { text: c.title, subtitle: c.subtitle };
    const panels = new Set(points.map((p) => p.panel));
    if (panels.size > 1) {
      return { title, data: { values: points }, facet: { field: 'panel', type: 'nominal', title: null, sort: null }, spec: { width: 360, height: 280, mark, encoding } };
    }
    return { title, data: { values: points }, width: 560, height: 300, mark, encoding };
  });
  const top = { $schema: 'https://vega.github.io/schema/vega-lite/v6.json', config: { legend: { labelLimit: 0 } } };
  if (specs.length === 1) return { ...top, ...specs[0] } as vl.TopLevelSpec;
  return { ...top, vconcat: specs, spacing: 40 } as vl.TopLevelSpec;
}

function seriesName(r: BenchRow): string {
  return `${r.collective} ${r.algorithm} (${r.ranks} ranks)${r.faults !== 'none' ? ` [${r.faults}]` : ''}`;
}

/** The vega-lite spec of the plot of bench rows (of one run or several). */
export function plotSpec(rows: readonly BenchRow[]): vl.TopLevelSpec {
  const bus: BusPoint[] = [];
  const rounds: RoundPoint[] = [];
  const roundsSoFar = new Map<string, number>();
  for (const r of rows) {
    const series = seriesName(r);
    bus.push({ series, size: r.size, label: sizeLabel(r.size), busbw: r.busbw });
    if (r.faults !== 'none') {
      const base = roundsSoFar.get(series) ?? 0;
      r.times_us.forEach((t, i) => rounds.push({ series, round: base + i, time_ms: t / 1000 }));
      roundsSoFar.set(series, base + r.times_us.length);
    }
  }
  const { color, shape } = seriesChannels([...new Set(bus.map((p) => p.series))]);
  const busChart = {
    title: { text: 'Bus bandwidth vs message size', subtitle: 'busbw as nccl-tests defines it; median over timed iterations of the slowest rank' },
    width: 560,
    height: 300,
    data: { values: bus },
    mark: { type: 'line', point: true, tooltip: true },
    encoding: {
      x: sizeAxis(bus.map((p) => p.size), 'message size (bytes, log2)'),
      y: { field: 'busbw', type: 'quantitative', title: 'bus bandwidth (GB/s)' },
      color,
      shape,
    },
  };
  if (rounds.length === 0) return { $schema: 'https://vega.github.io/schema/vega-lite/v6.json', ...busChart } as vl.TopLevelSpec;
  const roundChart = {
    title: { text: 'Time per round (fault runs)', subtitle: 'every timed iteration, all sizes in sweep order' },
    width: 560,
    height: 220,
    data: { values: rounds },
    mark: { type: 'line', point: { size: 12 }, strokeWidth: 1 },
    encoding: {
      x: { field: 'round', type: 'quantitative', title: 'round (timed iteration)', axis: { format: 'd', tickMinStep: 1 } },
      y: { field: 'time_ms', type: 'quantitative', scale: { type: 'log' }, title: 'time of the round (ms, log)' },
      color,
      shape,
    },
  };
  return { $schema: 'https://vega.github.io/schema/vega-lite/v6.json', vconcat: [busChart, roundChart], spacing: 40 } as vl.TopLevelSpec;
}

/** Renders a vega-lite spec to SVG headless (white background). */
export async function renderSpec(spec: vl.TopLevelSpec): Promise<string> {
  const { vega, vl } = await loadPlotting();
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  view.background('white');
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

export function renderPlot(rows: readonly BenchRow[]): Promise<string> {
  return renderSpec(plotSpec(rows));
}

export async function writePlot(file: string, rows: readonly BenchRow[]): Promise<void> {
  writeFileSync(file, await renderPlot(rows));
}

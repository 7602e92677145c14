/**
 * `zcoll report results.json [more.json ...] [--plot FILE.svg] [--csv FILE]`: reads the rows written
 * by `zcoll bench --json`, prints their table again and draws or converts them; several files go on
 * one plot (for example one per collective, algorithm or fault plan). Rows of older files that lack
 * the newer fields (collective, fault counters, times_us, faults) read as a fault-free all-reduce.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { ZcollError } from '../errors.js';
import { BENCH_COLLECTIVES, tableFooter, tableHeader, tableRow, toCsv, type BenchRow } from './bench-table.js';

export function readBenchRows(file: string): BenchRow[] {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8')) as unknown;
  } catch (e) {
    throw new ZcollError('EINVAL', `zcoll report: cannot read '${file}' as JSON: ${(e as Error).message}`, {}, { cause: e });
  }
  if (!Array.isArray(raw)) throw new ZcollError('EINVAL', `zcoll report: '${file}' is not the output of zcoll bench --json (expected an array of rows)`);
  return raw.map((r: unknown, i): BenchRow => {
    const row = r as Partial<BenchRow> | null;
    const bad = (what: string): ZcollError => new ZcollError('EINVAL', `zcoll report: '${file}' rows[${i}]: ${what}`);
    if (row === null || typeof row !== 'object') throw bad('not an object');
    for (const k of ['size', 'count', 'time_us', 'algbw', 'busbw', 'wrong'] as const) if (typeof row[k] !== 'number') throw bad(`"${k}" must be a number`);
    const collective = row.collective ?? 'allreduce';
    if (!(BENCH_COLLECTIVES as readonly string[]).includes(collective)) throw bad(`unknown collective ${JSON.stringify(collective)}`);
    return {
      collective,
      algorithm: row.algorithm ?? 'auto',
      ranks: row.ranks ?? 0,
      size: row.size!,
      count: row.count!,
      type: row.type ?? 'float32',
      redop: row.redop ?? 'sum',
      root: row.root ?? -1,
      time_us: row.time_us!,
      algbw: row.algbw!,
      busbw: row.busbw!,
      wrong: row.wrong!,
      late_steps: row.late_steps ?? 0,
      delayed_msgs: row.delayed_msgs ?? 0,
      corrupted_msgs: row.corrupted_msgs ?? 0,
      excluded: row.excluded ?? 0,
      times_us: Array.isArray(row.times_us) ? row.times_us : [],
      faults: row.faults ?? 'none',
    };
  });
}

export interface ReportOptions {
  files: readonly string[];
  plot?: string;
  csv?: string;
  out?: (line: string) => void;
}

export async function report(o: ReportOptions): Promise<number> {
  if (o.files.length === 0) throw new ZcollError('EINVAL', 'zcoll report: give at least one results JSON file (written by zcoll bench --json)');
  const out = o.out ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const all: BenchRow[] = [];
  for (const file of o.files) {
    const rows = readBenchRows(file);
    all.push(...rows);
    const first = rows[0];
    const faults = rows.some((r) => r.faults !== 'none' || r.excluded > 0 || r.collective === 'robust');
    out(`# ${file}: ${first !== undefined ? `${first.collective} ${first.algorithm}, ${first.ranks} ranks, faults: ${first.faults}` : 'no rows'}`);
    out('#');
    const style = { faults, bound: rows.some((r) => r.bound_ratio !== undefined) };
    for (const l of tableHeader(style)) out(l);
    for (const r of rows) out(tableRow(r, style));
    for (const l of tableFooter(rows)) out(l);
  }
  if (o.csv !== undefined) writeFileSync(o.csv, toCsv(all));
  // vega is large: loaded only when a plot is asked for.
  if (o.plot !== undefined) await (await import('./plot.js')).writePlot(o.plot, all);
  // As zcoll bench: the exit code follows the printed verdicts (2 when a footer says FAILED).
  return all.some((r) => r.wrong > 0) ? 2 : 0;
}

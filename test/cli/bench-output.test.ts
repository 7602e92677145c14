// zcoll bench's outputs from real rank processes: the JSON validates against
// bench/bench-results.schema.json (a small JSON-Schema checker below, itself shown to reject bad
// documents), the table, CSV and JSON agree, the Chrome trace is well formed for every rank, the plot
// is an SVG drawn by vega, `zcoll report` reprints the table; fault runs fill the fault columns with
// what the plan did, the check catches corrupted results, and a killed rank stops the run.
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { quietPort } from '../helpers/ranks.js';
import { runCli, type CliRun } from '../helpers/cli.js';

const SCHEMA_FILE = fileURLToPath(new URL('../../bench/bench-results.schema.json', import.meta.url));
// tsc copies no JSON into dist/: the schema is read from the source tree, next to dist/.
const SCHEMA_PATHS = [SCHEMA_FILE, join(fileURLToPath(new URL('../../../', import.meta.url)), 'bench', 'bench-results.schema.json')];
const DIR = mkdtempSync(join(tmpdir(), 'zcoll-bench-out-'));
t.teardown(() => rmSync(DIR, { recursive: true, force: true }));

function run(args: string[]): Promise<CliRun> {
  return runCli(args, { env: { ZCOLL_TIMEOUT_MS: '20000' }, killAfterMs: 60_000 });
}

type Schema = {
  type?: string;
  required?: string[];
  properties?: Record<string, Schema>;
  additionalProperties?: boolean;
  items?: Schema;
  enum?: unknown[];
  minimum?: number;
  exclusiveMinimum?: number;
  minItems?: number;
};

/** The subset of JSON Schema the results schema uses; returns the violations, with their paths. */
function validate(v: unknown, s: Schema, path = '$'): string[] {
  const errs: string[] = [];
  const typeOk: Record<string, (x: unknown) => boolean> = {
    object: (x) => typeof x === 'object' && x !== null && !Array.isArray(x),
    array: Array.isArray,
    string: (x) => typeof x === 'string',
    boolean: (x) => typeof x === 'boolean',
    number: (x) => typeof x === 'number' && Number.isFinite(x),
    integer: (x) => typeof x === 'number' && Number.isInteger(x),
  };
  if (s.type !== undefined && !typeOk[s.type](v)) return [`${path}: expected ${s.type}, got ${JSON.stringify(v)}`];
  if (s.enum !== undefined && !s.enum.includes(v)) errs.push(`${path}: ${JSON.stringify(v)} not in ${JSON.stringify(s.enum)}`);
  if (typeof v === 'number') {
    if (s.minimum !== undefined && v < s.minimum) errs.push(`${path}: ${v} < ${s.minimum}`);
    if (s.exclusiveMinimum !== undefined && v <= s.exclusiveMinimum) errs.push(`${path}: ${v} <= ${s.exclusiveMinimum}`);
  }
  if (Array.isArray(v)) {
    if (s.minItems !== undefined && v.length < s.minItems) errs.push(`${path}: fewer than ${s.minItems} items`);
    if (s.items !== undefined) v.forEach((x, i) => errs.push(...validate(x, s.items!, `${path}[${i}]`)));
  } else if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>;
    for (const k of s.required ?? []) if (!(k in o)) errs.push(`${path}: missing ${k}`);
    for (const [k, x] of Object.entries(o)) {
      const sub = s.properties?.[k];
      if (sub !== undefined) errs.push(...validate(x, sub, `${path}.${k}`));
      else if (s.additionalProperties === false) errs.push(`${path}: unexpected ${k}`);
    }
  }
  return errs;
}

function loadSchema(): Schema {
  for (const p of SCHEMA_PATHS) {
    try {
      return JSON.parse(readFileSync(p, 'utf8')) as Schema;
    } catch {
      // next candidate
    }
  }
  throw new Error(`bench-results.schema.json not found in ${SCHEMA_PATHS.join(', ')}`);
}

interface Row {
  size: number;
  wrong: number;
  busbw: number;
  late_steps: number;
  delayed_msgs: number;
  corrupted_msgs: number;
  excluded: number;
  times_us: number[];
  ranks: number;
  faults: string;
}

/** The table's data lines: [size, count, type, redop, time, algbw, busbw, wrong, ...fault columns]. */
function tableRows(stdout: string): string[][] {
  return stdout
    .split('\n')
    .filter((l) => /^\s+\d/.test(l))
    .map((l) => l.trim().split(/\s+/));
}

const schema = loadSchema();

t.test('the schema checker rejects what the schema forbids', async (t) => {
  const good = {
    collective: 'allreduce', algorithm: 'ring', ranks: 2, size: 4096, count: 1024, type: 'float32', redop: 'sum', root: -1, time_us: 10, algbw: 0.4, busbw: 0.4,
    wrong: 0, late_steps: 0, delayed_msgs: 0, corrupted_msgs: 0, excluded: 0, times_us: [10], faults: 'none',
  };
  t.same(validate([good], schema), []);
  t.match(validate(good, schema).join(), /expected array/);
  t.match(validate([{ ...good, ranks: 0 }], schema).join(), /ranks: 0 < 1/);
  t.match(validate([{ ...good, collective: 'alltoall' }], schema).join(), /not in/);
  t.match(validate([{ ...good, extra: 1 }], schema).join(), /unexpected extra/);
  t.match(validate([{ ...good, time_us: 0 }], schema).join(), /time_us: 0 <= 0/);
  const { times_us: _t, ...noTimes } = good;
  t.match(validate([noTimes], schema).join(), /missing times_us/);
  t.match(validate([{ ...good, wrong: 1.5 }], schema).join(), /wrong: expected integer/);
});

t.test('allreduce: JSON (valid), table, CSV, trace, plot and report agree', async (t) => {
  const json = join(DIR, 'ar.json');
  const csv = join(DIR, 'ar.csv');
  const svg = join(DIR, 'ar.svg');
  const trace = join(DIR, 'ar-trace.json');
  const port = await quietPort();
  const r = await run(['bench', '--ranks', '3', '--port', String(port), '-b', '4K', '-e', '64K', '-f', '4', '-n', '3', '-w', '1', '-q', '--json', json, '--csv', csv, '--plot', svg, '--trace', trace]);
  t.equal(r.code, 0, r.stderr);
  const rows = JSON.parse(readFileSync(json, 'utf8')) as Row[];
  t.same(validate(rows, schema), [], 'valid against bench/bench-results.schema.json');
  t.ok(rows.every((x) => x.ranks === 3 && x.faults === 'none'));
  t.same(rows.map((x) => x.size), [4096, 16384, 65536]);
  const table = tableRows(r.stdout);
  t.same(table.map((c) => Number(c[0])), rows.map((x) => x.size), 'one table line per JSON row');
  t.same(table.map((c) => Number(c[7])), rows.map((x) => x.wrong), '#wrong agrees');
  for (const row of rows) {
    t.equal(row.wrong, 0);
    t.equal(row.times_us.length, 3, 'every timed iteration');
  }
  t.match(r.stdout, /# Avg bus bandwidth {4}: \d+\.\d{4}/);
  const csvLines = readFileSync(csv, 'utf8').trim().split('\n');
  t.equal(csvLines.length, 4);
  t.match(csvLines[0], /^collective,algorithm,ranks,size,count,type,redop,root,time_us,algbw,busbw,wrong,/);

  const events = (JSON.parse(readFileSync(trace, 'utf8')) as { traceEvents: Array<{ ph: string; pid: number; name: string; cat?: string; id?: number; ts: number; args?: { epochUs?: number } }> }).traceEvents;
  const origins: number[] = [];
  for (let rank = 0; rank < 3; rank++) {
    const mine = events.filter((e) => e.pid === rank);
    const named = mine.find((e) => e.ph === 'M' && e.name === 'process_name');
    t.ok(named !== undefined, `rank ${rank} is named`);
    origins.push(named?.args?.epochUs ?? NaN);
    const begins = mine.filter((e) => e.ph === 'B' && e.name === 'allreduce').length;
    t.equal(begins, 3 * (1 + 3), `rank ${rank}: one collective per iteration`);
    t.equal(mine.filter((e) => e.ph === 'E').length, begins, 'every B has its E');
    const sends = mine.filter((e) => e.ph === 'b');
    t.ok(sends.length > 0, 'sends');
    t.equal(mine.filter((e) => e.ph === 'e').length, sends.length, 'every send ends');
    t.ok(mine.some((e) => e.ph === 'X' && e.cat === 'recv'), 'received-frame reductions');
    t.ok(mine.every((e) => Number.isFinite(e.ts)), 'timestamps');
  }
  // Each origin in wall-clock microseconds: within the run's minute, and the ranks' within a second of each other (one barrier).
  t.ok(origins.every((o) => Math.abs(o / 1000 - Date.now()) < 120_000), `origins are wall-clock times: ${origins.join(', ')}`);
  t.ok(Math.max(...origins) - Math.min(...origins) < 1e6, 'the ranks\' origins are one moment');

  const picture = readFileSync(svg, 'utf8');
  t.match(picture, /^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  t.match(picture, /Bus bandwidth vs message size/);
  t.match(picture, /allreduce auto \(3 ranks\)/);

  const again = join(DIR, 'again.svg');
  const rep = await run(['report', json, '--plot', again]);
  t.equal(rep.code, 0, rep.stderr);
  t.same(tableRows(rep.stdout), table, 'zcoll report prints the same table');
  t.match(readFileSync(again, 'utf8'), /<svg/);
});

t.test('fault runs: stragglers and Byzantine ranks fill the fault columns; the check catches corruption', async (t) => {
  const json = join(DIR, 'robust.json');
  const svg = join(DIR, 'robust.svg');
  const faults = join(DIR, 'plan.json');
  writeFileSync(faults, JSON.stringify({ stragglers: 'fixed:ranks=2,delay=5ms', byzantine: ['nan:ranks=1'] }));
  const robust = await run(['bench', 'robust', '--aggregator', 'median', '--faults', faults, '--ranks', '4', '--port', String(await quietPort()), '-b', '4K', '-e', '16K', '-f', '4', '-n', '3', '-w', '1', '-q', '--json', json, '--plot', svg]);
  t.equal(robust.code, 0, robust.stderr);
  const rows = JSON.parse(readFileSync(json, 'utf8')) as Row[];
  t.same(validate(rows, schema), []);
  t.match(rows[0].faults, /stragglers fixed ranks 2.*byzantine nan ranks 1/);
  for (const row of rows) {
    t.equal(row.excluded, 1, 'the NaN row is excluded');
    t.equal(row.wrong, 0, 'the median stays finite');
    t.equal(row.late_steps, 3, 'one straggler in each of the 3 timed steps');
    t.ok(row.delayed_msgs >= 3, `its messages waited (${row.delayed_msgs})`);
    t.equal(row.corrupted_msgs, 3 * 3, 'one NaN row to each of 3 peers per step');
  }
  t.match(robust.stdout, /late +delayed +corrupt +excl/);
  t.match(readFileSync(svg, 'utf8'), /Time per round/);

  const flipped = join(DIR, 'flip.json');
  const ar = await run(['bench', '--byzantine', 'signflip:ranks=1', '--ranks', '3', '--port', String(await quietPort()), '-b', '4K', '-e', '4K', '-n', '2', '-w', '0', '-q', '--json', flipped]);
  // A plain all-reduce states no bound under Byzantine ranks: the differences are its #wrong, the
  // verdict FAILED, and the exit code follows the verdict (issue 18 item 4).
  t.equal(ar.code, 2, 'a corrupted all-reduce fails: exit 2');
  t.match(ar.stdout, /# Out of bounds values : [1-9]\d* FAILED/);
  const flips = JSON.parse(readFileSync(flipped, 'utf8')) as Row[];
  t.ok(flips[0].wrong > 0 && rows[0].wrong <= 3 * 2 * 1024, `the check catches what a lying relay corrupts (${flips[0].wrong} of ${3 * 2 * 1024} elements)`);
});

t.test('a killed rank stops the run, naming it', async (t) => {
  const r = await run(['bench', '--kill', 'rank=1,at=step2', '--ranks', '3', '--port', String(await quietPort()), '-b', '4K', '-e', '4K', '-n', '3', '-w', '1', '-q']);
  t.equal(r.code, 3);
  t.match(r.stderr, /rank 1 killed at step 2/);
  t.match(r.stderr, /rank 1 exited with code 3/);
});

t.test('every collective checks its results on every iteration', async (t) => {
  for (const [c, extra] of [
    ['reducescatter', ['-o', 'max', '-d', 'int32']],
    ['allgather', ['-d', 'float64']],
    ['broadcast', ['--root', '2']],
    ['signsgd', ['--mode', 'server']],
    ['signsgd', ['--mode', 'reduce']],
    ['robust', ['--aggregator', 'krum']],
  ] as const) {
    const json = join(DIR, `${c}.json`);
    const r = await run(['bench', c, ...extra, '--ranks', '3', '--port', String(await quietPort()), '-b', '4K', '-e', '16K', '-f', '4', '-n', '2', '-w', '1', '-q', '--json', json]);
    t.equal(r.code, 0, `${c} ${extra.join(' ')}: ${r.stderr}`);
    const rows = JSON.parse(readFileSync(json, 'utf8')) as Row[];
    t.same(validate(rows, schema), [], `${c}: valid`);
    t.ok(rows.length >= 1 && rows.every((x) => x.wrong === 0 && x.busbw > 0), `${c} ${extra.join(' ')}: ${rows.length} rows, #wrong 0`);
  }
});

/**
 * The one argument parser of the bench/ scripts (node's util.parseArgs, strict): `--help` prints the
 * script's usage and exits 0; an unknown option, a missing value or a stray argument prints what was
 * wrong and the usage on stderr and exits 2, before anything runs, so a typo never starts a
 * many-minute sitting. Output files go where --out says, or to a fresh file beside the default:
 * a script never overwrites a file in bench/results/ unless told to.
 */
import { existsSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { POLL_MODES, type PollMode } from '../lib/comm/busy-poll.js';

export interface BenchOption {
  /** 'string' options take a value (--name value or --name=value); 'boolean' ones are flags. */
  type: 'string' | 'boolean';
  /** Shown in the usage as the value's example or default. */
  value?: string;
  describe: string;
}

export type BenchValues<T extends Record<string, BenchOption>> = {
  [K in keyof T]: T[K]['type'] extends 'boolean' ? boolean : string | undefined;
};

export interface BenchScript<T extends Record<string, BenchOption>> {
  /** The script's file name without extension, as in `node dist/bench/<name>.js`. */
  name: string;
  /** What it measures and where its results go, one or two lines. */
  summary: string;
  options: T;
}

export function usage<T extends Record<string, BenchOption>>(s: BenchScript<T>): string {
  const flags = Object.entries(s.options).map(([k, o]) => [`--${k}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`, o.describe] as const);
  const width = Math.max(6, ...flags.map(([f]) => f.length));
  return [`usage: node dist/bench/${s.name}.js [options]`, s.summary, '', ...[...flags, ['--help', 'print this and exit'] as const].map(([f, d]) => `  ${f.padEnd(width)}  ${d}`)].join('\n');
}

/** Parses `argv` (default: this process's) or exits: 0 after --help, 2 on a bad argument. */
export function benchArgs<T extends Record<string, BenchOption>>(s: BenchScript<T>, argv: readonly string[] = process.argv.slice(2)): BenchValues<T> {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const [k, o] of Object.entries(s.options)) options[k] = { type: o.type };
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values as Record<string, string | boolean | undefined>;
  } catch (e) {
    // parseArgs' messages name the option ("Unknown option '--rnks'", "Option '--d <value>' argument missing").
    process.stderr.write(`${s.name}: ${(e as Error).message.split('\n')[0]}\n${usage(s)}\n`);
    process.exit(2);
  }
  if (values.help === true) {
    process.stdout.write(`${usage(s)}\n`);
    process.exit(0);
  }
  const out: Record<string, string | boolean | undefined> = {};
  for (const [k, o] of Object.entries(s.options)) out[k] = o.type === 'boolean' ? values[k] === true : (values[k] as string | undefined);
  return out as BenchValues<T>;
}

/** A value that must be a number, or exit 2 naming the option. */
export function numberArg(script: string, name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v)) {
    process.stderr.write(`${script}: --${name} must be a number, got '${text}'\n`);
    process.exit(2);
  }
  return v;
}

/** A whole number >= `min`, or exit 2 naming the option. */
export function intArg(script: string, name: string, text: string | undefined, fallback: number, min: number): number {
  const v = numberArg(script, name, text, fallback);
  if (!(Number.isInteger(v) && v >= min)) {
    process.stderr.write(`${script}: --${name} must be an integer >= ${min}, got ${v}\n`);
    process.exit(2);
  }
  return v;
}

/** A ZCOLL_POLL mode for the ranks a bench starts (lib/comm/busy-poll.ts POLL_MODES), or exit 2. */
export function pollArg(script: string, text: string | undefined): PollMode {
  const poll = text ?? 'auto';
  if (!(POLL_MODES as readonly string[]).includes(poll)) {
    process.stderr.write(`${script}: --poll must be ${POLL_MODES.join(', ')}, got '${poll}'\n`);
    process.exit(2);
  }
  return poll as PollMode;
}

/** A comma-separated list of numbers, or exit 2 naming the option. */
export function numberListArg(script: string, name: string, text: string | undefined, fallback: readonly number[]): number[] {
  if (text === undefined) return [...fallback];
  return text.split(',').map((x) => numberArg(script, name, x, NaN));
}

/**
 * Where to write an output whose default is `defaultPath`: the path given, else the default when
 * nothing is there yet, else a fresh sibling (name-YYYYMMDD-HHMMSS.ext, then -2, -3...), so a
 * committed result is replaced only on purpose (--out bench/results/x.md).
 */
export function outputPath(given: string | undefined, defaultPath: string, now: Date = new Date()): string {
  if (given !== undefined) return given;
  if (!existsSync(defaultPath)) return defaultPath;
  const ext = extname(defaultPath);
  const stem = join(dirname(defaultPath), basename(defaultPath, ext));
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  for (let k = 1; ; k++) {
    const p = `${stem}-${stamp}${k > 1 ? `-${k}` : ''}${ext}`;
    if (!existsSync(p)) return p;
  }
}

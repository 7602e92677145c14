/**
 * Cost of one wire header: encode (encodeHeader) and decode with full validation (decodeMessage), in
 * ns per header, and its size in bytes. The headers are the ones a 4 KiB float32 ring all-reduce and
 * a 4 KiB point-to-point send put on every frame (built with dataHeader and p2pHeader, as
 * op-context.ts and p2p.ts do), so this is the per-frame header overhead of a small message
 * (issue 17). Before timing, and again after every timed round, the decoded header is checked equal
 * to the one encoded and the payload length accepted; a mismatch exits 1.
 * Each cell is the best of --rounds rounds of --iterations headers, in CPU time of this process
 * (process.cpuUsage: user + system, so time the shared machine gives to others does not count;
 * best, not mean, for the same reason).
 *
 * Usage: node dist/bench/wire-header.js [--iterations 200000] [--rounds 7] [--json]
 */
import { deepStrictEqual } from 'node:assert';
import { benchArgs, numberArg } from './args.js';
import { dataHeader, decodeMessage, encodeHeader, p2pHeader, type Header } from '../lib/transport/wire.js';

interface Args {
  iterations: number;
  rounds: number;
  json: boolean;
}

function parseCli(): Args {
  const v = benchArgs({
    name: 'wire-header',
    summary: 'CPU time to encode and decode a data and a p2p header (best of --rounds); bench/results/wire-header.md holds one run.',
    options: {
      iterations: { type: 'string', value: '200000', describe: 'headers per round' },
      rounds: { type: 'string', value: '7', describe: 'rounds (the best is reported)' },
      json: { type: 'boolean', describe: 'print one JSON object instead of the table' },
    },
  });
  const positive = (name: string, text: string | undefined, fallback: number): number => {
    const n = numberArg('wire-header', name, text, fallback);
    if (!Number.isInteger(n) || n < 1) {
      process.stderr.write(`wire-header: --${name} must be a positive integer, got '${text}'\n`);
      process.exit(2);
    }
    return n;
  };
  return { iterations: positive('iterations', v.iterations, 200_000), rounds: positive('rounds', v.rounds, 7), json: v.json };
}

interface Case {
  name: string;
  header: Header;
  payload: Buffer;
}

const RANKS = 4;
const ELEMENTS = 1024; // 4 KiB of float32

function cases(): Case[] {
  const payload = Buffer.alloc(ELEMENTS * 4);
  return [
    { name: 'data (4 KiB all-reduce segment)', header: dataHeader(1, 123_456, 42, { op: 'allreduce', dtype: 'float32', count: ELEMENTS, redop: 'sum', root: -1, algorithm: 'ring' }, 5, 0, ELEMENTS), payload },
    { name: 'p2p (4 KiB send)', header: p2pHeader(1, 123_456, 42, 7, 'float32', ELEMENTS, 1, 0, ELEMENTS), payload },
  ];
}

/** Decodes `head` and checks it gives back `c.header`: the timing is only worth something if it does. */
function check(c: Case, head: Buffer): void {
  const r = decodeMessage([head, c.payload], RANKS);
  if (!r.ok) throw new Error(`${c.name}: the decoder refused its own header: ${r.reason}`);
  deepStrictEqual(r.header, c.header, `${c.name}: decoded header differs from the encoded one`);
}

interface Row {
  name: string;
  headerBytes: number;
  encodeNs: number;
  decodeNs: number;
  bothNs: number;
}

function measure(c: Case, a: Args): Row {
  const head = encodeHeader(c.header);
  check(c, head);
  const frames = [head, c.payload];
  let encodeNs = Infinity;
  let decodeNs = Infinity;
  let bothNs = Infinity;
  let sink = 0;
  /** CPU nanoseconds per iteration since `t0` (a process.cpuUsage() reading). */
  const perIteration = (t0: NodeJS.CpuUsage): number => {
    const d = process.cpuUsage(t0);
    return ((d.user + d.system) * 1000) / a.iterations;
  };
  for (let r = 0; r < a.rounds; r++) {
    let t0 = process.cpuUsage();
    for (let i = 0; i < a.iterations; i++) sink += encodeHeader(c.header).byteLength;
    encodeNs = Math.min(encodeNs, perIteration(t0));
    t0 = process.cpuUsage();
    for (let i = 0; i < a.iterations; i++) sink += decodeMessage(frames, RANKS).ok ? 1 : 0;
    decodeNs = Math.min(decodeNs, perIteration(t0));
    t0 = process.cpuUsage();
    let last: Buffer = head;
    for (let i = 0; i < a.iterations; i++) {
      last = encodeHeader(c.header);
      sink += decodeMessage([last, c.payload], RANKS).ok ? 1 : 0;
    }
    bothNs = Math.min(bothNs, perIteration(t0));
    check(c, last);
  }
  // Every decode in the timed loops must have been accepted: the sink counts them.
  const expected = a.rounds * a.iterations * (2 + head.byteLength);
  if (sink !== expected) throw new Error(`${c.name}: ${expected - sink} headers were refused during timing`);
  return { name: c.name, headerBytes: head.byteLength, encodeNs, decodeNs, bothNs };
}

function main(): void {
  const a = parseCli();
  const rows = cases().map((c) => measure(c, a));
  if (a.json) {
    process.stdout.write(`${JSON.stringify({ iterations: a.iterations, rounds: a.rounds, node: process.version, rows })}\n`);
    return;
  }
  process.stdout.write(`wire header encode/decode, best of ${a.rounds} x ${a.iterations}, node ${process.version}\n`);
  for (const r of rows) process.stdout.write(`${r.name.padEnd(34)} ${String(r.headerBytes).padStart(4)} B  encode ${r.encodeNs.toFixed(0).padStart(5)} ns  decode ${r.decodeNs.toFixed(0).padStart(5)} ns  both ${r.bothNs.toFixed(0).padStart(5)} ns\n`);
}

try {
  main();
} catch (e) {
  process.stderr.write(`wire-header bench failed: ${(e as Error).message}\n`);
  process.exit(1);
}

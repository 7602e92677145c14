/**
 * Where the time of one small all-reduce goes (issue 17): two ranks of this host run back-to-back
 * all-reduces of a few bytes (bench/latency-phases-worker.ts), stamped at each phase point of
 * lib/phase-clock.ts. Prints, per rank, the median time of each step (call -> its turn in the
 * queue -> input read -> header encoded -> published -> the peer's frame seen -> decoded -> routed
 * to the op -> reduced -> settled -> the caller resumes), the peer-to-peer wake-up (the peer's
 * publish to this rank seeing the frame, clocks of both processes), and the whole op. Every result
 * is checked against the exact sum: exit 1 when one is wrong or a phase was never stamped.
 * Usage: node dist/bench/latency-phases.js [--iters 5000] [--count 2] [--poll auto] [--out FILE.md]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { benchArgs, intArg, pollArg } from './args.js';
import { runLocalRanks } from './local-ranks.js';

const args = benchArgs({
  name: 'latency-phases',
  summary: 'Per-phase medians of a small all-reduce between 2 ranks of this host (results checked; exit 1 when wrong). Prints markdown; --out also writes it.',
  options: {
    iters: { type: 'string', value: '5000', describe: 'timed all-reduces' },
    warmup: { type: 'string', value: '500', describe: 'untimed all-reduces first' },
    count: { type: 'string', value: '2', describe: 'float32 elements per all-reduce (2 = 8 bytes)' },
    poll: { type: 'string', value: 'auto', describe: 'ZCOLL_POLL for the ranks: auto, spin or sleep' },
    out: { type: 'string', value: 'FILE.md', describe: 'also write the table to this file' },
  },
});
const iters = intArg('latency-phases', 'iters', args.iters, 5000, 1);
const warmup = intArg('latency-phases', 'warmup', args.warmup, 500, 0);
const count = intArg('latency-phases', 'count', args.count, 2, 1);
const poll = pollArg('latency-phases', args.poll);

interface Result {
  n: number;
  phases: string[];
  ranks: Array<{ timeOrigin: number; wrong: number; stamps: number[] }>;
}
const result = runLocalRanks<Result>({ bench: 'latency-phases', ranks: 2, worker: 'latency-phases-worker.js', args: [String(iters), String(warmup), String(count)], poll, timeoutMs: 600_000 });

const width = result.phases.length;
const col = (name: string): number => result.phases.indexOf(name);
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const us = (ms: number): string => (Number.isFinite(ms) ? (ms * 1000).toFixed(2) : 'n/a');
/** The steps in order: from one stamp to the next. */
const STEPS: Array<[string, string, string]> = [
  ['call', 'queued', 'queue: the op takes its turn (promise hops, argument checks, algorithm choice)'],
  ['queued', 'prepared', 'input read, schedule looked up'],
  ['prepared', 'encoded', 'op context, executor, header encoding'],
  ['encoded', 'sent', 'published into the peer\'s mailbox'],
  ['sent', 'arrived', 'waiting for the peer\'s frame (its skew and its wake-up)'],
  ['arrived', 'decoded', 'header decoded and checked'],
  ['decoded', 'dispatched', 'routed to the op'],
  ['dispatched', 'reduced', 'reduced into the buffer'],
  ['reduced', 'settled', 'sends confirmed, the op settles'],
  ['settled', 'resolved', 'the caller\'s await resumes'],
];
let missing = 0;
let wrong = 0;
const rows: string[] = [];
const perRank = result.ranks.map((rk, r) => {
  wrong += rk.wrong;
  const at = (i: number, name: string): number => rk.stamps[i * width + col(name)];
  const steps = STEPS.map(([a, b]) => {
    const xs: number[] = [];
    for (let i = 0; i < iters; i++) {
      const x = at(i, a);
      const y = at(i, b);
      if (x > 0 && y > 0) xs.push(y - x);
    }
    if (xs.length === 0) missing++;
    return median(xs);
  });
  // The peer's publish to this rank's first sight of the frame, across processes (same host clock).
  const peer = result.ranks[1 - r];
  const wake: number[] = [];
  const total: number[] = [];
  for (let i = 0; i < iters; i++) {
    const seen = rk.stamps[i * width + col('arrived')];
    const sent = peer.stamps[i * width + col('sent')];
    if (seen > 0 && sent > 0) wake.push(rk.timeOrigin + seen - (peer.timeOrigin + sent));
    total.push(at(i, 'resolved') - at(i, 'call'));
  }
  return { steps, wake: median(wake), total: median(total) };
});
rows.push(`| step | what | ${result.ranks.map((_, r) => `rank ${r} (us)`).join(' | ')} |`, `|---|---|${result.ranks.map(() => '---|').join('')}`);
STEPS.forEach(([a, b, what], k) => rows.push(`| ${a} -> ${b} | ${what} | ${perRank.map((p) => us(p.steps[k])).join(' | ')} |`));
rows.push(`| peer sent -> arrived | the peer's publish until this rank sees it (wake-up, across processes) | ${perRank.map((p) => us(p.wake)).join(' | ')} |`);
rows.push(`| call -> resolved | the whole all-reduce (median) | ${perRank.map((p) => us(p.total)).join(' | ')} |`);
const verdict = wrong === 0 && missing === 0 ? 'OK' : 'FAILED';
const text = [
  `Command: \`node dist/bench/latency-phases.js --iters ${iters} --warmup ${warmup} --count ${count} --poll ${poll}\` (${new Date().toISOString()}, load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')})`,
  '',
  `2 ranks on this host, all-reduce of ${count * 4} B float32 sum, back to back; medians over ${iters} ops of each step (steps' medians need not add up to the whole).`,
  '',
  ...rows,
  '',
  `Checked: ${wrong} wrong element(s) in ${2 * (iters + warmup) * count}; ${missing} step(s) never stamped. ${verdict}`,
].join('\n');
process.stdout.write(`${text}\n`);
if (args.out !== undefined) writeFileSync(resolve(args.out), `${text}\n`);
process.exit(verdict === 'OK' ? 0 : 1);

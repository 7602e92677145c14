/**
 * Where the time of one small operation goes (issue 17): two ranks of this host run back-to-back
 * all-reduces of a few bytes, or point-to-point ping-pongs (--op pingpong), in
 * bench/latency-phases-worker.ts, stamped at each phase point of lib/phase-clock.ts. Prints, per rank,
 * the median time of each step and the peer-to-peer wake-up (the peer's publish to this rank seeing
 * the frame, clocks of both processes), and the whole op.
 *  - all-reduce: call -> its turn in the queue -> input read -> header encoded -> published -> the
 *    peer's frame seen -> decoded -> routed to the op -> reduced -> settled -> the caller resumes;
 *  - ping-pong: send called -> header encoded -> published -> send resolved; recv called -> the peer's
 *    frame seen -> decoded -> routed to p2p -> queued for the recv -> copied into its array -> recv
 *    resolved; the whole op is rank 0's round trip, and half of it the one-way latency.
 * Every result is checked (the exact sum, or the values the peer sent): exit 1 when one is wrong or a
 * phase was never stamped.
 * Usage: node dist/bench/latency-phases.js [--op allreduce|pingpong] [--iters 5000] [--count 2] [--poll auto] [--out FILE.md]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { benchArgs, intArg, pollArg } from './args.js';
import { runLocalRanks } from './local-ranks.js';

const args = benchArgs({
  name: 'latency-phases',
  summary: 'Per-phase medians of a small all-reduce or ping-pong between 2 ranks of this host (results checked; exit 1 when wrong). Prints markdown; --out also writes it.',
  options: {
    op: { type: 'string', value: 'allreduce', describe: 'allreduce, or pingpong (send/recv, as zcoll bench latency)' },
    iters: { type: 'string', value: '5000', describe: 'timed operations' },
    warmup: { type: 'string', value: '500', describe: 'untimed operations first' },
    count: { type: 'string', value: '2', describe: 'float32 elements per message (2 = 8 bytes); a comma-separated list interleaves sizes in one run' },
    poll: { type: 'string', value: 'auto', describe: 'ZCOLL_POLL for the ranks: auto, spin or sleep' },
    out: { type: 'string', value: 'FILE.md', describe: 'also write the table to this file' },
  },
});
const op = args.op ?? 'allreduce';
if (op !== 'allreduce' && op !== 'pingpong') {
  process.stderr.write(`latency-phases: --op must be allreduce or pingpong, got '${op}'\n`);
  process.exit(2);
}
const iters = intArg('latency-phases', 'iters', args.iters, 5000, 1);
const warmup = intArg('latency-phases', 'warmup', args.warmup, 500, 0);
const counts = (args.count ?? '2').split(',').map((c) => intArg('latency-phases', 'count', c, 2, 1));
const poll = pollArg('latency-phases', args.poll);

interface Result {
  n: number;
  phases: string[];
  ranks: Array<{ timeOrigin: number; wrong: number; stamps: number[] }>;
}
const result = runLocalRanks<Result>({ bench: 'latency-phases', ranks: 2, worker: 'latency-phases-worker.js', args: [String(iters), String(warmup), counts.join(','), op], poll, timeoutMs: 600_000 });

const width = result.phases.length;
const col = (name: string): number => result.phases.indexOf(name);
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
/** The q-quantile (nearest rank): the tail of the whole op, which a median hides. */
const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
};
const us = (ms: number): string => (Number.isFinite(ms) ? (ms * 1000).toFixed(2) : 'n/a');
/** The steps in order: from one stamp to the next. */
const STEPS: Array<[string, string, string]> =
  op === 'allreduce'
    ? [
        ['call', 'queued', 'queue: the op takes its turn (promise hops, argument checks, algorithm choice)'],
        ['queued', 'prepared', 'input read, schedule looked up'],
        ['prepared', 'encoded', 'op context, executor, header encoding'],
        ['encoded', 'sent', "published into the peer's mailbox"],
        ['sent', 'arrived', "waiting for the peer's frame (its skew and its wake-up)"],
        ['arrived', 'decoded', 'header decoded and checked'],
        ['decoded', 'dispatched', 'routed to the op'],
        ['dispatched', 'reduced', 'reduced into the buffer'],
        ['reduced', 'settled', 'sends confirmed, the op settles'],
        ['settled', 'resolved', "the caller's await resumes"],
      ]
    : [
        ['call', 'encoded', 'send(): header built, outbox, header encoding'],
        ['encoded', 'sent', "copied into the peer's mailbox and published"],
        ['sent', 'send-resolved', "send()'s promise back to the caller"],
        ['recv-called', 'arrived', "recv(): waiting for the peer's frame (its skew and its wake-up)"],
        ['arrived', 'decoded', 'header decoded and checked'],
        ['decoded', 'dispatched', 'routed to p2p'],
        ['dispatched', 'taken', 'put in order, kept, queued for the recv, the recv woken'],
        ['taken', 'copied', "the recv's wait resolves, payload copied into its array"],
        ['copied', 'resolved', "recv()'s promise back to the caller"],
      ];
/** The whole op on each rank: an all-reduce call to its resolve; rank 0's round trip, rank 1's recv call to its reply sent. */
const WHOLE: Array<[string, string]> = op === 'allreduce' ? [['call', 'resolved'], ['call', 'resolved']] : [['call', 'resolved'], ['recv-called', 'send-resolved']];
let missing = 0;
let wrong = 0;
const rows: string[] = [];
/** Operation i (counting the warm-up) had counts[i % counts.length] elements (the worker interleaves sizes). */
const sizeIndexOf = (row: number): number => (row + warmup) % counts.length;
const stats = counts.map((_, c) =>
  result.ranks.map((rk, r) => {
    const at = (i: number, name: string): number => rk.stamps[i * width + col(name)];
    const mine: number[] = [];
    for (let i = 0; i < iters; i++) if (sizeIndexOf(i) === c) mine.push(i);
    const steps = STEPS.map(([a, b]) => {
      const xs: number[] = [];
      for (const i of mine) {
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
    for (const i of mine) {
      const seen = rk.stamps[i * width + col('arrived')];
      const sent = peer.stamps[i * width + col('sent')];
      if (seen > 0 && sent > 0) wake.push(rk.timeOrigin + seen - (peer.timeOrigin + sent));
      const [from, to] = WHOLE[r];
      total.push(at(i, to) - at(i, from));
    }
    return { steps, wake: median(wake), total: median(total), p99: quantile(total, 0.99), mean: total.reduce((a, b) => a + b, 0) / total.length };
  }),
);
for (const rk of result.ranks) wrong += rk.wrong;
const cells = (f: (p: { steps: number[]; wake: number; total: number; p99: number; mean: number }) => number): string => stats.map((perRank) => perRank.map((p) => us(f(p))).join(' / ')).join(' | ');
rows.push(`| step | what | ${counts.map((c) => `${c * 4} B: rank 0 / rank 1 (us)`).join(' | ')} |`, `|---|---|${counts.map(() => '---|').join('')}`);
STEPS.forEach(([a, b, what], k) => rows.push(`| ${a} -> ${b} | ${what} | ${cells((p) => p.steps[k])} |`));
rows.push(`| peer sent -> arrived | the peer's publish until this rank sees it (wake-up, across processes) | ${cells((p) => p.wake)} |`);
if (op === 'allreduce') {
  rows.push(`| call -> resolved | the whole all-reduce (median) | ${cells((p) => p.total)} |`);
  rows.push(`| call -> resolved, p99 | the whole all-reduce (99th percentile) | ${cells((p) => p.p99)} |`);
  rows.push(`| call -> resolved, mean | the whole all-reduce (mean: the median and the tail together) | ${cells((p) => p.mean)} |`);
}
else {
  rows.push(`| whole | rank 0: send call -> reply received (round trip); rank 1: recv call -> reply sent (median) | ${cells((p) => p.total)} |`);
  rows.push(`| one way | half of rank 0's round trip (osu_latency's figure) | ${stats.map((perRank) => us(perRank[0].total / 2)).join(' | ')} |`);
}
let checked = 0;
for (let i = 0; i < warmup + iters; i++) checked += 2 * counts[i % counts.length];
const verdict = wrong === 0 && missing === 0 ? 'OK' : 'FAILED';
const text = [
  `Command: \`node dist/bench/latency-phases.js --op ${op} --iters ${iters} --warmup ${warmup} --count ${counts.join(',')} --poll ${poll}\` (${new Date().toISOString()}, load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')})`,
  '',
  `2 ranks on this host, ${op === 'allreduce' ? 'all-reduce' : 'ping-pong (send, recv)'} of ${counts.map((c) => `${c * 4} B`).join(', ')} float32${op === 'allreduce' ? ' sum' : ''}${counts.length > 1 ? ' (sizes interleaved, op by op)' : ''}, back to back; medians over ${iters} ops${counts.length > 1 ? ' in all' : ''} of each step (steps' medians need not add up to the whole).`,
  '',
  ...rows,
  '',
  `Checked: ${wrong} wrong element(s) in ${checked}; ${missing} step(s) never stamped. ${verdict}`,
].join('\n');
process.stdout.write(`${text}\n`);
if (args.out !== undefined) writeFileSync(resolve(args.out), `${text}\n`);
process.exit(verdict === 'OK' ? 0 : 1);

/**
 * What a rank that waits costs its host (issue 17): ranks of this host busy-poll their mailboxes for
 * at most SPIN_BUDGET_MS after the last frame, then sleep on a futex in short slices (a peer's frame
 * wakes them at once; the slices keep timers and sockets turning). So over a wait of W ms for a late
 * peer, a waiting rank should use about SPIN_BUDGET_MS of CPU plus a little per slice, not W.
 * Rank 0 is late by --late ms in each of --rounds all-reduces; every other rank reports the CPU time
 * its process used during its waits. Checks: every result exact, and CPU <= SPIN_BUDGET_MS per round
 * + --max-share of the wait (exit 1 otherwise).
 * Usage: node dist/bench/wait-cpu.js [--ranks 2] [--late 500] [--rounds 4] [--poll auto] [--max-share 0.1] [--out FILE.md]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { SPIN_BUDGET_MS } from '../lib/comm/busy-poll.js';
import { benchArgs, intArg, numberArg, pollArg } from './args.js';
import { runLocalRanks } from './local-ranks.js';


const args = benchArgs({
  name: 'wait-cpu',
  summary: 'CPU time of ranks that wait for a late peer (spin budget, then asleep); results and the bound checked, exit 1 when not met. Prints markdown; --out also writes it.',
  options: {
    ranks: { type: 'string', value: '2', describe: 'ranks on this host (rank 0 is the late one)' },
    late: { type: 'string', value: '500', describe: 'how late rank 0 calls, ms' },
    rounds: { type: 'string', value: '4', describe: 'late all-reduces' },
    poll: { type: 'string', value: 'auto', describe: 'ZCOLL_POLL for the ranks: auto, spin or sleep' },
    'max-share': { type: 'string', value: '0.1', describe: "the share of a core a parked rank may use (the bound's second term; a rank that spun through the wait uses ~1)" },
    out: { type: 'string', value: 'FILE.md', describe: 'also write the table to this file' },
  },
});
const ranks = intArg('wait-cpu', 'ranks', args.ranks, 2, 2);
const late = intArg('wait-cpu', 'late', args.late, 500, 1);
const rounds = intArg('wait-cpu', 'rounds', args.rounds, 4, 1);
const PARKED_SHARE = numberArg('wait-cpu', 'max-share', args['max-share'], 0.1);
if (!(PARKED_SHARE > 0 && PARKED_SHARE < 1)) {
  process.stderr.write(`wait-cpu: --max-share must be between 0 and 1, got ${PARKED_SHARE}\n`);
  process.exit(2);
}
const poll = pollArg('wait-cpu', args.poll);

interface Result {
  n: number;
  ranks: Array<{ rank: number; cpuMs: number; wallMs: number; wrong: number }>;
}
const result = runLocalRanks<Result>({ bench: 'wait-cpu', ranks, worker: 'wait-cpu-worker.js', args: [String(late), String(rounds)], poll, timeoutMs: 120_000 + rounds * late * 2 });

const waiting = result.ranks.filter((r) => r.rank !== 0);
const boundMs = (wallMs: number): number => rounds * SPIN_BUDGET_MS + PARKED_SHARE * wallMs;
const over = waiting.filter((r) => r.cpuMs > boundMs(r.wallMs));
const wrong = result.ranks.reduce((a, r) => a + r.wrong, 0);
const verdict = wrong === 0 && over.length === 0 ? 'OK' : 'FAILED';
const text = [
  `Command: \`node dist/bench/wait-cpu.js --ranks ${ranks} --late ${late} --rounds ${rounds} --poll ${poll} --max-share ${PARKED_SHARE}\` (${new Date().toISOString()}, load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')})`,
  '',
  `${ranks} ranks on this host; rank 0 calls each of ${rounds} all-reduces ${late} ms late. Bound per waiting rank: ${SPIN_BUDGET_MS} ms of spinning per round + ${PARKED_SHARE * 100} % of the wait.`,
  '',
  '| waiting rank | waited (ms) | CPU used (ms) | CPU / wait | bound (ms) |',
  '|---|---|---|---|---|',
  ...waiting.map((r) => `| ${r.rank} | ${r.wallMs.toFixed(0)} | ${r.cpuMs.toFixed(1)} | ${((100 * r.cpuMs) / r.wallMs).toFixed(1)} % | ${boundMs(r.wallMs).toFixed(0)} |`),
  '',
  `Checked: ${wrong} wrong element(s); ${over.length} rank(s) over the bound. ${verdict}`,
].join('\n');
process.stdout.write(`${text}\n`);
if (args.out !== undefined) writeFileSync(resolve(args.out), `${text}\n`);
process.exit(verdict === 'OK' ? 0 : 1);

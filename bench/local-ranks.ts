/**
 * Runs a bench's worker as `ranks` processes of this host (`zcoll launch` on a free port, shared
 * memory) and returns what rank 0 wrote to a JSON file: the launch half of latency-phases and
 * wait-cpu. Exits the bench with status 1 and the ranks' stderr when they fail.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PollMode } from '../lib/comm/busy-poll.js';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface LocalRun {
  /** The bench's name, for its error message. */
  readonly bench: string;
  readonly ranks: number;
  /** The worker, under dist/bench/, and its arguments after the JSON path. */
  readonly worker: string;
  readonly args: readonly string[];
  /** ZCOLL_POLL for the ranks. */
  readonly poll: PollMode;
  readonly timeoutMs: number;
}

export function runLocalRanks<T>(run: LocalRun): T {
  const work = mkdtempSync(join(tmpdir(), `zcoll-${run.bench}-`));
  const json = join(work, 'result.json');
  try {
    const port = Number(execFileSync(process.execPath, ['-e', "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"]).toString().trim());
    const worker = [join(REPO, 'dist', 'bench', run.worker), json, ...run.args];
    const r = spawnSync(process.execPath, [join(REPO, 'bin', 'zcoll.js'), 'launch', '-n', String(run.ranks), '--port', String(port), '--', process.execPath, ...worker], {
      encoding: 'utf8',
      timeout: run.timeoutMs,
      killSignal: 'SIGTERM',
      env: { ...process.env, ZCOLL_POLL: run.poll, ZCOLL_TRANSPORT: 'shm' },
    });
    if (r.status !== 0 || !existsSync(json)) {
      process.stderr.write(`${run.bench}: the ranks failed (exit ${r.status ?? r.signal}): ${(r.stderr ?? '').trim().slice(-800)}\n`);
      rmSync(work, { recursive: true, force: true }); // process.exit skips the finally below
      process.exit(1);
    }
    return JSON.parse(readFileSync(json, 'utf8')) as T;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

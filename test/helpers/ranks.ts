/**
 * Spawns real rank processes on loopback for multi-process tests: a free rendezvous port per world,
 * ZCOLL_* environment, output captured, and every process killed in teardown, pass or fail.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, quietPort } from '../../lib/cluster/free-port.js';
export { freePort, quietPort };

export const DIST = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const REPO = join(DIST, '..');


export interface RankOutput {
  rank: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Parsed `RESULT <json>` lines printed by the worker. */
  results: unknown[];
}

export interface SpawnOptions {
  /** Script path relative to dist/ (e.g. 'test/fixtures/collective-worker.js'). */
  script: string;
  args?: string[];
  /** Ranks to start (default: all of 0..size-1). */
  ranks?: number[];
  env?: Record<string, string>;
  /** Per-rank extra environment. */
  rankEnv?: (rank: number) => Record<string, string>;
  /** Rendezvous port (default: a free one). */
  port?: number;
  /** Called with each rank's process as it starts (fault tests signal one of them). */
  onSpawn?: (rank: number, child: ChildProcess) => void;
  /** Hard limit for the whole world; processes still alive then are killed. */
  killAfterMs?: number;
}

/**
 * Calls `act` once, `delayMs` after `child` first prints `text` on stdout (fault tests: signal a rank
 * once it is mid-run, e.g. after its '"ready"' line).
 */
export function afterPrinted(child: ChildProcess, text: string, delayMs: number, act: () => void): void {
  let stdout = '';
  let armed = false;
  child.stdout!.on('data', (d: Buffer) => {
    if (armed) return;
    stdout += d.toString();
    if (!stdout.includes(text)) return;
    armed = true;
    setTimeout(act, delayMs);
  });
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export async function runRanks(size: number, o: SpawnOptions): Promise<RankOutput[]> {
  // Below the ephemeral range: rank 0 binds it only once its process is up, and on a busy machine
  // a port the kernel just handed out is soon handed to another test's socket.
  const port = o.port ?? (await quietPort());
  const ranks = o.ranks ?? Array.from({ length: size }, (_, r) => r);
  const runs = ranks.map(
    (rank) =>
      new Promise<RankOutput>((resolve) => {
        const child = spawn(process.execPath, [join(DIST, o.script), ...(o.args ?? [])], {
          env: {
            ...process.env,
            ZCOLL_RANK: String(rank),
            ZCOLL_WORLD_SIZE: String(size),
            ZCOLL_MASTER_ADDR: '127.0.0.1',
            ZCOLL_MASTER_PORT: String(port),
            ...(o.env ?? {}),
            ...(o.rankEnv?.(rank) ?? {}),
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        live.add(child);
        o.onSpawn?.(rank, child);
        let stdout = '';
        let stderr = '';
        child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
        const timer = setTimeout(() => child.kill('SIGKILL'), o.killAfterMs ?? 120_000);
        child.on('close', (code, signal) => {
          clearTimeout(timer);
          live.delete(child);
          const results = stdout
            .split('\n')
            .filter((l) => l.startsWith('RESULT '))
            .map((l) => JSON.parse(l.slice(7)) as unknown);
          resolve({ rank, code, signal, stdout, stderr, results });
        });
      }),
  );
  return await Promise.all(runs);
}

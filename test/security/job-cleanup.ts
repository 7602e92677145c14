/**
 * Shared by the attack tests: what the worker processes said when they started (security-worker's
 * `ready` line), and the cleanup of what a killed rank leaves behind: its shared-memory regions
 * (/dev/shm/zcoll-<epoch>-<rank>[-k]) and ipc socket files (<tmpdir>/zcoll-<pid>-*.sock). Ranks that
 * exit normally remove both themselves; this runs pass or fail.
 */
import { readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RankOutput } from '../helpers/ranks.js';

export interface Ready {
  kind: 'ready';
  rank: number;
  pid: number;
  epoch: number;
  shm: boolean;
}

export type WorkerResult = Ready | ({ kind: string } & Record<string, unknown>);

export function resultsOf(o: RankOutput): WorkerResult[] {
  return o.results as WorkerResult[];
}

export function readyOf(o: RankOutput): Ready | undefined {
  return resultsOf(o).find((r): r is Ready => r.kind === 'ready');
}

export function lastOf(o: RankOutput, kind: string): Record<string, unknown> | undefined {
  return resultsOf(o).filter((r) => r.kind === kind).pop() as Record<string, unknown> | undefined;
}

/** Removes shared-memory regions of `epochs` and ipc sockets of `pids`; returns how many were left over. */
export function cleanupJob(epochs: Iterable<number>, pids: Iterable<number>): number {
  let removed = 0;
  const eps = [...epochs];
  const ps = [...pids];
  const sweep = (dir: string, match: (name: string) => boolean): void => {
    let names: string[] = [];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const n of names) {
      if (!match(n)) continue;
      try {
        rmSync(join(dir, n), { force: true });
        removed++;
      } catch {
        // gone meanwhile
      }
    }
  };
  sweep('/dev/shm', (n) => eps.some((e) => n === `zcoll-${e}` || n.startsWith(`zcoll-${e}-`)));
  sweep(tmpdir(), (n) => ps.some((p) => n.startsWith(`zcoll-${p}-`) && n.endsWith('.sock')));
  return removed;
}

/** Cleans up after a finished run of ranks (epochs and pids from their ready lines). */
export function cleanupOutputs(outs: readonly RankOutput[]): number {
  const ready = outs.map(readyOf).filter((r): r is Ready => r !== undefined);
  return cleanupJob(new Set(ready.map((r) => r.epoch)), ready.map((r) => r.pid));
}

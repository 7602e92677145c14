/**
 * What `zcoll bench` needs of memory, and what to say when memory ran out. Before any rank starts,
 * a sweep whose largest size cannot fit in the memory available here fails with the numbers (an
 * out-of-memory rank otherwise shows only as "killed by SIGKILL"); after a run in which a rank was
 * SIGKILLed, the cgroup's oom_kill counter (v2 memory.events, v1 memory.oom_control) tells whether
 * the kernel's out-of-memory killer did it.
 */
import { readFileSync } from 'node:fs';
import { freemem } from 'node:os';
import type { BenchCollective } from './bench-table.js';

/**
 * A lower bound of one rank's bytes for the sweep's largest size S over n ranks: the buffers the
 * case holds at once (inputs, outputs, the rows robust and signsgd regenerate for every rank and
 * their references), not the JS heap around them. Below it the run cannot succeed; above it, it may.
 */
export function rankBytesNeeded(collective: BenchCollective, maxBytes: number, ranks: number): number {
  switch (collective) {
    case 'allreduce':
      return 2 * maxBytes; // input and result
    case 'reducescatter':
    case 'allgather':
      return maxBytes + maxBytes / ranks; // the whole vector and one rank's part
    case 'broadcast':
      return maxBytes;
    case 'robust':
      return 2 * ranks * maxBytes; // every rank's row, regenerated, and the n rows received
    case 'signsgd':
      return ranks * maxBytes; // every rank's row, regenerated
    case 'coded':
      return maxBytes;
    case 'latency':
      return 2 * maxBytes; // the message sent and the one received
  }
}

/** Bytes this process could still allocate: the cgroup-aware figure where node has it. */
export function availableBytes(): number {
  const p = process as NodeJS.Process & { availableMemory?: () => number };
  return typeof p.availableMemory === 'function' ? p.availableMemory() : freemem();
}

/** The kernel's OOM kills in this process's memory cgroup so far, or undefined where unreadable. */
export function oomKills(): number | undefined {
  for (const [file, key] of [
    ['/sys/fs/cgroup/memory.events', 'oom_kill'],
    ['/sys/fs/cgroup/memory/memory.oom_control', 'oom_kill'],
  ] as const) {
    try {
      const m = new RegExp(`^${key} (\\d+)$`, 'm').exec(readFileSync(file, 'utf8'));
      if (m !== null) return Number(m[1]);
    } catch {
      // not this cgroup version
    }
  }
  return undefined;
}

export function formatBytes(b: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let u = 0;
  while (b >= 1024 && u < units.length - 1) {
    b /= 1024;
    u++;
  }
  return `${u === 0 ? b.toFixed(0) : b.toFixed(1)} ${units[u]}`;
}

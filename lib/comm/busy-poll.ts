/**
 * Busy polling while a small collective is in flight. A Node process that waits on a socket sleeps
 * in epoll, and waking it is the whole cost of a small collective on the machines zcoll runs on:
 * virtual CPUs halt when idle, so a ZeroMQ round trip between two processes takes ~160 us on two
 * cores and ~70 us on one (measured on a 2-vCPU VM), while the bytes of a 4 KiB all-reduce take ~2 us.
 * OpenMPI busy-polls for the same reason (4 us at 4 KiB here, against gloo's sleeping 330-530 us).
 *
 * Here the event loop keeps turning through setImmediate while the op is pending, so libuv polls its
 * sockets with a zero timeout and a frame is handled as soon as ZeroMQ has it; timers and every other
 * callback still run. It is bounded twice: it stops after `budgetMs` without a frame (a late peer is
 * waited for asleep, as before), and 'auto' spins only when this host runs no more ranks than it has
 * cores (a spinning rank would otherwise take the CPU from the very peer it waits for).
 * Large collectives spin too when every rank is on this host and shared memory carries the payloads:
 * then every segment's header goes through the mailboxes and nothing waits on a thread wake-up.
 *
 * When every rank is on this host, a wait that outlasts the spin sleeps on the mailbox instead
 * (`sleep` hook, a futex: see transport/shm-mailbox.ts): the peer that sends wakes it in one system
 * call and the CPU is free meanwhile. Each sleep is a short slice, so timers, sockets and signals keep
 * turning. So a waiting rank burns a core for at most `budgetMs` after its last frame, then sleeps.
 */
import { availableParallelism } from 'node:os';

/** 'spin': busy-poll small collectives; 'sleep': never; 'auto': spin when ranks of this host <= cores. */
export type PollMode = 'auto' | 'spin' | 'sleep';
export const POLL_MODES: readonly PollMode[] = ['auto', 'spin', 'sleep'];

/** Collectives up to this many payload bytes are latency-bound: those are the ones worth a core. */
export const SPIN_MAX_BYTES = 256 * 1024;
/** Longest spin without a frame: past it the peer is late for another reason than a wake-up. */
export const SPIN_BUDGET_MS = 5;

/** Whether this process should busy-poll small collectives. */
export function spinEnabled(mode: PollMode, localRanks: number, cores: number = availableParallelism()): boolean {
  if (mode === 'auto') return localRanks <= cores;
  return mode === 'spin';
}

/** What a spin does on each turn of the event loop and when it ends. */
export interface SpinHooks {
  /** Called on every turn (polls the shared-memory mailboxes). */
  readonly onTurn?: () => void;
  /** Called once when the spin ends: `settled` false when it ran out of budget first. */
  readonly onStop?: (settled: boolean) => void;
  /** When the op last made progress (performance.now()): the budget counts from then. */
  readonly lastProgress?: () => number;
  /** Past the budget: sleeps one short slice until woken; false when it cannot (the spin then ends). */
  readonly sleep?: () => boolean;
}

/**
 * Keeps the event loop from sleeping until `pending` settles or `budgetMs` has passed without
 * progress (since the start, or since `hooks.lastProgress()`). Returns at once; the spinning happens
 * between the event loop's other work.
 */
export function spinWhilePending(pending: Promise<unknown>, budgetMs: number = SPIN_BUDGET_MS, hooks: SpinHooks = {}): void {
  let settled = false;
  const stop = (): void => {
    settled = true;
  };
  pending.then(stop, stop);
  const start = performance.now();
  const turn = (): void => {
    if (settled) return hooks.onStop?.(true);
    hooks.onTurn?.();
    // Each sleep returns to the event loop before the next: what woke it is handled there.
    if (performance.now() < Math.max(start, hooks.lastProgress?.() ?? 0) + budgetMs || hooks.sleep?.() === true) setImmediate(turn);
    else hooks.onStop?.(false);
  };
  setImmediate(turn);
}

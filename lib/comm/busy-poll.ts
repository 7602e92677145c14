/**
 * Busy polling while a collective or a recv() waits. A Node process that waits on a socket sleeps
 * in epoll, and waking it is the whole cost of a small collective on the machines zcoll runs on:
 * virtual CPUs halt when idle, so a ZeroMQ round trip between two processes takes ~160 us on two
 * cores and ~70 us on one (measured on a 2-vCPU VM), while the bytes of a 4 KiB all-reduce take ~2 us.
 * OpenMPI busy-polls for the same reason (4 us at 4 KiB here, against gloo's sleeping 330-530 us).
 *
 * How a wait polls, and why:
 *  - In slices. A slice is a tight loop that drains the same-host mailboxes until the wait is over
 *    or SPIN_SLICE_MS passed, so a peer's frame is handled within a loop turn of its arrival (a
 *    fraction of a microsecond), not at the next event-loop turn (several microseconds, and a frame
 *    that lands just after a drain waits a whole turn). The first slice runs at once, inside the call
 *    that starts the wait: a small collective whose peers are already there never returns to the event
 *    loop at all. Between slices the event loop turns (setImmediate, so libuv polls its sockets with a
 *    zero timeout): ZeroMQ frames, timers (deadlines), signals and peer-loss events are seen there.
 *  - Bounded: the wait stops spinning after `budgetMs` without progress (a late peer is waited for
 *    asleep, as before). When every rank is on this host it then sleeps on the mailbox (`sleep` hook, a
 *    futex: see transport/shm-mailbox.ts): the peer that sends wakes it in one system call. Each sleep
 *    is a short slice, so timers, sockets and signals keep turning. So a waiting rank burns a core for
 *    at most `budgetMs` after its last frame, then sleeps.
 *  - Polite when ranks outnumber cores ('yield'): a spinning rank would take the CPU from the very peer
 *    it waits for, so between two empty drains it gives its core away (sched_yield), as OpenMPI does
 *    when oversubscribed. A rank that yields still reacts within a scheduler pass, where a ZeroMQ
 *    wake-up crosses three threads.
 */
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';

/** 'spin': busy-poll; 'sleep': never; 'auto': spin when ranks of this host <= cores, else spin and yield. */
export type PollMode = 'auto' | 'spin' | 'sleep';
export const POLL_MODES: readonly PollMode[] = ['auto', 'spin', 'sleep'];

/** How a rank waits: spinning, spinning but giving its core away between drains, or asleep on ZeroMQ. */
export type SpinStyle = 'spin' | 'yield' | 'none';

/** Collectives up to this many payload bytes are latency-bound: those are the ones worth a core (across hosts). */
export const SPIN_MAX_BYTES = 256 * 1024;
/** Longest spin without a frame: past it the peer is late for another reason than a wake-up. */
export const SPIN_BUDGET_MS = 5;
/** Turns after a frame was handed on (or a slice began) that each hop through the microtask queue. */
export const EAGER_HOP_TURNS = 16;
/** Past those, empty turns (each a few Atomics loads, ~30 ns) between two hops. */
export const IDLE_TURNS_PER_HOP = 64;
/** Longest stretch one slice holds the event loop: timers and sockets are seen at least this often. */
export const SPIN_SLICE_MS = 0.2;

/**
 * How this process waits. 'auto' spins when this machine runs no more ranks than it has cores, and
 * spins politely (yielding) when it runs more and can yield; without a way to yield, or when some
 * ranks are on other hosts, it sleeps there. 'spin' always spins (yielding when oversubscribed, if it
 * can). 'sleep' never spins.
 * Why not yield across hosts: a rank that waits there waits mostly for the network, which polling
 * cannot hasten, while even a yielding spinner takes its share of the cores from the same-machine
 * peers still reducing (measured: 2 hosts x 2 ranks as network namespaces on 2 cores, 200 Mbit/s,
 * 1 MiB host-aware all-reduce: 31.8-32.8 MB/s busbw yielding, 33.0-33.5 asleep; 4 KiB 1.42-1.53 ms
 * yielding, 1.50-1.74 ms asleep).
 */
export function spinStyle(mode: PollMode, machineRanks: number, canYield: boolean, cores: number = availableParallelism(), acrossHosts = false): SpinStyle {
  if (mode === 'sleep') return 'none';
  if (machineRanks <= cores) return 'spin';
  if (mode === 'auto' && acrossHosts) return 'none';
  if (canYield) return 'yield';
  return mode === 'spin' ? 'spin' : 'none';
}

/** What a spinning wait does and when it ends. */
export interface SpinHooks {
  /** Called on every turn of a slice (drains the shared-memory mailboxes); returns how many frames it handed on. */
  readonly onTurn?: () => number;
  /** Called once when the spin ends: `settled` false when it ran out of budget first. */
  readonly onStop?: (settled: boolean) => void;
  /** When the wait last made progress (performance.now()): the budget counts from then. */
  readonly lastProgress?: () => number;
  /** Past the budget: sleeps one short slice until woken; false when it cannot (the spin then ends). */
  readonly sleep?: () => boolean;
  /** Between two empty turns of a slice: gives the core to another runnable process (oversubscribed). */
  readonly yieldCpu?: () => void;
  /** Called once, before the wait first hands the event loop back unfinished (where timers fire). */
  readonly leavingLoop?: () => void;
}

/**
 * Polls until `done()` is true or `budgetMs` has passed without progress (since the start, or since
 * `hooks.lastProgress()`). `done` is read synchronously between turns, so it must say whether the
 * wait is over without waiting for a promise. The first slice runs before this returns; the rest
 * between the event loop's other work. `now`: the caller's fresh clock reading, the wait's start.
 */
export function spinUntil(done: () => boolean, budgetMs: number = SPIN_BUDGET_MS, hooks: SpinHooks = {}, now?: number): void {
  new SpinWait(done, budgetMs, hooks, now ?? performance.now()).turn();
}

/**
 * One wait (spinUntil). A slice hops through the microtask queue: what a frame sets off (a send over a
 * socket that resolves, a recv's continuation) runs in promise continuations, which a loop that never
 * hopped would hold back until the slice ends, and each hop lets every chain of them advance one step.
 * Only a drain puts new work into that queue while a slice runs (no I/O callback or timer runs in
 * it), so the slice hops on every turn for EAGER_HOP_TURNS turns after a frame was handed on (and
 * after it began: the op's own sends), long enough for the chains a frame starts, and then only
 * every IDLE_TURNS_PER_HOP empty turns.
 * Garbage: a waiting rank's allocations are what its scavenges cost (1-3.5 ms each when a hop
 * allocated ~1 GB/s: 2 ranks, 8 B back to back, p99 76-442 us against a median of 10-12 us). So the
 * wait is one object whose methods are bound once, and a hop is a reaction on one settled promise: the
 * async slice and turn it replaces allocated their closures, contexts and promises per wait (issue 17:
 * ~2 KB of a small all-reduce's ~6.4 KB per op). Not queueMicrotask: Node wraps each callback in an
 * async resource and a bound function (measured 358 ns and ~800 bytes per hop, against ~45 ns).
 */
const HOP: Promise<void> = Promise.resolve();

class SpinWait {
  private firstSlice = true;
  private left = false;
  /** The slice in progress: when it ends, turns since the last frame, empty turns since the last hop. */
  private end = 0;
  private sinceFrame = 0;
  private idle = 0;
  private readonly resume = (): void => this.slice();
  private readonly nextTurn = (): void => this.turn();

  constructor(
    private readonly done: () => boolean,
    private readonly budgetMs: number,
    private readonly hooks: SpinHooks,
    private readonly start: number,
  ) {}

  turn(): void {
    const hooks = this.hooks;
    if (this.done()) return hooks.onStop?.(true);
    // The first turn is at the start: within the budget by definition (no clock or progress read).
    if (this.firstSlice || performance.now() < Math.max(this.start, hooks.lastProgress?.() ?? 0) + this.budgetMs) {
      this.end = (this.firstSlice ? this.start : performance.now()) + SPIN_SLICE_MS;
      this.firstSlice = false;
      this.sinceFrame = 0;
      this.idle = 0;
      this.slice();
      return;
    }
    this.leave();
    // Past the budget: one drain, then asleep. Each sleep returns to the event loop before the
    // next, so what woke it is handled there. A drain that handed on frames is not followed by a
    // sleep: what they set off (the executor's next send) runs in promise continuations, which a
    // synchronous futex wait would hold back for a whole sleep slice; the next event-loop turn comes
    // after all of them, and the frames count as progress (the wait spins again).
    const delivered = hooks.onTurn?.() ?? 0;
    if (this.done()) return hooks.onStop?.(true);
    if (delivered > 0 || hooks.sleep?.() === true) setImmediate(this.nextTurn);
    else hooks.onStop?.(false);
  }

  /** Turns of the current slice until the wait is over, the slice's time is up, or a hop is due. */
  private slice(): void {
    const onTurn = this.hooks.onTurn;
    const yieldCpu = this.hooks.yieldCpu;
    for (;;) {
      const delivered = onTurn?.() ?? 0;
      if (this.done()) return this.hooks.onStop?.(true);
      if (delivered > 0) this.sinceFrame = 0;
      else if (++this.sinceFrame > EAGER_HOP_TURNS && ++this.idle < IDLE_TURNS_PER_HOP) {
        // A yield may give the core away for a whole scheduler slice (ms, when other processes
        // wait for it): the slice's clock is read after each, or 64 of them would hold the event
        // loop (and the sockets a flood comes in on) for 64 slices. Measured: a peer's flood of
        // 400 x 1 MiB aborts, read that late, grew honest ranks by 65-107 MiB (4-11 MiB read in time).
        if (yieldCpu !== undefined) {
          yieldCpu();
          if (performance.now() >= this.end) return this.sliceOver();
        }
        continue;
      }
      this.idle = 0;
      if (performance.now() >= this.end) return this.sliceOver();
      HOP.then(this.resume);
      return;
    }
  }

  /** The slice's time is up: the event loop turns (sockets, timers), then the next turn. */
  private sliceOver(): void {
    this.leave();
    setImmediate(this.nextTurn);
  }

  private leave(): void {
    if (this.left) return;
    this.left = true;
    this.hooks.leavingLoop?.();
  }
}

/**
 * How this rank waits for frames, for collectives and recv() alike: which waits busy-poll
 * (busy-poll.ts), whether they yield their core, whether they may sleep on the mailboxes past the
 * spin budget, and when the mailboxes close. Several waits may poll at once (a collective and a
 * recv()); the mailboxes close only when the last of them runs out of budget, since peers then send
 * over ZeroMQ, whose wake-ups cost what polling saves.
 */
import { BYTES_PER_ELEMENT, type DType } from '../dtype.js';
import type { PollHooks } from '../transport/transport.js';
import { spinUntil, SPIN_BUDGET_MS, SPIN_MAX_BYTES, type SpinStyle } from './busy-poll.js';

export class Poller {
  /** Waits that poll now (a settled one counts until its pending turn ends it). */
  private spinning = 0;
  /**
   * A wait that does not poll came while others did: the mailboxes must close when the last of those
   * stops, settled or not. Left open, peers keep publishing into them and nobody drains them (the
   * non-polling wait sleeps on ZeroMQ): measured, the first 1 MiB all-reduce across two hosts after a
   * barrier hung until its timeout, the barrier's finished spin still counted when it began.
   */
  private closeWhenIdle = false;

  /** The end of a polling wait (one function for all of them: no closure per wait). */
  private readonly onStop = (settled: boolean): void => {
    this.spinning--;
    if (this.spinning > 0) return;
    if (!settled || this.closeWhenIdle) this.hooks.stopPolling?.();
    this.closeWhenIdle = false;
  };

  constructor(
    private readonly hooks: Partial<PollHooks>,
    /** 'none' when this rank has no mailboxes or must not spin (busy-poll.ts spinStyle). */
    readonly style: SpinStyle,
    /** Every rank on this host: a wait past its budget can sleep on the mailboxes (hooks.park). */
    private readonly allLocal: boolean,
    /** sched_yield, for style 'yield'. */
    private readonly yieldCpu: (() => void) | undefined,
  ) {}

  /** Whether a wait for `count` elements of `dtype` polls: any size when every rank shares this host, else small ones. */
  spins(dtype: DType | '', count: number): boolean {
    if (this.style === 'none') return false;
    if (this.allLocal) return true;
    return count * (dtype === '' ? 0 : BYTES_PER_ELEMENT[dtype]) <= SPIN_MAX_BYTES;
  }

  /** Opens the mailboxes as early as possible: peers that send their first frames now find them open. */
  open(): void {
    this.hooks.startPolling?.();
  }

  /**
   * Waits for `done()` (read synchronously: see spinUntil). A wait that polls drains the mailboxes on
   * every turn and leaves them open after it, since the next collective usually follows soon and
   * peers then reach it through them; a wait that does not poll, or the last one that runs out of
   * budget, closes them and drains once more, then waits on ZeroMQ asleep, or, when every rank is on
   * this host, asleep on the mailboxes where a peer's frame wakes it directly (`park`).
   * `leavingLoop` is called once before a polling wait first hands the event loop back unfinished.
   * `now`: performance.now() as the caller just read it (the wait's start), to spare a clock read.
   */
  wait(done: () => boolean, spins: boolean, leavingLoop?: () => void, now?: number): void {
    const h = this.hooks;
    if (!spins) {
      if (this.spinning === 0) h.stopPolling?.();
      else this.closeWhenIdle = true;
      return;
    }
    if (done()) return;
    h.startPolling?.(); // a recv() or a spin after a sleep: peers may reach this rank through its mailboxes again
    this.spinning++;
    // Fields, not spreads: one wait per small collective, and spreading its hooks cost more than the rest of the call.
    spinUntil(done, SPIN_BUDGET_MS, {
      lastProgress: h.lastFrameAt,
      onTurn: h.drain,
      sleep: this.allLocal ? h.park : undefined,
      yieldCpu: this.style === 'yield' ? this.yieldCpu : undefined,
      leavingLoop,
      onStop: this.onStop,
    }, now);
  }
}

/**
 * A straggler injected at the fault seam (lib/transport/outbox.ts) of one coded-computing worker: the
 * straggler model (lib/faults/stragglers.ts) says how much longer the worker's work of a round takes,
 * and every result message of that round waits until that extra time has passed since the work ended.
 * Nothing else of the worker is touched, so the master sees exactly what a slow machine looks like:
 * results that arrive late.
 *
 * Why a late round's results are released when the next round starts: in the authors' runtime
 * (Krishnan, Ebrahimi, Khisti, ICLR 2023; AWS Lambda) every round is a fresh invocation, so a worker
 * straggling in round r is not late in round r + 1 because of it; the model decides each round on its
 * own (a Gilbert-Elliott chain carries the burstiness). The master has dropped those results already,
 * and they still reach it, tagged with their round, which is what tests that late results never
 * corrupt a later job.
 *
 * Cost: O(1) per message; one timer per delayed round.
 */
import { check } from '../errors.js';
import { createStragglerModel, type StragglerModel, type StragglerSpec } from '../faults/stragglers.js';
import type { FaultSeam, OutgoingMessage } from '../transport/outbox.js';

export interface StragglerSeamOptions {
  /** Which messages the straggler delays (default: every message). */
  delays?: (msg: OutgoingMessage) => boolean;
}

export interface StragglerSeamCounters {
  /** Rounds with a positive injected delay. */
  delayedRounds: number;
  /** Sum of the injected delays, ms. */
  delayMs: number;
  /** Messages that had to wait. */
  delayedMessages: number;
  /** Delayed rounds cut short because the next round started. */
  releasedEarly: number;
}

interface Gate {
  readonly round: number;
  readonly until: number;
  readonly promise: Promise<void>;
  release(): void;
}

export class StragglerSeam {
  readonly model: StragglerModel;
  readonly counters: StragglerSeamCounters = { delayedRounds: 0, delayedMessages: 0, delayMs: 0, releasedEarly: 0 };
  private readonly delays: (msg: OutgoingMessage) => boolean;
  private gate: Gate | undefined;
  private currentRound = -1;

  /** `index` is the straggler model's rank: the worker index in the coded run. */
  constructor(
    model: StragglerModel | StragglerSpec | string,
    readonly index: number,
    options: StragglerSeamOptions = {},
  ) {
    check(Number.isInteger(index) && index >= 0, 'EINVAL', () => `straggler seam: worker index must be an integer >= 0, got ${String(index)}`);
    this.model = typeof model === 'string' || !('delayFor' in model) ? createStragglerModel(model) : model;
    this.delays = options.delays ?? (() => true);
  }

  /** The round whose results are being sent (-1 before the first). */
  get round(): number {
    return this.currentRound;
  }

  /** A new round begins: the previous round's held results go out now (see the header). */
  startRound(round: number): void {
    check(Number.isInteger(round) && round > this.currentRound, 'EINVAL', () => `straggler seam: rounds must increase, got ${String(round)} after ${this.currentRound}`, { rank: this.index });
    this.releaseHeld();
    this.currentRound = round;
  }

  /**
   * The round's work ended and took `baseMs`; the model stretches it. Result messages sent from now
   * on wait until the stretched time is over (or the next round starts). Returns the injected delay.
   */
  workDone(baseMs: number): number {
    check(this.currentRound >= 0, 'EINVAL', () => `straggler seam: workDone() before startRound()`, { rank: this.index });
    const delay = this.model.delayFor(this.index, this.currentRound, Math.max(0, baseMs));
    this.releaseHeld();
    if (delay <= 0) return 0;
    this.counters.delayedRounds++;
    this.counters.delayMs += delay;
    let release!: () => void;
    const promise = new Promise<void>((resolve) => (release = resolve));
    const timer = setTimeout(() => release(), delay);
    const gate: Gate = {
      round: this.currentRound,
      until: performance.now() + delay,
      promise,
      release: () => {
        clearTimeout(timer);
        release();
      },
    };
    this.gate = gate;
    void promise.then(() => {
      if (this.gate === gate) this.gate = undefined;
    });
    return delay;
  }

  /** Lets every held message go (the run is ending). */
  releaseHeld(): void {
    const gate = this.gate;
    if (gate === undefined) return;
    if (performance.now() < gate.until) this.counters.releasedEarly++;
    this.gate = undefined;
    gate.release();
  }

  /** The seam to install with comm.setFaultSeam(). */
  readonly seam: FaultSeam = async (msg) => {
    const gate = this.gate;
    if (gate === undefined || !this.delays(msg)) return msg;
    this.counters.delayedMessages++;
    await gate.promise;
    return msg;
  };
}

/** A FaultSeam (with its round clock) from a straggler model, for worker `index`. */
export function createStragglerSeam(model: StragglerModel | StragglerSpec | string, index: number, options?: StragglerSeamOptions): StragglerSeam {
  return new StragglerSeam(model, index, options);
}

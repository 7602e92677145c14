/**
 * The faults of one rank at its one send seam (the FaultSeam of lib/transport/outbox.ts), from a
 * FaultPlan (plan.ts):
 *  - stragglers: at the start of each step (one collective call of the bench) the straggler model
 *    (stragglers.ts) says how much longer this rank's work takes; every message the rank sends
 *    during the step waits until that extra time has passed since the step began;
 *  - Byzantine ranks: the payload of this rank's own contributions is replaced by the output of its
 *    attack (attacks/registry.ts). In direct exchanges (robust aggregation, sign votes) that is the
 *    message whose transfer is the rank itself; in relayed collectives (ring, trees) every data
 *    payload the rank sends carries its contribution, so all of them are replaced: a relay that
 *    lies corrupts what it forwards, which is why robust aggregation never relays;
 *  - crashes: the rank's process exits at its first message of the given step.
 * Cost: O(1) per message, plus O(payload) to decode, attack and re-encode a Byzantine payload.
 */
import { ZcollError, check } from '../errors.js';
import { Prng } from '../prng.js';
import type { FaultSeam, OutgoingMessage } from '../transport/outbox.js';
import type { DataHeader } from '../transport/wire.js';
import { createStragglerModel, type StragglerModel } from './stragglers.js';
import type { GradientAttack } from './attacks/attack.js';
import { ATTACK_REGISTRY, attacksNeedingHonest, createAttack } from './attacks/registry.js';
import { checkPlanForWorld, type FaultPlan } from './plan.js';

/** A copy with its own aligned ArrayBuffer (a Buffer's slice() shares memory, maybe at an odd offset). */
export function privateCopy(payload: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(payload.byteLength);
  bytes.set(payload);
  return bytes;
}

/** What the faults of one rank did so far (the bench sums them over ranks per row). */
export interface FaultCounters {
  /** Steps in which this rank was a straggler (a positive delay). */
  lateSteps: number;
  /** Messages held back by a straggler delay. */
  delayedMessages: number;
  /** Total straggler delay injected, ms. */
  delayMs: number;
  /** Payloads replaced by an attack. */
  corruptedMessages: number;
}

export interface RankFaultsOptions {
  /** Exits the process for a kill (default: process.exit after a message on stderr). */
  exit?: (code: number, why: string) => void;
  /** Sleeps (default setTimeout). */
  sleep?: (ms: number) => Promise<void>;
  /** Clock in ms (default performance.now). */
  now?: () => number;
}

/**
 * The honest rows an omniscient attacker sees for a message (alie, ipm, mimic and signflip use the
 * honest workers' gradients, as ByzFL's attacks do). A bench case that knows every rank's input
 * provides them; without a view, signflip sees only its own payload and alie, ipm and mimic are
 * refused (see RankFaults.honestView).
 */
export type HonestView = (msg: DataMessage, own: Float32Array) => Float32Array[] | undefined;

/** A collective's data frame on its way out: the only kind of message an attack replaces. */
export type DataMessage = OutgoingMessage & { readonly header: DataHeader };

const isData = (msg: OutgoingMessage): msg is DataMessage => msg.header.kind === 'data';

/**
 * How a payload that is not a plain vector of numbers becomes one for the attack and back (signSGD's
 * packed sign words: the attacker works on the +-1 signs and sends its result packed again).
 */
export interface PayloadCodec {
  decode(msg: DataMessage): Float32Array;
  encode(values: Float32Array, msg: DataMessage): Uint8Array;
}

const DIRECT_OPS = new Set(['exchange', 'exchange-to', 'gather']);

/** The faults of one rank: its FaultSeam, a step clock the driver advances, and counters. */
export class RankFaults {
  readonly counters: FaultCounters = { lateSteps: 0, delayedMessages: 0, delayMs: 0, corruptedMessages: 0 };
  /** Set by the driver when payloads are encoded (see PayloadCodec). */
  payloadCodec: PayloadCodec | undefined;
  private readonly model: StragglerModel | undefined;
  private readonly attack: GradientAttack | undefined;
  /** This rank's attack reads the honest rows and means nothing without them (alie, ipm, mimic). */
  private readonly attackNeedsHonest: boolean;
  private currentHonestView: HonestView | undefined;
  private readonly exit: (code: number, why: string) => void;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => number;
  private step = -1;
  private stepDelayMs = 0;
  private stepStart = 0;
  private gate: Promise<void> | undefined;
  private messageIndex = 0;

  constructor(
    readonly plan: FaultPlan,
    readonly rank: number,
    readonly size: number,
    options: RankFaultsOptions = {},
  ) {
    checkPlanForWorld(plan, size);
    this.model = plan.stragglers !== undefined ? createStragglerModel(plan.stragglers, { size, seed: plan.seed }) : undefined;
    const mine = plan.byzantine.find((b) => b.ranks.includes(rank));
    this.attack = mine !== undefined ? createAttack(mine.attack, mine.options) : undefined;
    this.attackNeedsHonest = mine !== undefined && ATTACK_REGISTRY[mine.attack].honest === 'required';
    this.exit =
      options.exit ??
      ((code, why) => {
        process.stderr.write(`zcoll: fault plan: ${why}\n`);
        process.exit(code);
      });
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.now = options.now ?? (() => performance.now());
  }

  /** The honest rows attackers see (see HonestView); set by the driver for each bench case. */
  get honestView(): HonestView | undefined {
    return this.currentHonestView;
  }

  /**
   * Clearing the view (a case that does not know the other ranks' inputs) refuses a plan with an
   * attack that needs the honest rows, on every rank alike and before the case sends anything:
   * at the seam the failure could only end the Byzantine rank's process and leave the others to
   * time out.
   */
  set honestView(view: HonestView | undefined) {
    if (view === undefined) {
      const blind = this.plan.byzantine.filter((b) => ATTACK_REGISTRY[b.attack].honest === 'required');
      check(blind.length === 0, 'EINVAL', () => `byzantine ${blind.map((b) => b.attack).join(', ')}: this bench case cannot show a Byzantine rank the honest ranks' vectors, which ${attacksNeedingHonest().join(', ')} are made of (use 'zcoll bench robust', or an attack such as signflip, scaledflip, gaussian, zero, nan, inf)`, { rank: this.rank });
    }
    this.currentHonestView = view;
  }

  get byzantine(): boolean {
    return this.attack !== undefined;
  }

  /** The current step (-1 before the first). */
  get currentStep(): number {
    return this.step;
  }

  /**
   * Starts step `step`; `baseMs` is the undisturbed duration of the step's work (the bench passes
   * the fault-free time of the collective), which the straggler model stretches. Returns the delay.
   */
  beginStep(step: number, baseMs: number): number {
    check(Number.isInteger(step) && step > this.step, 'EINVAL', () => `fault plan: steps must increase, got ${step} after ${this.step}`, { rank: this.rank });
    this.step = step;
    this.gate = undefined;
    this.stepStart = this.now();
    this.stepDelayMs = this.model !== undefined ? this.model.delayFor(this.rank, step, Math.max(0, baseMs)) : 0;
    if (this.stepDelayMs > 0) {
      this.counters.lateSteps++;
      this.counters.delayMs += this.stepDelayMs;
    }
    return this.stepDelayMs;
  }

  /**
   * The seam to install with comm.setFaultSeam(). A failure inside it would only drop the message
   * (and hang the peers until their timeout), so it ends the process loudly instead.
   */
  readonly seam: FaultSeam = async (msg) => {
    try {
      return await this.apply(msg);
    } catch (e) {
      this.exit(70, `rank ${this.rank}: fault injection failed at step ${this.step}: ${(e as Error).message}`);
      return null;
    }
  };

  private async apply(msg: OutgoingMessage): Promise<OutgoingMessage | null> {
    const kill = this.plan.kill;
    if (kill !== undefined && kill.rank === this.rank && this.step >= kill.at) {
      this.exit(3, `rank ${this.rank} killed at step ${this.step} (kill: rank=${kill.rank},at=step${kill.at})`);
      return null;
    }
    if (this.stepDelayMs > 0) {
      // One gate per step, started when the step began: the rank's work took that much longer.
      const now = this.now();
      this.gate ??= this.sleep(Math.max(0, this.stepStart + this.stepDelayMs - now));
      const waited = now < this.stepStart + this.stepDelayMs;
      await this.gate;
      if (waited) this.counters.delayedMessages++;
    }
    if (this.attack === undefined || msg.payload === undefined || !isData(msg) || msg.header.transfer < 0 || msg.header.elements === 0) return msg;
    if (DIRECT_OPS.has(msg.header.op) && msg.header.transfer !== this.rank) return msg;
    const replaced = this.corrupt(msg);
    if (replaced === undefined) return msg;
    this.counters.corruptedMessages++;
    return { ...msg, payload: replaced };
  }

  /** The honest rows for this message: the view's, or (signflip, attacks that ignore them) the own row. */
  private honestRows(msg: DataMessage, own: Float32Array): Float32Array[] {
    const rows = this.currentHonestView?.(msg, own);
    if (rows !== undefined) return rows;
    // The setter refuses this for plans made through it; a driver that never set a view gets here.
    if (this.attackNeedsHonest) throw new ZcollError('EINVAL', `the attack of rank ${this.rank} needs the honest ranks' vectors, and no honestView was set`, { rank: this.rank });
    return [own];
  }

  private corrupt(msg: DataMessage): Uint8Array | undefined {
    if (this.payloadCodec !== undefined) {
      const own = this.payloadCodec.decode(msg);
      return this.payloadCodec.encode(this.attack!({ own, honest: this.honestRows(msg, own), prng: this.noise() }), msg);
    }
    const dt = msg.header.dtype;
    const bytes = privateCopy(msg.payload!);
    const view = dt === 'float32' ? new Float32Array(bytes.buffer) : dt === 'float64' ? new Float64Array(bytes.buffer) : dt === 'int32' ? new Int32Array(bytes.buffer) : undefined;
    if (view === undefined) return undefined;
    const own = view instanceof Float32Array ? view.slice() : Float32Array.from(view);
    const bad = this.attack!({ own, honest: this.honestRows(msg, own), prng: this.noise() });
    if (view instanceof Int32Array) for (let i = 0; i < view.length; i++) view[i] = Number.isFinite(bad[i]) ? Math.round(bad[i]) : 0x7fffffff;
    else view.set(bad);
    return bytes;
  }

  /** Fresh noise per message, reproducible from (seed, step, rank, message index). */
  private noise(): Prng {
    return new Prng((Math.imul(this.plan.seed ^ 0x5bd1e995, 0x01000193) ^ Math.imul(this.step + 1, 0x9e3779b1) ^ Math.imul(this.rank + 1, 0x85ebca6b) ^ this.messageIndex++) >>> 0);
  }
}

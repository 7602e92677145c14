/**
 * Where the time of one small collective goes, phase by phase (bench/latency-phases.ts): the op is
 * called, takes its turn in the queue, reads its input, encodes a header, publishes it, the peer's
 * frame arrives, is decoded, routed to the op, reduced, and the op settles; a point-to-point frame is
 * routed to p2p.ts ('dispatched'), queued for its recv ('taken'), and copied into the recv's array
 * ('copied'). Off unless a bench installs a clock: each point costs one test of an undefined binding
 * on the hot path.
 */
export const PHASES = ['call', 'queued', 'prepared', 'encoded', 'sent', 'arrived', 'decoded', 'dispatched', 'reduced', 'settled', 'taken', 'copied'] as const;
export type Phase = (typeof PHASES)[number];

/** Called at each phase point while installed (an ES module binding: importers see it change). */
export let phaseClock: ((phase: Phase) => void) | undefined;

/** Installs (or removes, with undefined) the clock. For benches: never set in a library user's process. */
export function setPhaseClock(clock: ((phase: Phase) => void) | undefined): void {
  phaseClock = clock;
}

/**
 * All-gather without relays, for robust aggregation and Byzantine-mode votes: every rank receives
 * every other rank's vector straight from it (the communicator's exchangeDirect), as the trust
 * boundary of docs/architecture.md requires; a ring all-gather forwards other ranks' chunks, so one
 * Byzantine relay could rewrite them all. A rank that sent the wrong dtype or length does not
 * abort the step: its row is `undefined` (invalid) and the aggregator treats it as Byzantine.
 * Cost: each rank sends its d elements to each of the n-1 others and receives (n-1)·d, in one round.
 */
import type { Communicator } from '../comm/communicator.js';
import type { NumericArray } from '../dtype.js';

/**
 * Row r is rank r's vector, or undefined when rank r sent something malformed; this rank's row is
 * `mine`. `into` (optional, one slot per rank): caller-owned arrays the peers' vectors land in, reused
 * across steps (exchangeDirect's `into`).
 */
export async function directAllGather<A extends NumericArray>(comm: Communicator, mine: A, timeoutMs?: number, into?: ReadonlyArray<A | undefined>): Promise<(A | undefined)[]> {
  const entries = await comm.exchangeDirect(mine, { ...(timeoutMs !== undefined ? { timeoutMs } : {}), ...(into !== undefined ? { into } : {}) });
  return entries.map((e, r) => (r === comm.rank ? mine : e !== null && !(e instanceof Error) ? e : undefined));
}

/**
 * The inputs and the affine result of the schedule simulators (simulate.ts, lockstep;
 * simulate-pipelined.ts, overlapped), in a module of their own so that the two models share them
 * without importing each other.
 */

export interface SimParams {
  /** Per-step latency, seconds. */
  readonly alphaS: number;
  /** Seconds per byte on a link or port whose topology gives no bandwidth. */
  readonly betaSPerByte: number;
  /** Seconds per byte reduced at a rank (0: reduction is free). */
  readonly gammaSPerByte?: number;
  /** Also return every step's time (lockstep model only). */
  readonly perStep?: boolean;
  /**
   * 'lockstep' (default): every step costs its slowest transfer (simulate.ts);
   * 'pipelined': the dependency-driven executor's overlap of steps (simulate-pipelined.ts).
   */
  readonly model?: 'lockstep' | 'pipelined';
}

/** A schedule's simulated time as a line in the size: fixedS + perByteS * bytes (simulate.ts, costLine). */
export interface CostLine {
  readonly fixedS: number;
  readonly perByteS: number;
}

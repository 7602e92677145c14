/**
 * The inputs and the result of the schedule simulators (simulate.ts, lockstep;
 * simulate-pipelined.ts, overlapped), in a module of their own so that the two models share them
 * without importing each other.
 */

export interface SimParams {
  /** Per-step latency, seconds. */
  readonly alphaS: number;
  /**
   * Seconds per byte on a link or port whose topology gives no bandwidth; in the pipelined model also
   * the rate of one rank's transport to a rank on another switch (another host), when slower than its port.
   */
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
  /**
   * Pipelined model: the executor's segment size in bytes (a chunk is cut into segments of this size,
   * one segment at a time per hop). Absent: segments as small as one likes, so the pipeline costs no
   * fill and drain.
   */
  readonly segmentBytes?: number;
}

/** One resource of the pipelined model that may bound the time (simulate-pipelined.ts). */
export interface PipelineStage {
  /** Seconds this resource is busy per byte of the buffer. */
  readonly busySPerByte: number;
  /** Seconds per byte of one segment before its first segment arrives and after its last leaves. */
  readonly fillSPerByte: number;
}

/**
 * A schedule's simulated time as a function of the size `bytes`:
 *   fixedS + perByteS * bytes + max over stages (busySPerByte * bytes + fillSPerByte * min(bytes / nchunks, segmentBytes)).
 * Without stages (the lockstep model) it is the line fixedS + perByteS * bytes; with them it is
 * affine below and above one segment per chunk, and still computed in O(stages) per size.
 */
export interface CostLine {
  readonly fixedS: number;
  readonly perByteS: number;
  readonly pipeline?: {
    readonly nchunks: number;
    /** 0: no fill (SimParams.segmentBytes absent). */
    readonly segmentBytes: number;
    readonly stages: readonly PipelineStage[];
  };
}

/** The time of a cost line at `bytes` (see CostLine). */
export function timeOnLine(line: CostLine, bytes: number): number {
  let t = line.fixedS + line.perByteS * bytes;
  const p = line.pipeline;
  if (p !== undefined && p.stages.length > 0) {
    const segment = p.nchunks > 0 ? Math.min(bytes / p.nchunks, p.segmentBytes) : 0;
    let worst = 0;
    for (const st of p.stages) worst = Math.max(worst, st.busySPerByte * bytes + st.fillSPerByte * segment);
    t += worst;
  }
  return t;
}

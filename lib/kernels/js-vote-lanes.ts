/**
 * The JS twins of native-bindings/src/vote_lanes.cc (contract.ts documents each): the count lanes
 * of signVote's 'reduce' mode. Kept
 * apart from js.ts so each file holds one concern; js.ts spreads these into jsKernels.
 */

/** c = bit length of ranks (ranks >= 1): the smallest c with 2^c > ranks, at most 31. */
export function voteLaneBits(ranks: number): number {
  let c = 1;
  while (c < 31 && 2 ** c <= ranks) c++;
  return c;
}

export const jsVoteLaneKernels = {
  spreadVoteLanes(packed: Uint32Array, d: number, ranks: number, out: Int32Array): void {
    const c = voteLaneBits(ranks);
    const lanes = Math.floor(32 / c);
    const words = (d + 31) >>> 5;
    const tail = d & 31 ? (2 ** (d & 31) - 1) >>> 0 : 0xffffffff;
    const groups = out.length >>> 5;
    for (let g = 0; g < groups; g++) {
      const o = g << 5;
      for (let j = 0; j < 32; j++) out[o + j] = 0;
      for (let l = 0; l < lanes; l++) {
        const w = g * lanes + l;
        let s = w < words ? packed[w] : 0;
        if (w + 1 === words) s &= tail;
        if (s === 0) continue;
        const shift = c * l;
        for (let j = 0; j < 32; j++) out[o + j] |= ((s >>> j) & 1) << shift;
      }
    }
  },

  votesFromLanes(counts: Int32Array, ranks: number, negOut: Uint32Array, tieOut: Uint32Array): number {
    const c = voteLaneBits(ranks);
    const lanes = Math.floor(32 / c);
    const mask = 2 ** c - 1;
    const groups = counts.length >>> 5;
    for (let g = 0; g < groups; g++) {
      const o = g << 5;
      for (let l = 0; l < lanes; l++) {
        const shift = c * l;
        let neg = 0;
        let tie = 0;
        for (let j = 0; j < 32; j++) {
          const v = (counts[o + j] >>> shift) & mask;
          if (v > ranks) return (g * lanes + l) * 32 + j;
          if (2 * v > ranks) neg |= 1 << j;
          else if (2 * v === ranks) tie |= 1 << j;
        }
        negOut[g * lanes + l] = neg >>> 0;
        tieOut[g * lanes + l] = tie >>> 0;
      }
    }
    return -1;
  },

};

/**
 * Dissemination barrier (Hensgen, Finkel and Manber 1988): ceil(log2 n) rounds; in round k every
 * rank tells rank + 2^k and waits for rank - 2^k's round-k message. After the last round every rank
 * has heard, transitively, from every rank. Cost: ceil(log2 n) empty messages per rank.
 */
import type { OpContext } from '../op-context.js';

export function barrierProtocol(rank: number, n: number): (ctx: OpContext) => void {
  return (ctx) => {
    const rounds = n === 1 ? 0 : Math.ceil(Math.log2(n));
    const got = new Set<number>();
    let round = 0;
    const sendRound = (k: number): void => void ctx.send((rank + (1 << k)) % n, k, 0, undefined, 0).catch(() => undefined);
    const advance = (): void => {
      while (round < rounds && got.has(round)) {
        round++;
        if (round < rounds) sendRound(round);
      }
      if (round >= rounds) ctx.complete();
    };
    ctx.attach(
      (src, h) => {
        if (!(h.x >= 0 && h.x < rounds) || src !== (rank - (1 << h.x) + n * 2) % n || got.has(h.x)) return false;
        got.add(h.x);
        advance();
        return true;
      },
      () => ({ peer: (rank - (1 << round) + n * 2) % n, what: `barrier round ${round}` }),
    );
    if (rounds > 0) sendRound(0);
    advance();
  };
}

/**
 * `zcoll bench latency`: point-to-point ping-pong in the style of the OSU micro-benchmarks'
 * osu_latency. Ranks pair up (0 with 1, 2 with 3, ...; an odd last rank sits out): the even rank
 * sends a message and waits for its partner's reply of the same size, the odd rank replies. The
 * time of one iteration is half of that round trip, the one-way latency, as osu_latency reports.
 * Every message is checked: each rank sends its own closed-form values, and the receiver compares.
 * Sizes are whole elements of the dtype (4 B and up for float32), since messages carry typed arrays.
 */
import type { Communicator } from '../comm/communicator.js';
import { allocArray, BYTES_PER_ELEMENT, type DType, type NumericArray } from '../dtype.js';
import { ZcollError } from '../errors.js';
import type { BenchCase } from './bench-collectives.js';
import { inputValue } from './bench-collectives.js';

/** A tag of its own, so that a ping-pong never takes another message of the same peers. */
const LATENCY_TAG = 0x5a4c;

export function latencyCase(comm: Communicator, dtype: DType): BenchCase {
  if (comm.size < 2) throw new ZcollError('EINVAL', 'zcoll bench latency needs at least 2 ranks (ping-pong pairs)', { rank: comm.rank, op: 'bench latency' });
  const rank = comm.rank;
  const partner = rank ^ 1;
  const active = partner < comm.size;
  const pings = rank % 2 === 0;
  const elem = BYTES_PER_ELEMENT[dtype];
  return {
    collective: 'latency',
    algorithm: 'pingpong',
    redop: 'none',
    root: -1,
    type: dtype,
    // One way: the table's time is half a round trip.
    timeScale: 0.5,
    busFactor: () => 1,
    fitSize: (bytes) => Math.floor(bytes / elem) * elem,
    prepare: (bytes) => {
      const count = bytes / elem;
      const mine = allocArray(dtype, count);
      for (let i = 0; i < count; i++) mine[i] = inputValue(rank, i);
      const got: NumericArray = allocArray(dtype, count);
      let received = false;
      return {
        reset: () => {
          got.fill(0);
          received = false;
        },
        run: async () => {
          if (!active) return;
          if (pings) {
            await comm.send(mine, partner, { tag: LATENCY_TAG });
            await comm.recv(got, partner, { tag: LATENCY_TAG });
          } else {
            await comm.recv(got, partner, { tag: LATENCY_TAG });
            await comm.send(mine, partner, { tag: LATENCY_TAG });
          }
          received = true;
        },
        check: () => {
          if (!active) return 0;
          if (!received) return count;
          let wrong = 0;
          for (let i = 0; i < count; i++) if (got[i] !== inputValue(partner, i)) wrong++;
          return wrong;
        },
        excluded: () => 0,
      };
    },
  };
}

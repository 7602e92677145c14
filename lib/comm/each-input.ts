/**
 * allReduce and broadcast take one input or a list (Horovod's tensor fusion). One input runs one
 * collective; a list runs one per dtype on a fused buffer, queued at the call in a fixed dtype
 * order, and its results are split back. Tensors in, tensors out; what is read is read at the call.
 */
import type { DType, NumericArray } from '../dtype.js';
import { makeTensor, readTensor } from '../tensor/bridge.js';
import { fuse, fusionGroups, split } from '../tensor/fusion.js';
import * as args from './args.js';
import type { CallName, Collectible } from './options.js';

/** A collective's working buffer: ready now, or once a tensor's values are read. */
export type Work = NumericArray | Promise<NumericArray>;

/**
 * A tensor's values, with the download started now (the collective reads its input at the call). It
 * is awaited only in the collective's turn: a failure meanwhile must not count as unhandled (Node
 * would end the process), it fails that collective when awaited.
 */
export function readNow(t: Parameters<typeof readTensor>[0]): Promise<NumericArray> {
  const values = readTensor(t);
  values.catch(() => undefined);
  return values;
}

export function eachInput(site: args.CallSite, x: Collectible | Collectible[], inPlaceOption: unknown, call: CallName, op: string, one: (dtype: DType, count: number, work: Work) => Promise<NumericArray>): Promise<Collectible | Collectible[]> {
  if (!Array.isArray(x)) {
    const inp = args.input(site, x, op);
    const inPlace = args.checkInPlace(site, inPlaceOption, inp, call, op);
    if (inp.kind === 'tensor') return one(inp.dtype, inp.count, readNow(inp.tensor)).then((out) => makeTensor(out, inp.shape, inp.dtype as 'float32' | 'int32'));
    return one(inp.dtype, inp.count, inPlace ? inp.array : inp.array.slice());
  }
  const ins = args.inputs(site, x, op);
  args.checkInPlace(site, inPlaceOption, ins, call, op);
  const values = ins.map((inp) => (inp.kind === 'tensor' ? readNow(inp.tensor) : inp.array));
  const groups = fusionGroups(ins);
  const runs = groups.map((g) =>
    one(
      g.dtype,
      g.total,
      Promise.all(g.members.map((m) => values[m.index])).then((vs) => {
        const byIndex: NumericArray[] = [];
        g.members.forEach((m, k) => (byIndex[m.index] = vs[k]));
        return fuse(g, byIndex);
      }),
    ),
  );
  return Promise.all(runs).then(async (outs) => {
    const results = new Array<Collectible>(x.length);
    for (let gi = 0; gi < groups.length; gi++) {
      const parts = split(groups[gi], outs[gi]);
      for (let k = 0; k < parts.length; k++) {
        const index = groups[gi].members[k].index;
        const inp = ins[index];
        results[index] = inp.kind === 'tensor' ? await makeTensor(parts[k], inp.shape, inp.dtype as 'float32' | 'int32') : parts[k];
      }
    }
    return results;
  });
}

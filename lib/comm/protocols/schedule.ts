/**
 * Runs a Schedule (schedule/types.ts) as the protocol of one op: the executor sends through the op
 * (which stamps its headers and fails it on a send error) and the op hands it every frame of its
 * sequence number. Traced when a trace sink is set.
 */
import { BYTES_PER_ELEMENT, dtypeOf, type NumericArray } from '../../dtype.js';
import type { ElementwiseOp } from '../../kernels/contract.js';
import { kernels } from '../../kernels/index.js';
import { execute } from '../../schedule/execute.js';
import type { Schedule } from '../../schedule/types.js';
import type { OpContext } from '../op-context.js';
import type { TraceEvent } from '../options.js';

export type Trace = (e: Omit<TraceEvent, 'pid' | 'tid'>) => void;

/** Elements per pipelined segment: at least one, whatever the dtype. */
export function segmentElemsOf(segmentBytes: number, elemBytes: number): number {
  return Math.max(1, Math.floor(segmentBytes / elemBytes));
}

export function runSchedule(ctx: OpContext, schedule: Schedule, buffer: NumericArray, op: ElementwiseOp, segmentBytes: number, trace?: Trace): void {
  const params = { schedule, buffer, op, segmentElems: segmentElemsOf(segmentBytes, BYTES_PER_ELEMENT[dtypeOf(buffer)]), kernels };
  if (trace === undefined) {
    // The op is the channel (it sends, fails and completes as ExecChannel asks), and the execution is
    // the op's attached protocol: no channel object or closures per op.
    ctx.attachProtocol(execute(params, ctx));
    return;
  }
  const exec = execute(
    params,
    {
      rank: ctx.rank,
      send: (peer, x, s, payload, count, volatile) => {
        const sent = ctx.send(peer, x, s, payload, count, volatile);
        if (trace !== undefined) {
          const t0 = performance.now();
          const args = { peer, transfer: x, segment: s, bytes: payload?.byteLength ?? 0 };
          void sent.then(() => trace({ name: x < -1 ? 'ack' : 'send', cat: 'send', ph: 'X', ts: t0 * 1000, dur: (performance.now() - t0) * 1000, args }), () => undefined);
        }
        return sent;
      },
      fail: (e) => ctx.fail(e, true),
      completed: () => ctx.complete(),
    },
  );
  // The execution is the op's attached protocol: it gets the op's frames, and is disposed as the op
  // settles (payloads kept for a later turn in the reduction order are released; a completed
  // execution hands its state to the next op of this schedule and size: execute.ts).
  ctx.attachProtocol({
    deliver: (src, h, payload) => {
      const t0 = performance.now();
      const bytes = payload?.byteLength ?? 0; // read first: a consumed frame is released (empty) after
      const taken = exec.onFrame(src, h.transfer, h.segment, payload, h.elements);
      trace({ name: h.transfer < -1 ? 'ack' : 'recv', cat: 'recv', ph: 'X', ts: t0 * 1000, dur: (performance.now() - t0) * 1000, args: { peer: src, transfer: h.transfer, segment: h.segment, bytes } });
      return taken;
    },
    waitingOn: () => exec.waitingOn(),
    dispose: () => exec.dispose(),
  });
}

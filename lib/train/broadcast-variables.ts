/**
 * broadcastVariables: every rank starts from the root's weights (Horovod's
 * broadcast_variables / BroadcastGlobalVariablesHook), so data-parallel replicas stay identical.
 * All variables are fused into one float32 buffer and sent in one broadcast (binomial tree or
 * pipelined chain, chosen by the communicator), then assigned back. Cost: one broadcast of 4d bytes.
 */
import type { Communicator } from '../comm/communicator.js';
import { assignVariables, flattenVariables, layoutOf } from './gradient-layout.js';
import { loadTf } from './tfjs.js';
import { resolveVariables, type VariableSource } from './variables.js';

export async function broadcastVariables(comm: Communicator, vars: VariableSource, root = 0, options: { timeoutMs?: number } = {}): Promise<void> {
  const tf = await loadTf();
  const list = resolveVariables(vars, 'broadcastVariables', comm.rank);
  const layout = layoutOf(list);
  const flat = await flattenVariables(list, layout);
  await comm.broadcast(flat, { root, inPlace: true, ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}) });
  if (comm.rank !== root) assignVariables(tf, list, flat, layout);
}

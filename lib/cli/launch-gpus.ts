/**
 * Which GPU each local rank of `zcoll launch` sees (CUDA_VISIBLE_DEVICES), as torchrun users expect:
 * without it every rank sees every GPU and all of them allocate on GPU 0.
 *  - `gpus` of the config's host, when given (> 0), wins: rank i gets local GPU (i mod gpus).
 *  - Else, when the launcher's CUDA_VISIBLE_DEVICES names devices, ranks are spread within that
 *    list (a job given GPUs 4-7 by a scheduler stays on them).
 *  - Else `nvidia-smi -L` (when on PATH) counts the GPUs.
 *  - No GPU found: nothing is set.
 * More ranks than GPUs share them round-robin, with one warning.
 */
import { spawnSync } from 'node:child_process';

export interface GpuPlan {
  /** CUDA_VISIBLE_DEVICES of each local rank; empty when none is set. */
  readonly devices: readonly string[];
  /** Where the GPUs came from, for the warning. */
  readonly source: 'config' | 'CUDA_VISIBLE_DEVICES' | 'nvidia-smi' | 'none';
  /** A line to print once, or undefined. */
  readonly warning: string | undefined;
}

/** GPUs `nvidia-smi -L` lists ("GPU 0: <name> (UUID: ...)"), 0 when it is missing or fails. */
export function nvidiaSmiCount(env: NodeJS.ProcessEnv): number {
  const r = spawnSync('nvidia-smi', ['-L'], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 });
  if (r.error !== undefined || r.status !== 0) return 0;
  return (r.stdout.match(/^GPU \d+:/gm) ?? []).length;
}

export function planGpus(localRanks: number, configGpus: number, env: NodeJS.ProcessEnv): GpuPlan {
  let list: string[];
  let source: GpuPlan['source'];
  const visible = (env.CUDA_VISIBLE_DEVICES ?? '').trim();
  if (configGpus > 0) {
    list = Array.from({ length: configGpus }, (_, i) => String(i));
    source = 'config';
  } else if (visible !== '') {
    list = visible.split(',').map((d) => d.trim()).filter((d) => d !== '');
    source = 'CUDA_VISIBLE_DEVICES';
  } else {
    const n = nvidiaSmiCount(env);
    list = Array.from({ length: n }, (_, i) => String(i));
    source = n > 0 ? 'nvidia-smi' : 'none';
  }
  if (list.length === 0) return { devices: [], source: 'none', warning: undefined };
  const devices = Array.from({ length: localRanks }, (_, i) => list[i % list.length]);
  const warning =
    localRanks > list.length
      ? `zcoll launch: ${localRanks} ranks share ${list.length} GPU${list.length === 1 ? '' : 's'} (from ${source}): ranks ${list.length} and up reuse them round-robin`
      : undefined;
  return { devices, source, warning };
}

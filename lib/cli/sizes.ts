/** Byte sizes as nccl-tests writes them: 4096, 4K, 64M, 1G (powers of 1024). */
import { ZcollError } from '../errors.js';

const UNITS: Record<string, number> = { '': 1, B: 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

export function parseBytes(text: string | number, flag: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMG]?)B?\s*$/i.exec(String(text));
  if (m === null) throw new ZcollError('EINVAL', `${flag}: "${text}" is not a size (examples: 4096, 4K, 64M, 1G)`);
  const bytes = Math.round(Number(m[1]) * UNITS[m[2].toUpperCase()]);
  if (!Number.isSafeInteger(bytes)) throw new ZcollError('EINVAL', `${flag}: "${text}" is too large`);
  return bytes;
}

/** Sizes from min to max multiplying by factor each time (nccl-tests' -b -e -f), max included when reached. */
export function sizeSweep(minBytes: number, maxBytes: number, factor: number): number[] {
  if (minBytes > maxBytes) throw new ZcollError('EINVAL', `--min-bytes (${minBytes}) is larger than --max-bytes (${maxBytes})`);
  if (!(factor > 1)) throw new ZcollError('EINVAL', `--step-factor must be > 1, got ${factor}`);
  const out: number[] = [];
  for (let s = minBytes; s <= maxBytes && out.length < 64; s = Math.max(s + 1, Math.round(s * factor))) out.push(s);
  return out;
}

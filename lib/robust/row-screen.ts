/**
 * Row screening shared by every aggregator: a row of the wrong length, a row that is not a
 * Float32Array, or a row holding NaN or +-Inf is treated as Byzantine. It is either dropped
 * ('exclude') or replaced by zeros ('zero'), and always counted, so a malformed vector from one rank
 * never crashes the aggregation nor poisons it with NaN. Cost: one read pass over n x d values.
 */
import { ZcollError } from '../errors.js';
import { kernels } from '../kernels/index.js';
import type { AggregatorOptions, InvalidRowPolicy } from './aggregation.js';

export interface ScreenedRows {
  /** Rows that enter the aggregation (valid rows, plus zero rows under 'zero'), in input order. */
  readonly rows: Float32Array[];
  /** index[r] = position in the caller's array of rows[r]. */
  readonly index: number[];
  /** Positions (in the caller's array) of rows that had the wrong length or a non-finite value. */
  readonly invalid: number[];
  /** The row length d every used row has. */
  readonly length: number;
  readonly policy: InvalidRowPolicy;
}

export function checkInvalidPolicy(policy: unknown, op: string): InvalidRowPolicy {
  if (policy === undefined) return 'exclude';
  if (policy !== 'exclude' && policy !== 'zero') {
    throw new ZcollError('EINVAL', `option 'invalid' of ${op} must be 'exclude' or 'zero', got ${String(policy)}`, { op });
  }
  return policy;
}

/** True iff every value of the row is finite (kernels.allFinite: one pass, at memory speed natively). */
export function isFiniteRow(row: Float32Array): boolean {
  return kernels.allFinite(row);
}

/**
 * The expected row length: options.length when given, otherwise the most common length among the
 * Float32Array rows (ties go to the length seen first), so one Byzantine row of another length
 * cannot set the length for the honest majority.
 */
function expectedLength(rows: readonly unknown[], given: number | undefined, op: string): number {
  if (given !== undefined) {
    if (!Number.isInteger(given) || given < 1) {
      throw new ZcollError('EINVAL', `option 'length' of ${op} must be a positive integer, got ${String(given)}`, { op });
    }
    return given;
  }
  const counts = new Map<number, number>();
  let best = -1;
  let bestCount = 0;
  for (const r of rows) {
    if (!(r instanceof Float32Array)) continue;
    const c = (counts.get(r.length) ?? 0) + 1;
    counts.set(r.length, c);
    if (c > bestCount) {
      bestCount = c;
      best = r.length;
    }
  }
  return best;
}

export function screenRows(rows: readonly Float32Array[], options: AggregatorOptions | undefined, op: string): ScreenedRows {
  if (!Array.isArray(rows)) throw new ZcollError('EINVAL', `${op} expects an array of Float32Array rows, got ${typeof rows}`, { op });
  const policy = checkInvalidPolicy(options?.invalid, op);
  const length = expectedLength(rows, options?.length, op);
  const used: Float32Array[] = [];
  const index: number[] = [];
  const invalid: number[] = [];
  let valid = 0;
  for (let i = 0; i < rows.length; i++) {
    const r: unknown = rows[i];
    const ok = r instanceof Float32Array && r.length === length && length > 0 && isFiniteRow(r);
    if (ok) {
      used.push(r);
      index.push(i);
      valid++;
    } else {
      invalid.push(i);
      if (policy === 'zero' && length > 0) {
        used.push(new Float32Array(length));
        index.push(i);
      }
    }
  }
  if (valid === 0) {
    throw new ZcollError('ENUMERIC', `${op}: no valid row among ${rows.length} (wrong length or NaN/Inf in every row)`, {
      op,
      details: { rows: rows.length, invalid },
    });
  }
  return { rows: used, index, invalid, length, policy };
}

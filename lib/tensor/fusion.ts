/**
 * Horovod's tensor fusion: a list of tensors and arrays becomes one buffer per dtype, one collective
 * each, split back in order. Groups come in a fixed dtype order, so every rank issues the same
 * collectives in the same order; what a group holds is known from dtypes and sizes alone, before
 * any value is read, so the collectives are queued at the call.
 */
import { allocArray, DTYPES, type DType, type NumericArray } from '../dtype.js';

export interface FusionMember {
  /** Position in the caller's list. */
  readonly index: number;
  readonly offset: number;
  readonly count: number;
}

export interface FusionGroup {
  readonly dtype: DType;
  readonly total: number;
  readonly members: readonly FusionMember[];
}

export function fusionGroups(items: ReadonlyArray<{ readonly dtype: DType; readonly count: number }>): FusionGroup[] {
  const groups: FusionGroup[] = [];
  for (const dtype of DTYPES) {
    const members: FusionMember[] = [];
    let total = 0;
    items.forEach((it, index) => {
      if (it.dtype !== dtype) return;
      members.push({ index, offset: total, count: it.count });
      total += it.count;
    });
    if (members.length > 0) groups.push({ dtype, total, members });
  }
  return groups;
}

/** The group's fused buffer, from each member's values (indexed like the caller's list). */
export function fuse(group: FusionGroup, values: readonly NumericArray[]): NumericArray {
  const buf = allocArray(group.dtype, group.total);
  for (const m of group.members) buf.set(values[m.index], m.offset);
  return buf;
}

/** Copies of each member's part of a fused result, in member order. */
export function split(group: FusionGroup, fused: NumericArray): NumericArray[] {
  return group.members.map((m) => fused.slice(m.offset, m.offset + m.count));
}

/** The shape of a gathered tensor: world-size copies stacked along the first dimension (a scalar becomes a vector). */
export function gatheredShape(shape: readonly number[], size: number): number[] {
  return shape.length === 0 ? [size] : [shape[0] * size, ...shape.slice(1)];
}

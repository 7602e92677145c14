/**
 * Label flipping, a data-side attack (ByzFL LabelFlipping): a Byzantine worker trains on its batch
 * with every label y replaced by (classes - 1 - y), so it sends an honest-looking gradient of the
 * wrong task. Pure: returns a new label array. Cost O(batch).
 */
import { ZcollError } from '../../errors.js';

export function labelFlip(labels: Int32Array, classes: number): Int32Array {
  if (!Number.isInteger(classes) || classes < 2) {
    throw new ZcollError('EINVAL', `labelFlip: classes must be an integer >= 2, got ${String(classes)}`, { op: 'labelFlip' });
  }
  const out = new Int32Array(labels.length);
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    if (y < 0 || y >= classes) {
      throw new ZcollError('EINVAL', `labelFlip: label ${y} at position ${i} is outside [0, ${classes})`, { op: 'labelFlip' });
    }
    out[i] = classes - 1 - y;
  }
  return out;
}

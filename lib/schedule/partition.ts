/**
 * Chunk and segment arithmetic shared by every builder, the executor and the simulator.
 * Chunk c of a buffer of `count` elements cut into n chunks has floor(count/n) elements, plus one for
 * the first count % n chunks (the Baidu/MPICH rule); chunks may be empty when count < n.
 */
export interface Span {
  readonly offset: number;
  readonly length: number;
}

export function chunkSpan(count: number, nchunks: number, chunk: number): Span {
  const base = Math.floor(count / nchunks);
  const extra = count % nchunks;
  const offset = chunk * base + Math.min(chunk, extra);
  return { offset, length: base + (chunk < extra ? 1 : 0) };
}

export function chunkSpans(count: number, nchunks: number): Span[] {
  const spans: Span[] = [];
  for (let c = 0; c < nchunks; c++) spans.push(chunkSpan(count, nchunks, c));
  return spans;
}

/**
 * Segments of one chunk: ceil(length / segmentElems) pieces, and always at least one (an empty
 * chunk still sends one empty message, so both sides agree and mismatches are seen, never hung on).
 */
export function segmentCount(length: number, segmentElems: number): number {
  return Math.max(1, Math.ceil(length / segmentElems));
}

export function segmentSpan(chunk: Span, segmentElems: number, segment: number): Span {
  const offset = chunk.offset + segment * segmentElems;
  const end = Math.min(chunk.offset + chunk.length, offset + segmentElems);
  return { offset, length: Math.max(0, end - offset) };
}

/**
 * The wire format. Every message is one or two ZeroMQ frames:
 *   frame 0: a msgpack header (below), small and self-describing;
 *   frame 1: the payload bytes, raw, sent straight from the typed array's memory (zeromq.js sends
 *            buffers over 128 bytes without copying) and received as a Buffer over the ZeroMQ
 *            message (no copy over 32 bytes).
 * The header carries what a receiver needs to match the message (src, seq, transfer, segment) and
 * what it needs to refuse it (op, dtype, total count, redop, root): a rank that called another
 * collective, another size or another dtype is caught by comparing, never by hanging.
 * Anything that does not decode to this shape is dropped and counted by the receiver.
 */
import { Packr } from 'msgpackr';
import { BYTES_PER_ELEMENT, isDType, type DType } from '../dtype.js';

/** Shared-memory region names a header may carry: main regions `zcoll-<epoch>-<rank>`, registered buffers `...-<k>`. */
export const REGION_NAME = /^zcoll-\d+-\d+(-\d+)?$/;

export const PROTOCOL_VERSION = 1;
/** Upper bound on one frame's payload; a header claiming more is refused before anything is allocated. */
export const MAX_PAYLOAD_BYTES = 1 << 30;
/** Longest error message an abort may carry (a peer's abort is buffered until its collective starts). */
const MAX_MESSAGE_CHARS = 4096;
/** Largest header frame: room for every field and an abort's longest message. */
const MAX_HEADER_BYTES = 16 * 1024;

export type FrameKind =
  | 'data' // a segment of a collective
  | 'mail' // a doorbell: drain the shared-memory mailbox from this sender (shm-mailbox.ts)
  | 'p2p' // a point-to-point send
  | 'abort' // a peer failed the collective `seq`; carries its error
  | 'bye' // a peer is closing cleanly (its later disconnect is not a failure)
  | 'stuck'; // a peer's deadline for collective `seq` expired: it is alive and waiting

export interface Header {
  /** Protocol version. */
  v: number;
  k: FrameKind;
  /** Sender rank. */
  src: number;
  /** Communicator epoch: a new communicator over the same endpoints gets a new one. */
  ep: number;
  /** Collective sequence number (the n-th collective of this communicator), or p2p sequence. */
  seq: number;
  /** Collective name ('allreduce', 'broadcast', ...) or 'send'. */
  op: string;
  /** Transfer id within the collective's schedule (negative: acknowledgements), or a collective-specific message id. */
  x: number;
  /** Segment index within the transfer. */
  s: number;
  /** Element type of the payload ('' when the message carries none). */
  dt: DType | '';
  /** Element count of the whole collective as the sender called it. */
  n: number;
  /** Elements in this frame's payload. */
  c: number;
  /** Reduction op or '' (not a reduction). */
  ro: string;
  /** Root rank for rooted collectives, -1 otherwise. */
  root: number;
  /** User tag (p2p) or 0. */
  tag: number;
  /** Schedule builder of the collective, when it can differ between calls ('ring', 'multitree', 'tree'). */
  al?: string;
  /** Shared memory: the payload is in the sender's region `sn` (see shm-region.ts), not in a frame. */
  sn?: string;
  /** Shared memory: region size, payload offset, slot state index, data area start. */
  sz?: number;
  so?: number;
  si?: number;
  sd?: number;
  /** For 'abort': the error code and message of the rank that failed. */
  code?: string;
  msg?: string;
  /** For 'abort': the rank the failure is about (died, stopped, disagreed), when not the sender itself. */
  cu?: number;
}

/**
 * The headers of this protocol, each built here and only here (so a field has one meaning):
 * a collective's data frame, a point-to-point frame, and the payload-less control frames.
 */
export interface OpFields {
  readonly op: string;
  readonly dtype: DType | '';
  /** Element count every rank must pass (per rank for all-gather and gather). */
  readonly count: number;
  readonly redop: string;
  readonly root: number;
  /** The schedule's builder, when ranks could pick different ones ('auto' must agree everywhere). */
  readonly algorithm?: string;
}

/** Segment `segment` of transfer `transfer` of collective `seq`, carrying `elements` elements. */
export function dataHeader(src: number, epoch: number, seq: number, d: OpFields, transfer: number, segment: number, elements: number): Header {
  const h: Header = { v: PROTOCOL_VERSION, k: 'data', src, ep: epoch, seq, op: d.op, x: transfer, s: segment, dt: d.dtype, n: d.count, c: elements, ro: d.redop, root: d.root, tag: 0 };
  if (d.algorithm !== undefined) h.al = d.algorithm;
  return h;
}

/** Segment `segment` of `segments` of point-to-point message `seq` to one peer on `tag`. */
export function p2pHeader(src: number, epoch: number, seq: number, tag: number, dtype: DType, total: number, segments: number, segment: number, elements: number): Header {
  return { v: PROTOCOL_VERSION, k: 'p2p', src, ep: epoch, seq, op: 'send', x: segments, s: segment, dt: dtype, n: total, c: elements, ro: '', root: -1, tag };
}

/** A frame without payload: abort, stuck, bye, doorbell. */
export function controlHeader(kind: FrameKind, src: number, epoch: number, seq: number, op: string): Header {
  return { v: PROTOCOL_VERSION, k: kind, src, ep: epoch, seq, op, x: -1, s: 0, dt: '', n: 0, c: 0, ro: '', root: -1, tag: 0 };
}

const packr = new Packr({ useRecords: false, moreTypes: false, bundleStrings: false });

export function encodeHeader(h: Header): Buffer {
  return packr.pack(h);
}

export type DecodeResult = { ok: true; header: Header; payload: Buffer | undefined } | { ok: false; reason: string };

const KINDS: ReadonlySet<string> = new Set(['data', 'p2p', 'abort', 'bye', 'stuck', 'mail']);

const isInt = (x: unknown, lo: number, hi: number): x is number => typeof x === 'number' && Number.isInteger(x) && x >= lo && x <= hi;

/**
 * Decodes and validates a received message. `nranks` bounds the sender rank. Never throws:
 * returns the reason a message is refused, for the log and the counters.
 */
export function decodeMessage(frames: readonly Buffer[], nranks: number): DecodeResult {
  if (frames.length < 1 || frames.length > 2) return { ok: false, reason: `expected 1 or 2 frames, got ${frames.length}` };
  // Refused before unpacking: a header is a few hundred bytes (an abort's message at most 4 KiB), and
  // unpacking a huge one would allocate its strings for nothing.
  if (frames[0].byteLength > MAX_HEADER_BYTES) return { ok: false, reason: `header of ${frames[0].byteLength} bytes, more than ${MAX_HEADER_BYTES}` };
  let raw: unknown;
  try {
    raw = packr.unpack(frames[0]);
  } catch {
    return { ok: false, reason: 'header is not msgpack' };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { ok: false, reason: 'header is not a map' };
  const h = raw as Record<string, unknown>;
  if (h.v !== PROTOCOL_VERSION) return { ok: false, reason: `protocol version ${String(h.v)}, expected ${PROTOCOL_VERSION}` };
  if (typeof h.k !== 'string' || !KINDS.has(h.k)) return { ok: false, reason: `unknown kind ${String(h.k)}` };
  if (!isInt(h.src, 0, nranks - 1)) return { ok: false, reason: `sender ${String(h.src)} is not a rank of this world of ${nranks}` };
  if (!isInt(h.ep, 0, 0xffffffff) || !isInt(h.seq, 0, Number.MAX_SAFE_INTEGER)) return { ok: false, reason: 'bad epoch or sequence number' };
  if (typeof h.op !== 'string' || h.op.length > 64 || typeof h.ro !== 'string' || h.ro.length > 16) return { ok: false, reason: 'bad op or redop' };
  if (!isInt(h.x, -0x80000000, 0x7fffffff) || !isInt(h.s, 0, 0x7fffffff)) return { ok: false, reason: 'bad transfer or segment index' };
  if (!isInt(h.n, 0, Number.MAX_SAFE_INTEGER) || !isInt(h.c, 0, MAX_PAYLOAD_BYTES)) return { ok: false, reason: 'bad element counts' };
  if (!isInt(h.root, -1, nranks - 1) || !isInt(h.tag, -0x80000000, 0x7fffffff)) return { ok: false, reason: 'bad root or tag' };
  if (h.dt !== '' && !isDType(h.dt)) return { ok: false, reason: `unknown dtype ${String(h.dt)}` };
  if (h.al !== undefined && (typeof h.al !== 'string' || h.al.length > 32)) return { ok: false, reason: 'bad algorithm name' };
  if (h.k === 'abort' && (typeof h.code !== 'string' || typeof h.msg !== 'string' || h.code.length > 16 || h.msg.length > MAX_MESSAGE_CHARS)) return { ok: false, reason: 'abort without code and message, or with a message over 4 KiB' };
  if (h.cu !== undefined && !isInt(h.cu, 0, nranks - 1)) return { ok: false, reason: 'abort naming a rank outside this world' };
  const header = h as unknown as Header;
  const payload = frames.length === 2 ? frames[1] : undefined;
  const expectBytes = header.dt === '' ? 0 : header.c * BYTES_PER_ELEMENT[header.dt];
  if (h.sn !== undefined) {
    if (typeof h.sn !== 'string' || !REGION_NAME.test(h.sn)) return { ok: false, reason: 'bad shared-memory region name' };
    if (!isInt(h.sz, 1, Number.MAX_SAFE_INTEGER) || !isInt(h.so, 0, Number.MAX_SAFE_INTEGER) || !isInt(h.si, 0, 0x7fffffff) || !isInt(h.sd, 0, Number.MAX_SAFE_INTEGER)) {
      return { ok: false, reason: 'bad shared-memory slot reference' };
    }
    if (payload !== undefined || h.so + expectBytes > h.sz || h.so < h.sd) return { ok: false, reason: 'shared-memory slot reference does not fit its region' };
    return { ok: true, header, payload: undefined };
  }
  const gotBytes = payload?.byteLength ?? 0;
  if (expectBytes !== gotBytes) return { ok: false, reason: `payload of ${gotBytes} bytes, header says ${header.c} x ${header.dt || 'none'} = ${expectBytes}` };
  return { ok: true, header, payload };
}

/**
 * The first message on every link: the sender's rank and its proof (transport/link-auth.ts) that it
 * holds the key it shares with the receiver. A fixed 44-byte frame, not msgpack ('ZH', version 1):
 * a header decoder reads its first byte as a number, never as a map, so the two cannot be confused.
 */
export const HELLO_BYTES = 44;
const HELLO_MAGIC = 0x5a480100;

export interface LinkHello {
  readonly epoch: number;
  readonly src: number;
  readonly proof: Buffer;
}

export function encodeHello(h: LinkHello): Buffer {
  const b = Buffer.alloc(HELLO_BYTES);
  b.writeUInt32BE(HELLO_MAGIC, 0);
  b.writeUInt32BE(h.epoch, 4);
  b.writeUInt32BE(h.src, 8);
  h.proof.copy(b, 12, 0, 32);
  return b;
}

/** The hello in a one-frame message, or undefined when it is not one. */
export function decodeHello(frames: readonly Buffer[]): LinkHello | undefined {
  if (frames.length !== 1 || frames[0].byteLength !== HELLO_BYTES) return undefined;
  const b = frames[0];
  if (b.readUInt32BE(0) !== HELLO_MAGIC) return undefined;
  return { epoch: b.readUInt32BE(4), src: b.readUInt32BE(8), proof: Buffer.from(b.subarray(12, 44)) };
}

/**
 * The wire format. Every message is one or two ZeroMQ frames:
 *   frame 0: the header, a msgpack array (below), small and self-describing;
 *   frame 1: the payload bytes, raw, sent straight from the typed array's memory (zeromq.js sends
 *            buffers over 128 bytes without copying) and received as a Buffer over the ZeroMQ
 *            message (no copy over 32 bytes).
 * A header carries what a receiver needs to match the message (sender, seq, transfer, segment) and
 * what it needs to refuse it (op, dtype, total count, redop, root): a rank that called another
 * collective, another size or another dtype is caught by comparing, never by hanging.
 *
 * On the wire a header has one of two forms, told apart by its first byte:
 *  - fixed (the latency path): 48 bytes at fixed offsets, first byte 0xc1 (the one byte msgpack never
 *    uses, so no msgpack header starts with it). Data and p2p frames take it when every name they carry
 *    has a code in the tables below (op, redop, algorithm) and the payload is not a shared-memory
 *    reference: every frame of a small collective or a send/recv. Reading fixed offsets costs a few
 *    loads where msgpack walks an array and builds strings (bench/results/wire-header.md: ~0.2 us less
 *    per header on each side). Little-endian; seq and count as float64 (exact integers up to 2^53):
 *      0 u8 0xc1 | 1 u8 version | 2 u8 kind (0 data, 1 p2p) | 3 u8 dtype (0xff none, data only)
 *      4 u32 sender | 8 f64 seq | 16 f64 count | 24 u32 epoch | 28 u32 elements
 *      data: 32 i32 transfer | 36 u32 segment | 40 i32 root | 44 u8 op | 45 u8 redop | 46 u8 algorithm (0xff none) | 47 u8 0
 *      p2p:  32 i32 tag | 36 u32 segments | 40 u32 segment | 44-47 0
 *  - msgpack, every other header: a positional array, the protocol version first, then the kind, then
 *    the fields of that kind in a fixed order; no keys, so it is smaller and quicker to encode and
 *    decode than a map:
 *   data   [v, 0, sender, epoch, seq, op, transfer, segment, dtype, count, elements, redop, root, algorithm|nil (, shm)]
 *          shm = [region, size, offset, slot, dataStart]
 *   p2p    [v, 1, sender, epoch, seq, tag, dtype, count, segments, segment, elements]
 *   abort  [v, 2, sender, epoch, seq, op, code, message, culprit|nil]
 *   stuck  [v, 3, sender, epoch, seq, op, state (0 waiting, 1 finished)]
 *   bye    [v, 4, sender, epoch]
 *   mail   [v, 5, sender, epoch]
 *   dtype: 0 float32, 1 float64, 2 int32, nil none.
 * Both forms decode to the same Header and are validated alike: a data or p2p header the encoder could
 * write fixed is still accepted as msgpack (a forger may write either; the checks are the same).
 * Only this file knows the positions and offsets. Everyone else reads the decoded Header, a union by kind in
 * which a field exists only where it means something. Anything that does not decode to it is
 * dropped and counted by the receiver.
 */
import { Packr } from 'msgpackr';
import { BYTES_PER_ELEMENT, type DType } from '../dtype.js';

/** Shared-memory region names a header may carry: main regions `zcoll-<epoch>-<rank>`, registered buffers `...-<k>`. */
export const REGION_NAME = /^zcoll-\d+-\d+(-\d+)?$/;

/** 2: positional arrays with readable decoded names (1 was a map with one- and two-letter keys). */
export const PROTOCOL_VERSION = 2;
/** Upper bound on one frame's payload; a header claiming more is refused before anything is allocated. */
export const MAX_PAYLOAD_BYTES = 1 << 30;
/** Longest error message an abort may carry (a peer's abort is buffered until its collective starts). */
const MAX_MESSAGE_CHARS = 4096;
/** Largest header frame: room for every field and an abort's longest message. */
const MAX_HEADER_BYTES = 16 * 1024;

export type FrameKind =
  | 'data' // a segment of a collective
  | 'p2p' // a point-to-point send
  | 'abort' // a peer failed the collective `seq`; carries its error
  | 'stuck' // a peer's deadline for collective `seq` expired (it is alive and waiting), or its answer that it finished `seq`
  | 'bye' // a peer is closing cleanly (its later disconnect is not a failure)
  | 'mail'; // a doorbell: drain the shared-memory mailbox from this sender (shm-mailbox.ts)

/** What every header has: its kind, and who claims to send it to which communicator. */
interface Addressed<K extends FrameKind> {
  readonly kind: K;
  /** The sender's rank as it claims: only compared with the rank the transport proved (inbox.ts). */
  readonly sender: number;
  /** Communicator epoch: a new communicator over the same endpoints gets a new one. */
  readonly epoch: number;
}

/**
 * The op fields every rank of a collective must agree on; a data header carries them all, so a
 * receiver compares them with its own call.
 */
export interface OpFields {
  /** Collective name ('allreduce', 'broadcast', 'exchange', ...). */
  readonly op: string;
  /** Element type of the payload ('' when the collective carries none). */
  readonly dtype: DType | '';
  /** Element count every rank must pass (per rank for all-gather and gather). */
  readonly count: number;
  /** Reduction op, or '' (not a reduction). */
  readonly redop: string;
  /** Root rank of a rooted collective, -1 otherwise. */
  readonly root: number;
  /** The schedule's builder, when ranks could pick different ones ('auto' must agree everywhere). */
  readonly algorithm?: string;
}

/** Where a payload lies in its sender's shared memory (shm-region.ts, shm-arena.ts) instead of a frame. */
export interface ShmRef {
  /** The sender's region (`zcoll-<epoch>-<rank>`, or a registered buffer's `...-<k>`). */
  readonly region: string;
  /** Region size, so the receiver can map it. */
  readonly size: number;
  /** Byte offset of the payload in the region. */
  readonly offset: number;
  /** Index of the slot's state word. */
  readonly slot: number;
  /** Where the region's data area starts (its state words come before). */
  readonly dataStart: number;
}

/** Segment `segment` of transfer `transfer` of collective `seq`, with `elements` elements. */
export interface DataHeader extends Addressed<'data'>, OpFields {
  /** The n-th collective of this communicator. */
  readonly seq: number;
  /** Transfer id in the collective's schedule (negative: acknowledgements; the direct exchange: its sender's rank). */
  readonly transfer: number;
  /** Segment index within the transfer. */
  readonly segment: number;
  /** Elements in this frame's payload. */
  readonly elements: number;
  /** Present: the payload is in the sender's shared memory, and no payload frame follows. */
  readonly shm?: ShmRef;
}

/** Segment `segment` of `segments` of point-to-point message `seq` (per destination) on `tag`. */
export interface P2PHeader extends Addressed<'p2p'> {
  readonly seq: number;
  readonly tag: number;
  readonly dtype: DType;
  /** Elements of the whole message. */
  readonly count: number;
  readonly segments: number;
  readonly segment: number;
  /** Elements in this frame's payload. */
  readonly elements: number;
}

/** The sender failed collective `seq`: its error code and message, and whom the failure is about. */
export interface AbortHeader extends Addressed<'abort'> {
  readonly seq: number;
  readonly op: string;
  readonly code: string;
  readonly message: string;
  /** The rank the failure is about (died, stopped, disagreed), when not the sender itself. */
  readonly culprit?: number;
}

/** 'waiting': the sender's deadline for `seq` expired and it still waits; 'finished': it finished `seq`. */
export type StuckState = 'waiting' | 'finished';

export interface StuckHeader extends Addressed<'stuck'> {
  readonly seq: number;
  readonly op: string;
  readonly state: StuckState;
}

export type ByeHeader = Addressed<'bye'>;
export type MailHeader = Addressed<'mail'>;

export type Header = DataHeader | P2PHeader | AbortHeader | StuckHeader | ByeHeader | MailHeader;

// ------------------------------------------------------------------ builders

/** Segment `segment` of transfer `transfer` of collective `seq`, carrying `elements` elements. */
export function dataHeader(sender: number, epoch: number, seq: number, d: OpFields, transfer: number, segment: number, elements: number): DataHeader {
  const { op, dtype, count, redop, root, algorithm } = d;
  // Two literals, not a spread: one header per segment sent, and a spread costs several times more.
  return algorithm === undefined
    ? { kind: 'data', sender, epoch, seq, op, transfer, segment, dtype, count, elements, redop, root }
    : { kind: 'data', sender, epoch, seq, op, transfer, segment, dtype, count, elements, redop, root, algorithm };
}

/** The same data header, its payload now in shared memory at `shm`. */
export function withShm(h: DataHeader, shm: ShmRef): DataHeader {
  return { ...h, shm };
}

/** Segment `segment` of `segments` of point-to-point message `seq` to one peer on `tag`. */
export function p2pHeader(sender: number, epoch: number, seq: number, tag: number, dtype: DType, count: number, segments: number, segment: number, elements: number): P2PHeader {
  return { kind: 'p2p', sender, epoch, seq, tag, dtype, count, segments, segment, elements };
}

export function abortHeader(sender: number, epoch: number, seq: number, op: string, code: string, message: string, culprit?: number): AbortHeader {
  const base = { kind: 'abort', sender, epoch, seq, op, code, message } as const;
  return culprit === undefined ? base : { ...base, culprit };
}

export function stuckHeader(sender: number, epoch: number, seq: number, op: string, state: StuckState): StuckHeader {
  return { kind: 'stuck', sender, epoch, seq, op, state };
}

export function byeHeader(sender: number, epoch: number): ByeHeader {
  return { kind: 'bye', sender, epoch };
}

export function mailHeader(sender: number, epoch: number): MailHeader {
  return { kind: 'mail', sender, epoch };
}

// ------------------------------------------------------------------ encoding

const KIND_CODES: Readonly<Record<FrameKind, number>> = { data: 0, p2p: 1, abort: 2, stuck: 3, bye: 4, mail: 5 };
const DTYPE_CODES: Readonly<Record<DType, number>> = { float32: 0, float64: 1, int32: 2 };
const STATE_CODES: Readonly<Record<StuckState, number>> = { waiting: 0, finished: 1 };
/** Code -> name, the inverse of each table above. */
const byCode = <T extends string>(codes: Readonly<Record<T, number>>): readonly T[] => {
  const out: T[] = [];
  for (const name of Object.keys(codes) as T[]) out[codes[name]] = name;
  return out;
};
const KIND_OF = byCode(KIND_CODES);
const DTYPE_OF = byCode(DTYPE_CODES);
const STATE_OF = byCode(STATE_CODES);
/** Array lengths per kind (a data header with a shared-memory reference has one more). */
const LENGTHS: Readonly<Record<FrameKind, readonly number[]>> = { data: [14, 15], p2p: [11], abort: [9], stuck: [7], bye: [4], mail: [4] };

const packr = new Packr({ useRecords: false, moreTypes: false, bundleStrings: false });

/**
 * A header's fields in their positions. Names map to codes; a value that has none (only a forged
 * header has one, encodeForgedHeader) goes on the wire as it is, for the decoder to refuse.
 */
function positions(h: Header, version: unknown): unknown[] {
  const kind = KIND_CODES[h.kind] ?? h.kind;
  switch (h.kind) {
    case 'p2p':
      return [version, kind, h.sender, h.epoch, h.seq, h.tag, DTYPE_CODES[h.dtype] ?? h.dtype, h.count, h.segments, h.segment, h.elements];
    case 'abort':
      return [version, kind, h.sender, h.epoch, h.seq, h.op, h.code, h.message, h.culprit ?? null];
    case 'stuck':
      return [version, kind, h.sender, h.epoch, h.seq, h.op, STATE_CODES[h.state] ?? h.state];
    case 'bye':
    case 'mail':
      return [version, kind, h.sender, h.epoch];
    default: {
      // 'data', and a forged header of an unknown kind (laid out as data).
      const d = h as DataHeader;
      const a = [version, kind, d.sender, d.epoch, d.seq, d.op, d.transfer, d.segment, d.dtype === '' ? null : (DTYPE_CODES[d.dtype] ?? d.dtype), d.count, d.elements, d.redop, d.root, d.algorithm ?? null];
      const s = d.shm;
      if (s !== undefined) a.push(typeof s === 'object' && s !== null ? [s.region, s.size, s.offset, s.slot, s.dataStart] : s);
      return a;
    }
  }
}

export function encodeHeader(h: Header): Buffer {
  const fixed = fixedFormOf(h);
  if (fixed !== undefined) {
    const b = Buffer.allocUnsafe(FIXED_HEADER_BYTES);
    writeFixed(h as DataHeader | P2PHeader, fixed, writeViews.of(b), b.byteOffset);
    return b;
  }
  return packr.pack(positions(h, PROTOCOL_VERSION));
}

/**
 * The header encoded for a sender that copies it at once (a shared-memory mailbox): a fixed header is
 * written into one scratch buffer of this module, valid until the next call, instead of a fresh
 * Buffer per frame (issue 17: a 48-byte pool slice and its Buffer object per small send). Any other
 * header is a fresh Buffer as from encodeHeader. Whoever keeps the result copies it first.
 */
export function encodeHeaderTransient(h: Header): Uint8Array {
  const fixed = fixedFormOf(h);
  if (fixed === undefined) return packr.pack(positions(h, PROTOCOL_VERSION));
  writeFixed(h as DataHeader | P2PHeader, fixed, SCRATCH_VIEW, 0);
  return SCRATCH;
}

// ------------------------------------------------------------------ the fixed form

/** First byte of a fixed header: msgpack's one unused byte ("never used"), so neither form reads as the other. */
export const FIXED_MAGIC = 0xc1;
export const FIXED_HEADER_BYTES = 48;
/** encodeHeaderTransient's one buffer (a fixed header), and its view. */
const SCRATCH = new Uint8Array(FIXED_HEADER_BYTES);
const SCRATCH_VIEW = new DataView(SCRATCH.buffer);
/** Byte offsets of the fixed form (see the file comment); exported for the tests that forge it. */
export const FIXED = {
  magic: 0,
  version: 1,
  kind: 2,
  dtype: 3,
  sender: 4,
  seq: 8,
  count: 16,
  epoch: 24,
  elements: 28,
  transfer: 32,
  tag: 32,
  segment: 36,
  segments: 36,
  p2pSegment: 40,
  root: 40,
  op: 44,
  redop: 45,
  algorithm: 46,
  reserved: 47,
} as const;
const NO_CODE = 0xff;
/**
 * Names with a one-byte code in the fixed form. A name missing here is not an error: its header goes
 * as msgpack. Codes are positions, so a list only ever grows at its end (both sides run one version).
 */
const FIXED_OPS = ['allreduce', 'reducescatter', 'allgather', 'broadcast', 'barrier', 'gather', 'exchange', 'init'] as const;
const FIXED_REDOPS = ['', 'sum', 'avg', 'min', 'max', 'prod'] as const;
const FIXED_ALGORITHMS = ['ring', 'multitree', 'tree', 'recursive-doubling', 'hierarchical', 'binomial', 'chain', 'flat'] as const;
const codesOf = (names: readonly string[]): ReadonlyMap<string, number> => new Map(names.map((n, i) => [n, i]));
const OP_CODES = codesOf(FIXED_OPS);
const REDOP_CODES = codesOf(FIXED_REDOPS);
const ALGORITHM_CODES = codesOf(FIXED_ALGORITHMS);

/**
 * Whether the fields a fixed header keeps in 32 bits fit there. Headers this rank builds always do; one
 * that does not (a test's out-of-range epoch) goes as msgpack, for the decoder to refuse by name.
 */
function fitsFixed(sender: number, epoch: number, elements: number, segment: number): boolean {
  return isInt(sender, 0, 0xffffffff) && isInt(epoch, 0, 0xffffffff) && isInt(elements, 0, 0xffffffff) && isInt(segment, 0, 0xffffffff);
}

/**
 * Whether `h` has a fixed form: its kind ('data' or 'p2p'), and for data its op, redop and algorithm
 * codes packed in one number (op | redop << 8 | algorithm << 16); undefined when a name has no code or
 * a value does not fit its field (that header goes as msgpack).
 */
function fixedFormOf(h: Header): number | undefined {
  if (h.kind === 'data') {
    if (h.shm !== undefined || !fitsFixed(h.sender, h.epoch, h.elements, h.segment) || !isInt(h.transfer, INT32_MIN, INT32_MAX) || !isInt(h.root, -1, INT32_MAX)) return undefined;
    const op = OP_CODES.get(h.op);
    const redop = REDOP_CODES.get(h.redop);
    const algorithm = h.algorithm === undefined ? NO_CODE : ALGORITHM_CODES.get(h.algorithm);
    if (op === undefined || redop === undefined || algorithm === undefined) return undefined;
    return op | (redop << 8) | (algorithm << 16);
  }
  if (h.kind === 'p2p' && fitsFixed(h.sender, h.epoch, h.elements, h.segment) && isInt(h.segments, 0, 0xffffffff) && isInt(h.tag, INT32_MIN, INT32_MAX)) return 0;
  return undefined;
}

/**
 * One DataView per ArrayBuffer written or read, kept while the next header lies in the same one (Node's
 * buffer pool hands out ~170 headers from one 8 KiB slab; a peer's mailbox region is one buffer): a
 * DataView's little-endian stores and loads are what Buffer's writeXxxLE/readXxxLE cost several times.
 */
class ViewCache {
  private buffer: ArrayBufferLike | undefined;
  private view: DataView | undefined;
  of(b: Uint8Array): DataView {
    if (b.buffer !== this.buffer || this.view === undefined) {
      this.buffer = b.buffer;
      this.view = new DataView(b.buffer);
    }
    return this.view;
  }
}
/** Two caches: headers encoded (the pool's slabs) and headers decoded (peers' regions, ZeroMQ messages) alternate. */
const writeViews = new ViewCache();
const readViews = new ViewCache();

/** Writes the fixed form of `h` (codes from fixedFormOf) into `v` at byte `o`. */
function writeFixed(h: DataHeader | P2PHeader, codes: number, v: DataView, o: number): void {
  v.setUint8(o + FIXED.magic, FIXED_MAGIC);
  v.setUint8(o + FIXED.version, PROTOCOL_VERSION);
  v.setUint32(o + FIXED.sender, h.sender, true);
  v.setFloat64(o + FIXED.seq, h.seq, true);
  v.setFloat64(o + FIXED.count, h.count, true);
  v.setUint32(o + FIXED.epoch, h.epoch, true);
  v.setUint32(o + FIXED.elements, h.elements, true);
  if (h.kind === 'data') {
    v.setUint8(o + FIXED.kind, 0);
    v.setUint8(o + FIXED.dtype, h.dtype === '' ? NO_CODE : DTYPE_CODES[h.dtype]);
    v.setInt32(o + FIXED.transfer, h.transfer, true);
    v.setUint32(o + FIXED.segment, h.segment, true);
    v.setInt32(o + FIXED.root, h.root, true);
    v.setUint8(o + FIXED.op, codes & 0xff);
    v.setUint8(o + FIXED.redop, (codes >> 8) & 0xff);
    v.setUint8(o + FIXED.algorithm, (codes >> 16) & 0xff);
    v.setUint8(o + FIXED.reserved, 0);
  } else {
    v.setUint8(o + FIXED.kind, 1);
    v.setUint8(o + FIXED.dtype, DTYPE_CODES[h.dtype]);
    v.setInt32(o + FIXED.tag, h.tag, true);
    v.setUint32(o + FIXED.segments, h.segments, true);
    v.setUint32(o + FIXED.p2pSegment, h.segment, true);
    v.setUint32(o + FIXED.op, 0, true);
  }
}

/** Every field of every kind, by its readable name. */
type KeysOfUnion<T> = T extends unknown ? keyof T : never;
/**
 * A header as a forger writes it (tests, the fuzzer, a Byzantine rank): any value under any
 * readable name, and any version. Laid out exactly as encodeHeader lays out a real one.
 */
export type ForgedHeader = { readonly [F in KeysOfUnion<Header>]?: unknown } & { readonly version?: unknown };

export function encodeForgedHeader(h: ForgedHeader): Buffer {
  const version = 'version' in h ? h.version : PROTOCOL_VERSION;
  return packr.pack(positions(h as unknown as Header, version));
}

// ------------------------------------------------------------------ decoding

export type DecodeResult = { ok: true; header: Header; payload: Buffer | undefined } | { ok: false; reason: string };

const isInt = (x: unknown, lo: number, hi: number): x is number => typeof x === 'number' && Number.isInteger(x) && x >= lo && x <= hi;
const isName = (x: unknown, max: number): x is string => typeof x === 'string' && x.length <= max;
const refuse = (reason: string): DecodeResult => ({ ok: false, reason });
const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;
const isSeq = (x: unknown): x is number => isInt(x, 0, Number.MAX_SAFE_INTEGER);

/**
 * Decodes and validates a received message. `nranks` bounds every rank it names. Never throws:
 * returns the reason a message is refused, for the log and the counters.
 */
export function decodeMessage(frames: readonly Buffer[], nranks: number): DecodeResult {
  if (frames.length < 1 || frames.length > 2) return refuse(`expected 1 or 2 frames, got ${frames.length}`);
  // Refused before unpacking: a header is a few dozen bytes (an abort's message at most 4 KiB), and
  // unpacking a huge one would allocate its strings for nothing.
  if (frames[0].byteLength > MAX_HEADER_BYTES) return refuse(`header of ${frames[0].byteLength} bytes, more than ${MAX_HEADER_BYTES}`);
  if (frames[0].byteLength > 0 && frames[0][0] === FIXED_MAGIC) return decodeFixed(frames[0], nranks, frames.length === 2 ? frames[1] : undefined);
  let a: unknown;
  try {
    a = packr.unpack(frames[0]);
  } catch {
    return refuse('header is not msgpack');
  }
  if (!Array.isArray(a)) return refuse(typeof a === 'object' && a !== null ? `header is a map, not the array of protocol version ${PROTOCOL_VERSION}` : 'header is not an array');
  if (a[0] !== PROTOCOL_VERSION) return refuse(`protocol version ${String(a[0])}, expected ${PROTOCOL_VERSION}`);
  const kind = typeof a[1] === 'number' ? KIND_OF[a[1]] : undefined;
  if (kind === undefined) return refuse(`unknown kind ${String(a[1])}`);
  if (!LENGTHS[kind].includes(a.length)) return refuse(`a '${kind}' header has ${LENGTHS[kind].join(' or ')} fields, this one ${a.length}`);
  const [, , sender, epoch] = a as unknown[];
  if (!isInt(sender, 0, nranks - 1)) return refuse(`sender ${String(sender)} is not a rank of this world of ${nranks}`);
  if (!isInt(epoch, 0, 0xffffffff)) return refuse('bad epoch');
  const payload = frames.length === 2 ? frames[1] : undefined;
  switch (kind) {
    case 'data':
      return decodeData(a, sender, epoch, nranks, payload);
    case 'p2p':
      return decodeP2P(a, sender, epoch, payload);
    default:
      if (payload !== undefined) return refuse(`a '${kind}' frame carries no payload, this one has ${payload.byteLength} bytes`);
      return decodeControl(kind, a, sender, epoch, nranks);
  }
}

function decodeData(a: readonly unknown[], sender: number, epoch: number, nranks: number, payload: Buffer | undefined): DecodeResult {
  const [, , , , seq, op, transfer, segment, dtypeCode, count, elements, redop, root, algorithm, shm] = a;
  if (!isSeq(seq)) return refuse('bad sequence number');
  if (!isName(op, 64) || !isName(redop, 16)) return refuse('bad op or redop');
  if (!isInt(transfer, INT32_MIN, INT32_MAX) || !isInt(segment, 0, INT32_MAX)) return refuse('bad transfer or segment index');
  const dtype = dtypeCode === null ? '' : typeof dtypeCode === 'number' ? DTYPE_OF[dtypeCode] : undefined;
  if (dtype === undefined) return refuse(`unknown dtype ${String(dtypeCode)}`);
  if (!isInt(count, 0, Number.MAX_SAFE_INTEGER) || !isInt(elements, 0, MAX_PAYLOAD_BYTES)) return refuse('bad element counts');
  if (!isInt(root, -1, nranks - 1)) return refuse('bad root');
  if (algorithm !== null && !isName(algorithm, 32)) return refuse('bad algorithm name');
  const header: DataHeader =
    algorithm === null
      ? { kind: 'data', sender, epoch, seq, op, transfer, segment, dtype, count, elements, redop, root }
      : { kind: 'data', sender, epoch, seq, op, transfer, segment, dtype, count, elements, redop, root, algorithm };
  const bytes = dtype === '' ? 0 : elements * BYTES_PER_ELEMENT[dtype];
  if (a.length === 14) return withPayload(header, bytes, payload);
  const ref = decodeShmRef(shm, bytes, payload);
  return typeof ref === 'string' ? refuse(ref) : { ok: true, header: withShm(header, ref), payload: undefined };
}

/** A shared-memory reference for `bytes` bytes, or why it is refused. */
function decodeShmRef(s: unknown, bytes: number, payload: Buffer | undefined): ShmRef | string {
  if (!Array.isArray(s) || s.length !== 5) return 'bad shared-memory slot reference';
  const [region, size, offset, slot, dataStart] = s as unknown[];
  if (typeof region !== 'string' || !REGION_NAME.test(region)) return 'bad shared-memory region name';
  if (!isInt(size, 1, Number.MAX_SAFE_INTEGER) || !isInt(offset, 0, Number.MAX_SAFE_INTEGER) || !isInt(slot, 0, INT32_MAX) || !isInt(dataStart, 0, Number.MAX_SAFE_INTEGER)) {
    return 'bad shared-memory slot reference';
  }
  if (payload !== undefined || offset + bytes > size || offset < dataStart) return 'shared-memory slot reference does not fit its region';
  return { region, size, offset, slot, dataStart };
}

function decodeP2P(a: readonly unknown[], sender: number, epoch: number, payload: Buffer | undefined): DecodeResult {
  const [, , , , seq, tag, dtypeCode, count, segments, segment, elements] = a;
  if (!isSeq(seq)) return refuse('bad sequence number');
  if (!isInt(tag, INT32_MIN, INT32_MAX)) return refuse('bad tag');
  const dtype = typeof dtypeCode === 'number' ? DTYPE_OF[dtypeCode] : undefined;
  if (dtype === undefined) return refuse(`unknown dtype ${String(dtypeCode)}`);
  if (!isInt(count, 0, Number.MAX_SAFE_INTEGER) || !isInt(elements, 0, Math.min(count, MAX_PAYLOAD_BYTES))) return refuse('bad element counts');
  if (!isInt(segments, 1, INT32_MAX) || !isInt(segment, 0, segments - 1)) return refuse('bad segment index or count');
  return withPayload({ kind: 'p2p', sender, epoch, seq, tag, dtype, count, segments, segment, elements }, elements * BYTES_PER_ELEMENT[dtype], payload);
}

function decodeControl(kind: 'abort' | 'stuck' | 'bye' | 'mail', a: readonly unknown[], sender: number, epoch: number, nranks: number): DecodeResult {
  if (kind === 'bye' || kind === 'mail') return { ok: true, header: { kind, sender, epoch }, payload: undefined };
  const [, , , , seq, op, x, y, z] = a;
  if (!isSeq(seq)) return refuse('bad sequence number');
  if (!isName(op, 64)) return refuse('bad op');
  if (kind === 'stuck') {
    const state = typeof x === 'number' ? STATE_OF[x] : undefined;
    if (state === undefined) return refuse(`a stuck notice in unknown state ${String(x)}`);
    return { ok: true, header: { kind, sender, epoch, seq, op, state }, payload: undefined };
  }
  if (!isName(x, 16) || !isName(y, MAX_MESSAGE_CHARS)) return refuse('abort without code and message, or with a message over 4 KiB');
  let culprit: number | undefined;
  if (z !== null) {
    if (!isInt(z, 0, nranks - 1)) return refuse('abort naming a rank outside this world');
    culprit = z;
  }
  return { ok: true, header: abortHeader(sender, epoch, seq, op, x, y, culprit), payload: undefined };
}

/**
 * A fixed header (see the file comment): every field read at its offset and held to the same bounds as
 * its msgpack twin, plus what only this form can get wrong (its length, a reserved byte, a name code
 * with no name).
 */
function decodeFixed(b: Buffer, nranks: number, payload: Buffer | undefined): DecodeResult {
  if (b.byteLength !== FIXED_HEADER_BYTES) return refuse(`a fixed header has ${FIXED_HEADER_BYTES} bytes, this one ${b.byteLength}`);
  const v = readViews.of(b);
  const o = b.byteOffset;
  if (b[FIXED.version] !== PROTOCOL_VERSION) return refuse(`protocol version ${b[FIXED.version]}, expected ${PROTOCOL_VERSION}`);
  const kindCode = b[FIXED.kind];
  if (kindCode > 1) return refuse(`unknown kind ${kindCode} in a fixed header (only data and p2p frames have one)`);
  const sender = v.getUint32(o + FIXED.sender, true);
  if (sender >= nranks) return refuse(`sender ${sender} is not a rank of this world of ${nranks}`);
  const epoch = v.getUint32(o + FIXED.epoch, true);
  const seq = v.getFloat64(o + FIXED.seq, true);
  if (!isSeq(seq)) return refuse('bad sequence number');
  const count = v.getFloat64(o + FIXED.count, true);
  const elements = v.getUint32(o + FIXED.elements, true);
  const dtypeCode = b[FIXED.dtype];
  if (kindCode === 1) {
    const dtype = DTYPE_OF[dtypeCode];
    if (dtype === undefined) return refuse(`unknown dtype ${dtypeCode}`);
    if (!isInt(count, 0, Number.MAX_SAFE_INTEGER) || elements > Math.min(count, MAX_PAYLOAD_BYTES)) return refuse('bad element counts');
    const tag = v.getInt32(o + FIXED.tag, true);
    const segments = v.getUint32(o + FIXED.segments, true);
    const segment = v.getUint32(o + FIXED.p2pSegment, true);
    if (segments < 1 || segments > INT32_MAX || segment >= segments) return refuse('bad segment index or count');
    if (v.getUint32(o + FIXED.op, true) !== 0) return refuse('reserved bytes of a fixed p2p header are not zero');
    return withPayload({ kind: 'p2p', sender, epoch, seq, tag, dtype, count, segments, segment, elements }, elements * BYTES_PER_ELEMENT[dtype], payload);
  }
  const dtype = dtypeCode === NO_CODE ? '' : DTYPE_OF[dtypeCode];
  if (dtype === undefined) return refuse(`unknown dtype ${dtypeCode}`);
  if (!isInt(count, 0, Number.MAX_SAFE_INTEGER) || elements > MAX_PAYLOAD_BYTES) return refuse('bad element counts');
  const transfer = v.getInt32(o + FIXED.transfer, true);
  const segment = v.getUint32(o + FIXED.segment, true);
  if (segment > INT32_MAX) return refuse('bad transfer or segment index');
  const root = v.getInt32(o + FIXED.root, true);
  if (root < -1 || root >= nranks) return refuse('bad root');
  const op = FIXED_OPS[b[FIXED.op]];
  const redop = FIXED_REDOPS[b[FIXED.redop]];
  if (op === undefined || redop === undefined) return refuse(`unknown op or redop code ${b[FIXED.op]}/${b[FIXED.redop]}`);
  const algorithmCode = b[FIXED.algorithm];
  const algorithm = algorithmCode === NO_CODE ? undefined : FIXED_ALGORITHMS[algorithmCode];
  if (algorithmCode !== NO_CODE && algorithm === undefined) return refuse(`unknown algorithm code ${algorithmCode}`);
  if (b[FIXED.reserved] !== 0) return refuse('the reserved byte of a fixed data header is not zero');
  const header: DataHeader =
    algorithm === undefined
      ? { kind: 'data', sender, epoch, seq, op, transfer, segment, dtype, count, elements, redop, root }
      : { kind: 'data', sender, epoch, seq, op, transfer, segment, dtype, count, elements, redop, root, algorithm };
  return withPayload(header, dtype === '' ? 0 : elements * BYTES_PER_ELEMENT[dtype], payload);
}

function withPayload(header: DataHeader | P2PHeader, bytes: number, payload: Buffer | undefined): DecodeResult {
  const got = payload?.byteLength ?? 0;
  if (got !== bytes) return refuse(`payload of ${got} bytes, header says ${header.elements} x ${header.dtype || 'none'} = ${bytes}`);
  return { ok: true, header, payload };
}

/**
 * The first message on every link: the sender's rank and its proof (transport/link-auth.ts) that it
 * holds the key it shares with the receiver. A fixed 44-byte frame, not msgpack ('ZH', version 1):
 * a header decoder reads its first byte as a number, never as an array, so the two cannot be confused.
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

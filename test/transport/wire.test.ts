// The wire header on its own: every kind survives encode -> decode as the same readable header (and
// nothing else); the encoded form is the fixed 48-byte layout for data and p2p frames whose names have
// codes, else a positional msgpack array of this protocol version (and both forms decode alike); a
// malformed fixed header is refused with a reason, never a throw; the map of
// protocol version 1 and arrays of the wrong length are refused with a reason; a field exists only
// under the kind it means something for (checked by the compiler below, and by the decoder, which
// refuses e.g. a stuck notice in a state that does not exist). And the micro-benchmark that measures
// this code runs and checks itself.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Packr } from 'msgpackr';
import {
  abortHeader,
  byeHeader,
  dataHeader,
  decodeMessage,
  encodeForgedHeader,
  encodeHeader,
  FIXED,
  FIXED_HEADER_BYTES,
  FIXED_MAGIC,
  mailHeader,
  p2pHeader,
  PROTOCOL_VERSION,
  stuckHeader,
  withShm,
  type ForgedHeader,
  type Header,
} from '../../lib/transport/wire.js';

const RANKS = 4;
const raw = new Packr({ useRecords: false });
const allreduce = { op: 'allreduce', dtype: 'float32', count: 1000, redop: 'sum', root: -1 } as const;
const payloadOf = (bytes: number): Buffer | undefined => (bytes === 0 ? undefined : Buffer.alloc(bytes, 7));

/** One header of every kind (and the variants of data and abort), with the payload bytes it needs. */
const SAMPLES: Array<{ what: string; header: Header; bytes: number }> = [
  { what: 'data', header: dataHeader(1, 77, 5, allreduce, 3, 2, 250), bytes: 1000 },
  { what: 'data with an algorithm and a root', header: dataHeader(3, 77, 6, { op: 'broadcast', dtype: 'int32', count: 9, redop: '', root: 2, algorithm: 'chain' }, 0, 0, 9), bytes: 36 },
  { what: 'data acknowledgement (no payload, no dtype)', header: dataHeader(0, 77, 7, { op: 'barrier', dtype: '', count: 0, redop: '', root: -1 }, -2, 0, 0), bytes: 0 },
  { what: 'data in shared memory', header: withShm(dataHeader(2, 77, 8, { ...allreduce, dtype: 'float64' }, 1, 0, 100), { region: 'zcoll-77-2', size: 1 << 20, offset: 4096, slot: 3, dataStart: 1024 }), bytes: 0 },
  { what: 'data in a registered buffer', header: withShm(dataHeader(2, 77, 8, allreduce, 1, 0, 100), { region: 'zcoll-77-2-4', size: 1 << 20, offset: 0, slot: 0, dataStart: 0 }), bytes: 0 },
  { what: 'p2p', header: p2pHeader(1, 77, 12, -5, 'float64', 3000, 3, 2, 1000), bytes: 8000 },
  { what: 'p2p of an empty message', header: p2pHeader(1, 77, 13, 0, 'int32', 0, 1, 0, 0), bytes: 0 },
  { what: 'abort naming a culprit', header: abortHeader(2, 77, 9, 'allreduce', 'ETIMEDOUT', 'no message from rank 3 within 100 ms', 3), bytes: 0 },
  { what: 'abort without a culprit', header: abortHeader(2, 77, 9, 'allreduce', 'EMISMATCH', 'x'.repeat(4096)), bytes: 0 },
  { what: 'stuck, waiting', header: stuckHeader(0, 77, 10, 'gather', 'waiting'), bytes: 0 },
  { what: 'stuck, finished', header: stuckHeader(0, 77, 10, 'gather', 'finished'), bytes: 0 },
  { what: 'bye', header: byeHeader(3, 77), bytes: 0 },
  { what: 'mail', header: mailHeader(3, 77), bytes: 0 },
];

t.test('every kind: encode -> decode gives the same readable header, and nothing more', async (t) => {
  for (const s of SAMPLES) {
    const payload = payloadOf(s.bytes);
    const r = decodeMessage(payload === undefined ? [encodeHeader(s.header)] : [encodeHeader(s.header), payload], RANKS);
    if (!r.ok) {
      t.fail(`${s.what}: refused: ${r.reason}`);
      continue;
    }
    t.strictSame(r.header, s.header, `${s.what}: the same header`);
    t.equal(r.payload, payload, `${s.what}: its payload frame`);
  }
});

/** Data and p2p frames the encoder writes in the fixed form: no shared-memory reference, names with codes. */
const isFixed = (h: Header): boolean => h.kind === 'p2p' || (h.kind === 'data' && h.shm === undefined);

t.test('on the wire: data and p2p frames fixed, 48 bytes; the rest a positional array, version first, then the kind; smaller than the map of version 1', async (t) => {
  t.not(PROTOCOL_VERSION, 1, 'the version moved on from the map format');
  for (const s of SAMPLES) {
    const head = encodeHeader(s.header);
    if (isFixed(s.header)) {
      t.equal(head.byteLength, FIXED_HEADER_BYTES, `${s.what}: fixed, ${FIXED_HEADER_BYTES} bytes`);
      t.equal(head[0], FIXED_MAGIC, `${s.what}: msgpack's unused byte first`);
      t.equal(head[1], PROTOCOL_VERSION, `${s.what}: then the version`);
      t.throws(() => raw.unpack(head), `${s.what}: no msgpack decoder reads it`);
      continue;
    }
    const a: unknown = raw.unpack(head);
    t.ok(Array.isArray(a), `${s.what}: an array`);
    t.equal((a as unknown[])[0], PROTOCOL_VERSION, `${s.what}: the version first`);
  }
  // The data header of a 4 KiB all-reduce segment, as protocol version 1 wrote it.
  const v1 = raw.pack({ v: 1, k: 'data', src: 1, ep: 77, seq: 5, op: 'allreduce', x: 3, s: 2, dt: 'float32', n: 1000, c: 250, ro: 'sum', root: -1, tag: 0 });
  const v2 = encodeHeader(SAMPLES[0].header);
  t.ok(v2.byteLength < v1.byteLength * 0.7, `${v2.byteLength} bytes, version 1 took ${v1.byteLength}`);
});

t.test('the map of protocol version 1 and arrays of the wrong length are refused, with a reason', async (t) => {
  const v1 = raw.pack({ v: 1, k: 'data', src: 1, ep: 77, seq: 5, op: 'allreduce', x: 3, s: 2, dt: 'float32', n: 1000, c: 250, ro: 'sum', root: -1, tag: 0 });
  const old = decodeMessage([v1, Buffer.alloc(1000)], RANKS);
  t.equal(old.ok, false, 'a version 1 map is refused');
  t.match(!old.ok && old.reason, /map, not the array of protocol version 2/, 'saying it is a map of the old format');
  for (const s of SAMPLES) {
    // The msgpack form of every kind (data and p2p as a forger, or an older encoder, writes them).
    const a = raw.unpack(encodeForgedHeader(s.header as ForgedHeader)) as unknown[];
    const payload = payloadOf(s.bytes);
    const frames = (head: Buffer): Buffer[] => (payload === undefined ? [head] : [head, payload]);
    for (const [how, arr] of [
      ['one field short', a.slice(0, -1)],
      ['one field too many', [...a, 0]],
      ['two fields too many', [...a, 0, 0]],
    ] as const) {
      // A data header has an optional last field (its shared-memory reference): one short or one
      // more may be the other valid length, and is then refused for what that field holds.
      const r = decodeMessage(frames(raw.pack(arr)), RANKS);
      t.equal(r.ok, false, `${s.what}, ${how}: refused`);
      if (s.header.kind !== 'data' || how === 'two fields too many') t.match(!r.ok && r.reason, new RegExp(`'${s.header.kind}' header has [0-9 or]+ fields, this one ${arr.length}`), `${s.what}, ${how}: ${!r.ok && r.reason}`);
    }
  }
  const kindOnly = decodeMessage([raw.pack([PROTOCOL_VERSION, 4])], RANKS);
  t.match(!kindOnly.ok && kindOnly.reason, /'bye' header has 4 fields, this one 2/, 'a bare kind is refused');
  t.match((decodeMessage([raw.pack([PROTOCOL_VERSION, 9, 1, 77])], RANKS) as { reason: string }).reason, /unknown kind 9/, 'an unknown kind code is refused');
  t.match((decodeMessage([raw.pack([])], RANKS) as { reason: string }).reason, /protocol version undefined/, 'an empty array is refused');
});

t.test('a field exists only under the kind it means something for', async (t) => {
  // Compile-time: each line below would compile if the field existed on that kind (then the
  // directive itself is an error, and this file does not build).
  const readAll = (h: Header): unknown[] => {
    const out: unknown[] = [];
    // @ts-expect-error no field but the common ones is readable before the kind is known
    out.push(h.transfer);
    if (h.kind === 'stuck') {
      // @ts-expect-error a stuck notice has a state, not a transfer id
      out.push(h.transfer);
      out.push(h.state);
    }
    if (h.kind === 'p2p') {
      // @ts-expect-error a p2p message has a count of segments, not a transfer id
      out.push(h.transfer);
      out.push(h.segments);
    }
    if (h.kind === 'data') {
      // @ts-expect-error the segment count is p2p's only
      out.push(h.segments);
      // @ts-expect-error the stuck state is a stuck notice's only
      out.push(h.state);
      out.push(h.transfer, h.shm?.slot);
    }
    if (h.kind === 'abort') {
      // @ts-expect-error an abort has no dtype
      out.push(h.dtype);
      out.push(h.code, h.message, h.culprit);
    }
    if (h.kind === 'bye' || h.kind === 'mail') {
      // @ts-expect-error nor a sequence number
      out.push(h.seq);
    }
    return out;
  };
  t.ok(readAll(SAMPLES[0].header).length > 0);
  // Run time: the decoded objects carry their kind's fields only.
  const decoded = SAMPLES.map((s) => decodeMessage([encodeHeader(s.header), ...(s.bytes > 0 ? [Buffer.alloc(s.bytes)] : [])], RANKS));
  const keysOf = (kind: string): string[] => [...new Set(decoded.flatMap((r) => (r.ok && r.header.kind === kind ? Object.keys(r.header) : [])))].sort();
  t.same(keysOf('stuck'), ['epoch', 'kind', 'op', 'sender', 'seq', 'state']);
  t.same(keysOf('bye'), ['epoch', 'kind', 'sender']);
  t.same(keysOf('p2p'), ['count', 'dtype', 'elements', 'epoch', 'kind', 'segment', 'segments', 'sender', 'seq', 'tag']);
  t.same(keysOf('abort'), ['code', 'culprit', 'epoch', 'kind', 'message', 'op', 'sender', 'seq']);
});

t.test('data and p2p headers written as msgpack decode as their fixed twins', async (t) => {
  for (const s of SAMPLES.filter((x) => isFixed(x.header))) {
    const payload = payloadOf(s.bytes);
    const frames = (head: Buffer): Buffer[] => (payload === undefined ? [head] : [head, payload]);
    const fixed = decodeMessage(frames(encodeHeader(s.header)), RANKS);
    const packed = decodeMessage(frames(encodeForgedHeader(s.header as ForgedHeader)), RANKS);
    t.ok(fixed.ok && packed.ok, `${s.what}: both forms accepted`);
    t.strictSame(packed.ok && packed.header, fixed.ok && fixed.header, `${s.what}: the same header`);
  }
});

t.test('a name without a code, or a field that does not fit 32 bits, goes as msgpack', async (t) => {
  const cases: Array<{ what: string; header: Header; bytes: number; refused?: RegExp }> = [
    { what: 'an op without a code', header: dataHeader(1, 77, 5, { ...allreduce, op: 'alltoall' }, 3, 0, 250), bytes: 1000 },
    { what: 'an algorithm without a code', header: dataHeader(1, 77, 5, { ...allreduce, algorithm: 'bruck' }, 3, 0, 250), bytes: 1000 },
    { what: 'a redop without a code', header: dataHeader(1, 77, 5, { ...allreduce, redop: 'vote' }, 3, 0, 250), bytes: 1000 },
    { what: 'a data epoch over 32 bits', header: dataHeader(1, 2 ** 32, 5, allreduce, 3, 0, 250), bytes: 1000, refused: /bad epoch/ },
    { what: 'a p2p epoch over 32 bits', header: p2pHeader(1, 2 ** 32, 5, 0, 'float32', 250, 1, 0, 250), bytes: 1000, refused: /bad epoch/ },
  ];
  for (const c of cases) {
    const head = encodeHeader(c.header);
    t.not(head[0], FIXED_MAGIC, `${c.what}: not the fixed form`);
    t.ok(Array.isArray(raw.unpack(head)), `${c.what}: a msgpack array`);
    const r = decodeMessage([head, Buffer.alloc(c.bytes)], RANKS);
    if (c.refused !== undefined) t.match(!r.ok && r.reason, c.refused, `${c.what}: refused by name`);
    else t.strictSame(r.ok && r.header, c.header, `${c.what}: decodes to the same header`);
  }
});

/** A fixed header with some bytes changed: `edit` writes into a copy of `h`'s encoding. */
function forgeFixed(h: Header, edit: (b: Buffer) => void): Buffer {
  const b = Buffer.from(encodeHeader(h));
  edit(b);
  return b;
}

t.test('a malformed fixed header is refused with a reason', async (t) => {
  const data = dataHeader(1, 77, 5, { ...allreduce, algorithm: 'ring' }, 3, 2, 250);
  const p2p = p2pHeader(1, 77, 12, 0, 'float32', 8, 2, 1, 4);
  const d = (edit: (b: Buffer) => void): Buffer[] => [forgeFixed(data, edit), Buffer.alloc(1000)];
  const p = (edit: (b: Buffer) => void): Buffer[] => [forgeFixed(p2p, edit), Buffer.alloc(16)];
  const refusals: Array<{ what: string; frames: Buffer[]; reason: RegExp }> = [
    { what: 'one byte short', frames: [encodeHeader(data).subarray(0, FIXED_HEADER_BYTES - 1), Buffer.alloc(1000)], reason: /a fixed header has 48 bytes, this one 47/ },
    { what: 'one byte too many', frames: [Buffer.concat([encodeHeader(data), Buffer.alloc(1)]), Buffer.alloc(1000)], reason: /a fixed header has 48 bytes, this one 49/ },
    { what: 'the magic byte alone', frames: [Buffer.of(FIXED_MAGIC)], reason: /a fixed header has 48 bytes, this one 1/ },
    { what: 'another version', frames: d((b) => (b[FIXED.version] = 1)), reason: /protocol version 1, expected 2/ },
    { what: 'an abort kind (never fixed)', frames: d((b) => (b[FIXED.kind] = 2)), reason: /unknown kind 2 in a fixed header/ },
    { what: 'a sender outside the world', frames: d((b) => b.writeUInt32LE(RANKS, FIXED.sender)), reason: /sender 4 is not a rank of this world of 4/ },
    { what: 'a negative sequence number', frames: d((b) => b.writeDoubleLE(-1, FIXED.seq)), reason: /bad sequence number/ },
    { what: 'a fractional sequence number', frames: d((b) => b.writeDoubleLE(1.5, FIXED.seq)), reason: /bad sequence number/ },
    { what: 'a NaN sequence number', frames: d((b) => b.writeDoubleLE(NaN, FIXED.seq)), reason: /bad sequence number/ },
    { what: 'a sequence number past 2^53', frames: d((b) => b.writeDoubleLE(2 ** 60, FIXED.seq)), reason: /bad sequence number/ },
    { what: 'a NaN count', frames: d((b) => b.writeDoubleLE(NaN, FIXED.count)), reason: /bad element counts/ },
    { what: 'a negative count', frames: d((b) => b.writeDoubleLE(-4, FIXED.count)), reason: /bad element counts/ },
    { what: 'more elements than a frame may carry', frames: d((b) => b.writeUInt32LE(2 ** 31, FIXED.elements)), reason: /bad element counts/ },
    { what: 'an unknown dtype', frames: d((b) => (b[FIXED.dtype] = 7)), reason: /unknown dtype 7/ },
    { what: 'a segment index past int32', frames: d((b) => b.writeUInt32LE(2 ** 31, FIXED.segment)), reason: /bad transfer or segment index/ },
    { what: 'a root outside the world', frames: d((b) => b.writeInt32LE(RANKS, FIXED.root)), reason: /bad root/ },
    { what: 'a root below -1', frames: d((b) => b.writeInt32LE(-2, FIXED.root)), reason: /bad root/ },
    { what: 'an op code with no op', frames: d((b) => (b[FIXED.op] = 200)), reason: /unknown op or redop code 200\// },
    { what: 'a redop code with no redop', frames: d((b) => (b[FIXED.redop] = 99)), reason: /unknown op or redop code \d+\/99/ },
    { what: 'an algorithm code with no algorithm', frames: d((b) => (b[FIXED.algorithm] = 100)), reason: /unknown algorithm code 100/ },
    { what: 'a reserved data byte set', frames: d((b) => (b[FIXED.reserved] = 1)), reason: /reserved byte of a fixed data header is not zero/ },
    { what: 'a data payload shorter than its header says', frames: [encodeHeader(data), Buffer.alloc(999)], reason: /payload of 999 bytes, header says 250 x float32 = 1000/ },
    { what: 'a p2p frame without a dtype', frames: p((b) => (b[FIXED.dtype] = 0xff)), reason: /unknown dtype 255/ },
    { what: 'a p2p segment past its count of segments', frames: p((b) => b.writeUInt32LE(2, FIXED.p2pSegment)), reason: /bad segment index or count/ },
    { what: 'a p2p message of no segments', frames: p((b) => b.writeUInt32LE(0, FIXED.segments)), reason: /bad segment index or count/ },
    { what: 'a p2p message of 2^31 segments', frames: p((b) => b.writeUInt32LE(2 ** 31, FIXED.segments)), reason: /bad segment index or count/ },
    { what: 'a p2p frame with more elements than its message', frames: p((b) => b.writeDoubleLE(2, FIXED.count)), reason: /bad element counts/ },
    { what: 'p2p reserved bytes set', frames: p((b) => (b[FIXED.reserved] = 1)), reason: /reserved bytes of a fixed p2p header are not zero/ },
    { what: 'a p2p payload longer than its header says', frames: [encodeHeader(p2p), Buffer.alloc(17)], reason: /payload of 17 bytes, header says 4 x float32 = 16/ },
  ];
  for (const r of refusals) {
    const got = decodeMessage(r.frames, RANKS);
    t.equal(got.ok, false, `${r.what}: refused`);
    t.match(!got.ok && got.reason, r.reason, `${r.what}: ${!got.ok && got.reason}`);
  }
});

t.test('fixed headers with any byte changed: refused or canonical, never a throw', async (t) => {
  // Accepted means a header the encoder itself writes in exactly those bytes: no two encodings of one header.
  const values = [0, 1, 2, 3, 0x7f, 0x80, 0xc1, 0xfe, 0xff];
  let decodes = 0;
  let accepted = 0;
  const problems: string[] = [];
  for (const s of SAMPLES.filter((x) => isFixed(x.header))) {
    const payload = payloadOf(s.bytes);
    for (let at = 0; at < FIXED_HEADER_BYTES; at++) {
      for (const v of values) {
        const head = forgeFixed(s.header, (b) => (b[at] = v));
        for (const frames of [[head], [head, payload ?? Buffer.alloc(4)]]) {
          decodes++;
          try {
            const r = decodeMessage(frames, RANKS);
            if (!r.ok) continue;
            accepted++;
            if (!encodeHeader(r.header).equals(head)) problems.push(`${s.what}, byte ${at} = ${v}: accepted, but it re-encodes differently`);
          } catch (e) {
            problems.push(`${s.what}, byte ${at} = ${v}: threw ${(e as Error).message}`);
          }
        }
      }
    }
  }
  t.same(problems, [], `${decodes} forged fixed headers, ${accepted} accepted (each canonical), none threw`);
  t.ok(accepted > 0 && accepted < decodes);
});

t.test('each kind is validated for its own fields, and the decoder never throws', async (t) => {
  const stuck = stuckHeader(0, 77, 10, 'gather', 'waiting');
  const p2p = p2pHeader(1, 77, 12, 0, 'float32', 8, 2, 1, 4);
  const data = dataHeader(1, 77, 5, allreduce, 3, 2, 250);
  const refusals: Array<{ what: string; frames: Buffer[]; reason: RegExp }> = [
    { what: 'a stuck notice in a state that does not exist', frames: [encodeForgedHeader({ ...stuck, state: 'asleep' })], reason: /stuck notice in unknown state/ },
    { what: "a stuck notice in version 1's WAITING (-1)", frames: [encodeForgedHeader({ ...stuck, state: -1 })], reason: /unknown state -1/ },
    { what: 'a stuck notice with a payload', frames: [encodeHeader(stuck), Buffer.alloc(4)], reason: /carries no payload/ },
    { what: 'a bye with a payload', frames: [encodeHeader(byeHeader(1, 77)), Buffer.alloc(4)], reason: /carries no payload/ },
    { what: 'a p2p frame without a dtype', frames: [encodeForgedHeader({ ...p2p, dtype: '' }), Buffer.alloc(16)], reason: /unknown dtype/ },
    { what: 'a p2p segment past its count of segments', frames: [encodeForgedHeader({ ...p2p, segment: 2 }), Buffer.alloc(16)], reason: /segment index or count/ },
    { what: 'a p2p message of no segments', frames: [encodeForgedHeader({ ...p2p, segments: 0, segment: 0 }), Buffer.alloc(16)], reason: /segment index or count/ },
    { what: 'a p2p frame with more elements than its message', frames: [encodeForgedHeader({ ...p2p, count: 2 }), Buffer.alloc(16)], reason: /element counts/ },
    { what: 'a p2p payload shorter than its header says', frames: [encodeHeader(p2p), Buffer.alloc(15)], reason: /payload of 15 bytes, header says 4 x float32 = 16/ },
    { what: 'an abort message over 4 KiB', frames: [encodeHeader(abortHeader(1, 77, 0, 'allreduce', 'EIO', 'x'.repeat(4097)))], reason: /over 4 KiB/ },
    { what: 'an abort code of 17 characters', frames: [encodeHeader(abortHeader(1, 77, 0, 'allreduce', 'E'.repeat(17), 'x'))], reason: /without code and message/ },
    { what: 'an abort culprit outside the world', frames: [encodeHeader(abortHeader(1, 77, 0, 'allreduce', 'EIO', 'x', RANKS))], reason: /rank outside this world/ },
    { what: 'a header over 16 KiB', frames: [encodeForgedHeader({ ...data, op: 'x'.repeat(17_000) })], reason: /more than 16384/ },
    { what: 'a data root outside the world', frames: [encodeForgedHeader({ ...data, root: RANKS }), Buffer.alloc(1000)], reason: /bad root/ },
    { what: 'a data frame with a float16 dtype', frames: [encodeForgedHeader({ ...data, dtype: 'float16' }), Buffer.alloc(1000)], reason: /unknown dtype float16/ },
    { what: 'a shared-memory reference without its data start', frames: [encodeForgedHeader({ ...data, shm: { region: 'zcoll-77-1', size: 1 << 20, offset: 64, slot: 0 } })], reason: /bad shared-memory slot reference/ },
    { what: 'a shared-memory reference and a payload', frames: [encodeHeader(withShm(data, { region: 'zcoll-77-1', size: 1 << 20, offset: 64, slot: 0, dataStart: 64 })), Buffer.alloc(1000)], reason: /does not fit/ },
    { what: 'a shared-memory reference past its region', frames: [encodeHeader(withShm(data, { region: 'zcoll-77-1', size: 1000, offset: 64, slot: 0, dataStart: 64 }))], reason: /does not fit/ },
    { what: 'a shared-memory reference before its data area', frames: [encodeHeader(withShm(data, { region: 'zcoll-77-1', size: 1 << 20, offset: 0, slot: 0, dataStart: 64 }))], reason: /does not fit/ },
    { what: 'a sender outside the world', frames: [encodeHeader(mailHeader(RANKS, 77))], reason: /sender 4 is not a rank/ },
    { what: 'an epoch over 32 bits', frames: [encodeHeader(mailHeader(1, 2 ** 32))], reason: /bad epoch/ },
  ];
  for (const r of refusals) {
    const got = decodeMessage(r.frames, RANKS);
    t.equal(got.ok, false, `${r.what}: refused`);
    t.match(!got.ok && got.reason, r.reason, `${r.what}: ${!got.ok && got.reason}`);
  }
  // Every field of every kind, replaced by values of every wrong type: refused or accepted, never a throw.
  const bad: unknown[] = [null, undefined, -1, 1.5, 2 ** 60, 'x', '', [], {}, true, Buffer.alloc(3)];
  let decodes = 0;
  const threw: string[] = [];
  for (const s of SAMPLES) {
    for (const field of Object.keys(s.header)) {
      for (const v of bad) {
        const forged: ForgedHeader = { ...s.header, [field]: v };
        try {
          decodeMessage([encodeForgedHeader(forged), ...(s.bytes > 0 ? [Buffer.alloc(s.bytes)] : [])], RANKS);
        } catch (e) {
          threw.push(`${s.what}.${field} = ${String(v)}: ${(e as Error).message}`);
        }
        decodes++;
      }
    }
  }
  t.same(threw, [], `${decodes} forged headers decoded, none threw`);
  t.ok(decodes > 500);
});

t.test('the header micro-benchmark runs, and checks what it times', async (t) => {
  const script = fileURLToPath(new URL('../../bench/wire-header.js', import.meta.url));
  const out = execFileSync(process.execPath, [script, '--iterations', '2000', '--rounds', '1', '--json'], { encoding: 'utf8', timeout: 60_000 });
  const r = JSON.parse(out) as { rows: Array<{ name: string; headerBytes: number; encodeNs: number; decodeNs: number; bothNs: number }> };
  t.same(
    r.rows.map((x) => x.name),
    ['data (4 KiB all-reduce segment)', 'p2p (4 KiB send)'],
  );
  for (const x of r.rows) {
    t.equal(x.headerBytes, encodeHeader(x.name.startsWith('data') ? dataHeader(1, 123_456, 42, { ...allreduce, count: 1024, algorithm: 'ring' }, 5, 0, 1024) : p2pHeader(1, 123_456, 42, 7, 'float32', 1024, 1, 0, 1024)).byteLength, `${x.name}: the size of the header it encodes`);
    for (const k of ['encodeNs', 'decodeNs', 'bothNs'] as const) t.ok(Number.isFinite(x[k]) && x[k] > 0, `${x.name}: ${k} ${x[k]}`);
  }
  t.throws(() => execFileSync(process.execPath, [script, '--iterations', '0'], { stdio: 'pipe' }), 'a bad argument fails the run');
});

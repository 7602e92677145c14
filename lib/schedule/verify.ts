/**
 * The one verifier of collective schedules, independent of every builder. It proves, for any
 * Schedule, by symbolic execution:
 *  - structure: ids in order, ranks and chunks in range, no self sends, deps point at transfers
 *    into the sender at strictly earlier steps (so the dependency graph is acyclic);
 *  - race freedom: every write into a rank's chunk is ordered, through deps, against every send of
 *    that chunk (or the send is a snapshot provably taken before the write is applied) and against
 *    every other overwrite ('copy') of it, so the bytes a transfer carries do not depend on arrival
 *    order (only 'reduce' writes may land in any order: they commute);
 *  - correctness: tracking for every (rank, chunk) how many times each rank's contribution is in it,
 *    no contribution is ever counted twice, and at the end every rank holds what the collective
 *    promises (all-reduce: every chunk reduced over all ranks exactly once, and so on);
 *  - barrier: no data, so no races or counts; instead knowledge. A transfer carries what its sender
 *    has heard from when it is sent, which the dependency-driven executor guarantees only through
 *    deps: carried(t) = {t.src} + the union of carried(d) over t's deps (not everything the sender
 *    received at earlier steps, which may still be in flight). Every rank must end having heard
 *    from every rank: itself plus what its incoming transfers carried. Hearing twice is fine.
 * Link and port capacity per step depend on a topology and live in verify-links.ts.
 */
import type { Schedule, Transfer } from './types.js';

export interface VerifyResult {
  readonly ok: boolean;
  readonly errors: string[];
}

const MAX_ERRORS = 20;

function describe(t: Transfer): string {
  return `transfer ${t.id} (step ${t.step}, ${t.src}->${t.dst}, chunk ${t.chunk}, ${t.kind})`;
}

export function verifySchedule(s: Schedule): VerifyResult {
  const errors: string[] = [];
  const fail = (msg: string): void => {
    if (errors.length < MAX_ERRORS) errors.push(msg);
  };
  const n = s.nranks;
  const ts = s.transfers;
  if (!Number.isInteger(n) || n < 1) return { ok: false, errors: [`nranks must be a positive integer, got ${n}`] };
  if (!Number.isInteger(s.nchunks) || s.nchunks < 0) return { ok: false, errors: [`nchunks must be >= 0, got ${s.nchunks}`] };

  // Structure.
  for (let i = 0; i < ts.length; i++) {
    const t = ts[i];
    if (t.id !== i) fail(`transfer at index ${i} has id ${t.id}`);
    if (!(t.src >= 0 && t.src < n && t.dst >= 0 && t.dst < n)) fail(`${describe(t)}: rank out of range 0..${n - 1}`);
    if (t.src === t.dst) fail(`${describe(t)}: sends to itself`);
    if (!(t.chunk >= 0 && t.chunk < s.nchunks)) fail(`${describe(t)}: chunk out of range 0..${s.nchunks - 1}`);
    if (!(t.step >= 0 && t.step < s.steps)) fail(`${describe(t)}: step out of range 0..${s.steps - 1}`);
    if (t.kind !== 'reduce' && t.kind !== 'copy') fail(`${describe(t)}: unknown kind`);
    for (const d of t.deps) {
      const dep = ts[d];
      if (dep === undefined || d === i) {
        fail(`${describe(t)}: dependency ${d} does not exist`);
        continue;
      }
      if (dep.dst !== t.src) fail(`${describe(t)}: dependency ${describe(dep)} does not land at the sender`);
      if (dep.step >= t.step) fail(`${describe(t)}: dependency ${describe(dep)} is not at an earlier step`);
    }
  }
  if (errors.length > 0) return { ok: false, errors };
  if (s.collective === 'barrier') return verifyKnowledge(s);

  // Race freedom. hb(a, b): a has landed before b is sent (a is in the transitive deps of b).
  // Deps point to strictly earlier steps, so the search prunes below a's step.
  const hb = (a: Transfer, b: Transfer): boolean => {
    if (a.step >= b.step) return false;
    const seen = new Set<number>();
    const stack = [b.id];
    while (stack.length > 0) {
      const x = ts[stack.pop() as number];
      for (const d of x.deps) {
        if (d === a.id) return true;
        if (!seen.has(d) && ts[d].step > a.step) {
          seen.add(d);
          stack.push(d);
        }
      }
    }
    return false;
  };
  // A snapshot send r is copied when its last dep lands, and the executor applies reduces into a
  // (rank, chunk) in id order, right after each of which it releases what that landing unblocks. So
  // r is copied before a concurrent reduce w is applied when every dep of r is a reduce into the
  // same chunk with a smaller id than w. The symbolic execution below reads every send at the start
  // of its step, so w must also be at r's step or later for the two to agree.
  const snapshotBefore = (r: Transfer, w: Transfer): boolean =>
    r.snapshot === true && w.kind === 'reduce' && w.step >= r.step && r.deps.every((d) => ts[d].kind === 'reduce' && ts[d].chunk === r.chunk && d < w.id);
  const writes = new Map<number, Transfer[]>();
  const reads = new Map<number, Transfer[]>();
  const key = (rank: number, chunk: number): number => rank * s.nchunks + chunk;
  for (const t of ts) {
    const w = key(t.dst, t.chunk);
    const r = key(t.src, t.chunk);
    (writes.get(w) ?? writes.set(w, []).get(w))!.push(t);
    (reads.get(r) ?? reads.set(r, []).get(r))!.push(t);
  }
  for (const [k, ws] of writes) {
    const rs = reads.get(k) ?? [];
    for (const w of ws) {
      for (const r of rs) {
        // The send r must see w (w landed first) or must not (r's bytes reached w's sender first),
        // or r is a snapshot taken before w is applied.
        if (!hb(w, r) && !hb(r, w) && !snapshotBefore(r, w)) fail(`race: ${describe(w)} and ${describe(r)} are not ordered by dependencies`);
      }
      for (const w2 of ws) {
        if (w2.id <= w.id || (w.kind === 'reduce' && w2.kind === 'reduce')) continue;
        if (!hb(w, w2) && !hb(w2, w)) fail(`race: overwrites ${describe(w)} and ${describe(w2)} are not ordered`);
      }
    }
  }
  if (errors.length > 0) return { ok: false, errors };

  // Symbolic execution in step order: counts[(rank, chunk)][q] = times rank q's contribution is in it;
  // `held` marks (rank, chunk) pairs that hold data at all.
  const nc = s.nchunks;
  const counts = new Uint16Array(n * nc * n);
  const held = new Uint8Array(n * nc);
  const initAll = s.collective === 'allreduce' || s.collective === 'reducescatter';
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < nc; c++) {
      let origin = -1;
      if (initAll) origin = r;
      else if ((s.collective === 'allgather' || s.collective === 'gather') && s.origin?.[c] === r) origin = r;
      else if (s.collective === 'broadcast' && s.root === r) origin = r;
      if (origin >= 0) {
        held[r * nc + c] = 1;
        counts[(r * nc + c) * n + origin] = 1;
      }
    }
  }
  if ((s.collective === 'allgather' || s.collective === 'gather') && (s.origin === undefined || s.origin.length !== nc)) fail(`${s.collective} schedule without an origin per chunk`);
  if ((s.collective === 'broadcast' || s.collective === 'gather') && !(s.root !== undefined && Number.isInteger(s.root) && s.root >= 0 && s.root < n)) fail(`${s.collective} schedule without a valid root`);
  if (s.collective === 'reducescatter' && (s.owner === undefined || s.owner.length !== nc)) fail('reduce-scatter schedule without an owner per chunk');
  if (errors.length > 0) return { ok: false, errors }; // the final checks below read origin, owner and root
  const order = [...ts].sort((a, b) => a.step - b.step || a.id - b.id);
  for (let i = 0; i < order.length && errors.length === 0; ) {
    const step = order[i].step;
    const batch: Array<{ t: Transfer; payload: Uint16Array }> = [];
    for (; i < order.length && order[i].step === step; i++) {
      const t = order[i];
      const at = t.src * nc + t.chunk;
      if (!held[at]) fail(`${describe(t)}: rank ${t.src} sends chunk ${t.chunk} before holding any data of it`);
      batch.push({ t, payload: counts.slice(at * n, at * n + n) });
    }
    for (const { t, payload } of batch) {
      const at = t.dst * nc + t.chunk;
      const base = at * n;
      if (t.kind === 'copy') {
        counts.set(payload, base);
      } else {
        if (!held[at]) fail(`${describe(t)}: reduces into a chunk rank ${t.dst} does not hold`);
        for (let q = 0; q < n; q++) {
          const v = counts[base + q] + payload[q];
          if (v > 1) fail(`${describe(t)}: counts rank ${q}'s contribution to chunk ${t.chunk} twice at rank ${t.dst}`);
          counts[base + q] = v;
        }
      }
      held[at] = 1;
    }
  }
  if (errors.length > 0) return { ok: false, errors };

  const expectAt = (r: number, c: number, want: (q: number) => number, what: string): void => {
    const base = (r * nc + c) * n;
    for (let q = 0; q < n; q++) {
      if (counts[base + q] !== want(q)) {
        fail(`rank ${r} ends with chunk ${c} not ${what} (rank ${q}'s contribution counted ${counts[base + q]} times)`);
        return;
      }
    }
  };
  for (let c = 0; c < nc; c++) {
    if (s.collective === 'allreduce') for (let r = 0; r < n; r++) expectAt(r, c, () => 1, 'reduced over all ranks');
    else if (s.collective === 'reducescatter') expectAt(s.owner![c], c, () => 1, 'reduced over all ranks');
    else if (s.collective === 'allgather') for (let r = 0; r < n; r++) expectAt(r, c, (q) => (q === s.origin![c] ? 1 : 0), `rank ${s.origin![c]}'s data`);
    // Gather: only the root must end with everything; the others' pages are never read.
    else if (s.collective === 'gather') expectAt(s.root!, c, (q) => (q === s.origin![c] ? 1 : 0), `rank ${s.origin![c]}'s data (gather root)`);
    else for (let r = 0; r < n; r++) expectAt(r, c, (q) => (q === s.root ? 1 : 0), `the root's data`);
  }
  return { ok: errors.length === 0, errors };
}

/**
 * The barrier's property (see the header): every rank ends having heard from every rank, where a
 * transfer carries what its sender had heard from as of its deps. Called after the structure
 * checks, so deps point to earlier steps and a pass in step order sees every dep first.
 * O(transfers * (deps + n/32)).
 */
function verifyKnowledge(s: Schedule): VerifyResult {
  const n = s.nranks;
  const words = Math.ceil(n / 32);
  const carried = new Uint32Array(s.transfers.length * words);
  const heard = new Uint32Array(n * words);
  for (let r = 0; r < n; r++) heard[r * words + (r >>> 5)] |= 1 << (r & 31);
  const order = [...s.transfers].sort((a, b) => a.step - b.step || a.id - b.id);
  for (const t of order) {
    const at = t.id * words;
    carried[at + (t.src >>> 5)] |= 1 << (t.src & 31);
    for (const d of t.deps) for (let w = 0; w < words; w++) carried[at + w] |= carried[d * words + w];
    for (let w = 0; w < words; w++) heard[t.dst * words + w] |= carried[at + w];
  }
  const errors: string[] = [];
  for (let r = 0; r < n && errors.length < MAX_ERRORS; r++) {
    const missing: number[] = [];
    for (let q = 0; q < n; q++) if ((heard[r * words + (q >>> 5)] & (1 << (q & 31))) === 0) missing.push(q);
    if (missing.length > 0) {
      errors.push(
        `barrier: rank ${r} completes without having heard (directly or through its senders' deps) from rank${missing.length > 1 ? 's' : ''} ${missing.slice(0, 8).join(', ')}${missing.length > 8 ? ', ...' : ''}: it may leave before they enter`,
      );
    }
  }
  return { ok: errors.length === 0, errors };
}

/**
 * `--trace FILE.json`: a Chrome-trace timeline (the format Horovod's timeline writes, opened by
 * chrome://tracing and Perfetto) of every rank's collectives (B/E), sends and received-frame
 * reductions (X), from comm.traceSink. Each rank records in memory; at the end the events are
 * gathered to rank 0 as JSON bytes in an Int32Array (the communicator gathers typed arrays) and
 * written as { "traceEvents": [...] }, one process per rank. Timestamps are made relative to a
 * barrier every rank left at about the same moment, so the ranks' timelines line up (to within the
 * barrier's skew, tens of microseconds on one host; milliseconds between network namespaces that
 * share cores, so each rank's process_name also carries `epochUs`, its origin in wall-clock
 * microseconds, by which ranks of one machine line up exactly). Sends overlap (several are queued at once), so
 * they become async events ('b'/'e' pairs), which viewers draw on their own overlapping tracks;
 * collectives (B/E) and received-frame reductions (X, synchronous) nest on the rank's main thread.
 */
import { writeFileSync } from 'node:fs';
import type { Communicator, TraceEvent } from '../comm/communicator.js';

/** A trace event, plus the metadata events ('M') that name processes. */
export interface ChromeTraceEvent {
  name: string;
  cat?: string;
  ph: 'B' | 'E' | 'X' | 'M' | 'i' | 'b' | 'e';
  ts: number;
  /** Async events ('b'/'e'): pairs match by cat and id. */
  id?: number;
  dur?: number;
  pid: number;
  tid: number;
  args?: Record<string, unknown>;
}

export class TraceRecorder {
  readonly events: ChromeTraceEvent[] = [];
  private originUs = 0;
  private nextId = 0;

  constructor(private readonly comm: Communicator) {}

  /** Starts recording; call right after a barrier so every rank's origin is the same moment. */
  start(): void {
    this.originUs = performance.now() * 1000;
    this.events.push({ name: 'process_name', ph: 'M', ts: 0, pid: this.comm.rank, tid: 0, args: { name: `rank ${this.comm.rank} (${this.comm.host})`, epochUs: performance.timeOrigin * 1000 + this.originUs } });
    this.events.push({ name: 'process_sort_index', ph: 'M', ts: 0, pid: this.comm.rank, tid: 0, args: { sort_index: this.comm.rank } });
    this.resume();
  }

  /** Stops recording for a while (the bench's own result reductions are not part of the timeline). */
  pause(): void {
    this.comm.traceSink = undefined;
  }

  resume(): void {
    this.comm.traceSink = (e: TraceEvent) => {
      const ts = e.ts - this.originUs;
      if (e.ph === 'X' && e.cat === 'send') {
        const id = ++this.nextId;
        this.events.push({ name: e.name, cat: e.cat, ph: 'b', id, ts, pid: e.pid, tid: e.tid, ...(e.args !== undefined ? { args: e.args } : {}) });
        this.events.push({ name: e.name, cat: e.cat, ph: 'e', id, ts: ts + (e.dur ?? 0), pid: e.pid, tid: e.tid });
      } else this.events.push({ ...e, ts });
    };
  }

  /** A mark on this rank's timeline (e.g. the start of a size). */
  mark(name: string, args?: Record<string, unknown>): void {
    if (this.comm.traceSink === undefined) return;
    this.events.push({ name, cat: 'bench', ph: 'i', ts: performance.now() * 1000 - this.originUs, pid: this.comm.rank, tid: 0, ...(args !== undefined ? { args } : {}) });
  }

  stop(): void {
    this.pause();
  }

  /** Collective: every rank calls it; rank 0 gets every rank's events, the others null. */
  async gather(): Promise<ChromeTraceEvent[] | null> {
    this.stop();
    const bytes = Buffer.from(JSON.stringify(this.events), 'utf8');
    const longest = (await this.comm.allReduce(Int32Array.of(bytes.byteLength), { op: 'max' }))[0];
    const words = new Int32Array(1 + Math.ceil(longest / 4));
    words[0] = bytes.byteLength;
    new Uint8Array(words.buffer, 4, bytes.byteLength).set(bytes);
    const all = await this.comm.gather(words, { root: 0 });
    if (all === null) return null;
    const out: ChromeTraceEvent[] = [];
    for (let r = 0; r < this.comm.size; r++) {
      const base = r * words.length;
      const len = all[base];
      const text = Buffer.from(all.buffer, all.byteOffset + (base + 1) * 4, len).toString('utf8');
      for (const e of JSON.parse(text) as ChromeTraceEvent[]) out.push(e);
    }
    return out;
  }
}

export function writeTrace(file: string, events: readonly ChromeTraceEvent[]): void {
  writeFileSync(file, `${JSON.stringify({ traceEvents: events, displayTimeUnit: 'ms' })}\n`);
}

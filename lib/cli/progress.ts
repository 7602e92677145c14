/**
 * The bench's progress bar on stderr (cli-progress): steps done of all (sizes x iterations), the size
 * being run, and an ETA. Shown only for runs longer than ~2 s, only when stderr is a terminal, never
 * with --quiet. Rank 0 knows the progress; the process holding the terminal is usually the launcher
 * (rank 0's stderr is a pipe to it), so rank 0 writes its progress to a small file the launcher
 * polls (ZCOLL_BENCH_PROGRESS). Under an outside launcher (mpirun) rank 0 draws the bar itself when
 * its stderr is a terminal. While the bar is up, table lines written to a terminal stdout go through
 * the bar's log so they do not tear it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import cliProgress from 'cli-progress';

export const PROGRESS_ENV = 'ZCOLL_BENCH_PROGRESS';
/** Runs shorter than this never show a bar. */
const SHOW_AFTER_MS = 2000;

export interface ProgressState {
  done: number;
  total: number;
  label: string;
}

/** A bar on this process's stderr, shown once the run is older than SHOW_AFTER_MS. */
export class TerminalBar {
  private readonly startedAt = Date.now();
  private multi: cliProgress.MultiBar | undefined;
  private bar: cliProgress.SingleBar | undefined;
  private restoreStdout: (() => void) | undefined;

  static wanted(quiet: boolean): boolean {
    return !quiet && process.stderr.isTTY === true;
  }

  update(s: ProgressState): void {
    if (this.bar === undefined) {
      if (Date.now() - this.startedAt < SHOW_AFTER_MS || s.done >= s.total) return;
      this.multi = new cliProgress.MultiBar(
        { stream: process.stderr, hideCursor: true, clearOnComplete: true, format: 'zcoll bench {bar} {percentage}% | {value}/{total} steps | {label} | {left} left' },
        cliProgress.Presets.shades_classic,
      );
      this.bar = this.multi.create(s.total, s.done, { label: s.label, left: this.left(s) });
      if (process.stdout.isTTY === true) {
        const multi = this.multi;
        const original = process.stdout.write;
        process.stdout.write = ((chunk: string | Uint8Array): boolean => {
          multi.log(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
          return true;
        }) as typeof process.stdout.write;
        this.restoreStdout = () => {
          process.stdout.write = original;
        };
      }
    }
    this.bar.setTotal(s.total);
    this.bar.update(s.done, { label: s.label, left: this.left(s) });
  }

  /** Time left at the mean pace so far (cli-progress' own ETA reads NULL until it has a rate). */
  private left(s: ProgressState): string {
    const elapsed = (Date.now() - this.startedAt) / 1000;
    const secs = s.done > 0 ? Math.max(0, Math.round((elapsed / s.done) * (s.total - s.done))) : 0;
    return secs >= 60 ? `${Math.floor(secs / 60)}m${String(secs % 60).padStart(2, '0')}s` : `${secs}s`;
  }

  stop(): void {
    // A last redraw writes out the lines still in the bar's log (the end of the table).
    this.multi?.update();
    this.multi?.stop();
    this.restoreStdout?.();
    this.multi = undefined;
    this.bar = undefined;
    this.restoreStdout = undefined;
  }
}

/** Where rank 0 reports progress: the launcher's file, its own terminal, or nowhere. */
export interface ProgressSink {
  update(s: ProgressState): void;
  stop(): void;
}

export function rankProgress(quiet: boolean, env: NodeJS.ProcessEnv = process.env): ProgressSink {
  const file = env[PROGRESS_ENV];
  if (quiet) return { update: () => undefined, stop: () => undefined };
  if (file !== undefined && file !== '') {
    let last = 0;
    const write = (s: ProgressState): void => {
      try {
        writeFileSync(file, JSON.stringify(s));
      } catch {
        // the launcher's progress file is best effort: a missing bar must not fail the bench
      }
    };
    return {
      update: (s) => {
        const now = Date.now();
        if (now - last < 100 && s.done < s.total) return;
        last = now;
        write(s);
      },
      stop: () => undefined,
    };
  }
  if (!TerminalBar.wanted(quiet)) return { update: () => undefined, stop: () => undefined };
  const bar = new TerminalBar();
  return { update: (s) => bar.update(s), stop: () => bar.stop() };
}

/** The launcher's side: polls rank 0's progress file and draws the bar. */
export function watchProgress(file: string): { stop(): void } {
  const bar = new TerminalBar();
  const timer = setInterval(() => {
    let s: ProgressState;
    try {
      s = JSON.parse(readFileSync(file, 'utf8')) as ProgressState;
    } catch {
      return; // not written yet, or caught mid-write
    }
    if (Number.isFinite(s.done) && Number.isFinite(s.total)) bar.update(s);
  }, 200);
  return {
    stop: () => {
      clearInterval(timer);
      bar.stop();
    },
  };
}

/**
 * Cleanup that must run however this process ends: the shared-memory regions and the ipc socket
 * directory of its communicators would otherwise stay in /dev/shm and the temp dir until the next
 * job (51 MiB of /dev/shm per job with 4 ranks, sockets for ever before that). Tasks run on a normal
 * exit and process.exit() (also reached after an uncaught error, whose default ends the process
 * through 'exit'), and on SIGINT, SIGTERM and SIGHUP when nothing else listens for the signal: then
 * the tasks run and the signal is raised again with its default action, so the process still ends
 * killed by it (its parent, e.g. `zcoll launch`, sees the same status as before). When the program
 * has a handler of its own, that handler decides whether the process ends; if it exits, 'exit' runs
 * the tasks. A SIGKILL runs nothing: process-owner.ts lets the next job recognise what it left.
 * Node.js resets signal dispositions at startup (a rank never inherits an ignored SIGINT or SIGHUP),
 * so listening changes no outcome: the process ends exactly when it would have without us.
 */
import { isMainThread } from 'node:worker_threads';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
const tasks = new Set<() => void>();
let installed = false;

function runAll(): void {
  for (const task of [...tasks]) {
    tasks.delete(task);
    try {
      task();
    } catch {
      // A failed cleanup (already removed) must not keep the others from running.
    }
  }
}

/**
 * Listeners of the signal-exit package (used by many tools, tap among them) only observe: each
 * re-raises the signal itself when every listener is one of its own, and defers otherwise. They
 * must not count as a program's handler here, or each side would wait for the other and the
 * process would outlive its Ctrl-C. Its emitters record how many such listeners are in play.
 */
function observerListeners(): number {
  const v4 = (globalThis as Record<symbol, unknown>)[Symbol.for('signal-exit emitter')] as { count?: unknown } | undefined;
  const v3 = (process as unknown as { __signal_exit_emitter__?: { count?: unknown } }).__signal_exit_emitter__;
  return (typeof v4?.count === 'number' ? v4.count : 0) + (typeof v3?.count === 'number' ? v3.count : 0);
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', runAll);
  // Signals reach the main thread only; a worker's tasks run at its 'exit' or its owner's.
  if (!isMainThread) return;
  for (const sig of SIGNALS) {
    const handler = (): void => {
      if (process.listenerCount(sig) - 1 - observerListeners() > 0) return;
      runAll();
      // With its last listener gone the signal has its default action again: end as killed by it
      // (signal-exit's listeners, still there, now find themselves alone and re-raise it in turn).
      process.off(sig, handler);
      process.kill(process.pid, sig);
    };
    process.on(sig, handler);
  }
}

/** Runs `task` once when the process ends (see above); the returned function unregisters it. */
export function onProcessExit(task: () => void): () => void {
  install();
  tasks.add(task);
  return () => void tasks.delete(task);
}

/**
 * A rank started by `zcoll launch` exits when its launcher is gone. The launcher stops its ranks on
 * SIGINT/SIGTERM and when one fails, but a SIGKILL (or an OOM kill) gives it no chance: its ranks
 * would run on, holding their ports, sockets and GPUs, and a leftover rank could say hello to the
 * next job's rendezvous. Linux's PR_SET_PDEATHSIG is not reachable from Node, so the rank polls.
 */
import { ZcollError } from '../errors.js';

const PERIOD_MS = 500;

/** False once `pid` no longer exists (EPERM means it exists but is another user's: alive). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * Watches ZCOLL_LAUNCHER_PID (from `zcoll launch`) every 500 ms and calls onGone once when that
 * process no longer exists, or when this process was re-parented away from it (pid reuse after the
 * launcher died would otherwise look alive). Without the variable it watches nothing. The timer is
 * unref'd: watching never keeps the process alive. Returns a function that stops watching.
 */
export function watchLauncher(env: NodeJS.ProcessEnv, onGone: () => void): () => void {
  const raw = env.ZCOLL_LAUNCHER_PID;
  if (raw === undefined || raw === '') return () => undefined;
  const pid = Number(raw);
  if (!Number.isInteger(pid) || pid < 1) throw new ZcollError('ECONFIG', `environment variable ZCOLL_LAUNCHER_PID=${JSON.stringify(raw)} must be a process id`, { details: { variable: 'ZCOLL_LAUNCHER_PID' } });
  // The launcher spawns its ranks directly, so it starts as our parent; if it is not (a wrapper such
  // as `sh -c`, or a rank that re-execs), only the pid's existence is checked.
  const childOfLauncher = process.ppid === pid;
  let timer: NodeJS.Timeout | undefined = setInterval(() => {
    if (alive(pid) && (!childOfLauncher || process.ppid === pid)) return;
    stop();
    onGone();
  }, PERIOD_MS);
  timer.unref();
  const stop = (): void => {
    if (timer !== undefined) clearInterval(timer);
    timer = undefined;
  };
  return stop;
}

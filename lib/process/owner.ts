/**
 * Whether the process that left a file behind (a shared-memory region, an ipc socket directory) is
 * still the one running. A pid alone is not enough: in a container every job's ranks get the same
 * small pids, so a SIGKILLed rank's pid 12 is soon a rank of the next job, and its leftovers would
 * look alive for ever. Owners are therefore recorded as pid + start time (Linux: field 22 of
 * /proc/<pid>/stat, clock ticks since boot), which no later process with the same pid shares.
 */
import { readFileSync } from 'node:fs';

/** Start time of `pid` in clock ticks since boot; undefined where /proc has no such entry (not Linux, or gone). */
export function processStartTime(pid: number): number | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so fields count from the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const start = Number(fields[22 - 3]);
  return Number.isSafeInteger(start) && start > 0 ? start : undefined;
}

let ownStart: number | undefined | null = null;

/** This process's start time (processStartTime(process.pid)), read once; 0 when unknown. */
export function ownStartTime(): number {
  if (ownStart === null) ownStart = processStartTime(process.pid);
  return ownStart ?? 0;
}

/**
 * False once the owner (`pid`, started at `startTime`; 0 when it was not recorded) is gone: no such
 * pid, or a pid now held by a process that started at another time. A pid that exists but belongs
 * to another user (EPERM), or whose start time cannot be read, counts as alive: never remove what
 * might still be used.
 */
export function ownerAlive(pid: number, startTime: number): boolean {
  if (pid === process.pid) return startTime === 0 || startTime === ownStartTime();
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  if (startTime === 0) return true;
  const now = processStartTime(pid);
  return now === undefined || now === startTime;
}

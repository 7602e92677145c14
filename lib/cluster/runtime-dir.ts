/**
 * Where this user's ipc:// sockets live: `${tmpdir}/zcoll-<uid>`, a directory of mode 0700 owned by
 * this user, so another local user can neither connect to a rank's socket nor see it, and with one
 * subdirectory per process (`p<pid>-t<start time>-<random>`) that goes away with the process (on
 * every exit path exit-cleanup.ts sees), or, after a SIGKILL, with the next start
 * (removeStaleSocketDirs, which knows a dead owner by pid and start time: process/owner.ts): socket
 * files no longer pile up in /tmp.
 */
import { randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, rmSync, unlinkSync, type Stats } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ZcollError } from '../errors.js';
import { onProcessExit } from '../process/exit-cleanup.js';
import { ownerAlive, ownStartTime } from '../process/owner.js';

function uid(): number {
  // No uids on Windows: one runtime directory per tmpdir (which is per user there).
  return typeof process.getuid === 'function' ? process.getuid() : -1;
}

function refuse(path: string, what: string): ZcollError {
  return new ZcollError('ECONFIG', `the zcoll runtime directory ${path} ${what}: another user may have created it to take over or watch zcoll's sockets; remove it (or set TMPDIR elsewhere) and start again`, { details: { path } });
}

/**
 * `${tmpdir()}/zcoll-<uid>`, created 0700 if missing. Refused with ECONFIG when it is a symlink, not a
 * directory, not this user's, or open to group or others: in a shared /tmp another user can create
 * the name first (the directory's owner could then swap the sockets in it, or read their names).
 */
export function userRuntimeDir(): string {
  const me = uid();
  const path = join(tmpdir(), `zcoll-${me >= 0 ? me : 'user'}`);
  try {
    mkdirSync(path, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new ZcollError('ECONFIG', `cannot create the zcoll runtime directory ${path}: ${(e as Error).message}`, { details: { path } }, { cause: e });
  }
  // lstat, not stat: a symlink is refused as such, never followed to wherever it points.
  const st: Stats = lstatSync(path);
  if (st.isSymbolicLink()) throw refuse(path, 'is a symbolic link');
  if (!st.isDirectory()) throw refuse(path, 'is not a directory');
  if (me >= 0 && st.uid !== me) throw refuse(path, `is owned by uid ${st.uid}, not by this user (uid ${me})`);
  if (me >= 0 && (st.mode & 0o077) !== 0) throw refuse(path, `has mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}, not 0700 (group or others have access)`);
  return path;
}

export interface SocketDir {
  readonly path: string;
  /** Deletes the directory and everything in it; idempotent. */
  remove(): void;
}

/**
 * A fresh directory (0700) of userRuntimeDir() for this process's ipc sockets,
 * `p<pid>-t<start time>-<random>`: pid and start time tell removeStaleSocketDirs whose it is.
 * Removed by remove() or when the process ends (exit, uncaught error, SIGINT/SIGTERM/SIGHUP),
 * whichever comes first (a SIGKILL skips both: the next removeStaleSocketDirs() then does it).
 */
export function jobSocketDir(): SocketDir {
  const parent = userRuntimeDir();
  let path = '';
  for (let attempt = 0; ; attempt++) {
    path = join(parent, `p${process.pid}-t${ownStartTime()}-${randomBytes(6).toString('hex')}`);
    try {
      mkdirSync(path, { mode: 0o700 });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 8) throw new ZcollError('ECONFIG', `cannot create the socket directory ${path}: ${(e as Error).message}`, { details: { path } }, { cause: e });
    }
  }
  let removed = false;
  let unregister = (): void => undefined;
  const remove = (): void => {
    if (removed) return;
    removed = true;
    unregister();
    rmSync(path, { recursive: true, force: true });
  };
  unregister = onProcessExit(remove);
  return { path, remove };
}

/** Socket directories: `p<pid>-t<start time>-<hex>`, or `p<pid>-<hex>` from before start times were recorded. */
const SOCKET_DIR = /^p(\d+)(?:-t(\d+))?-[0-9a-f]+$/;
/** The ipc socket names before the runtime directory: `${tmpdir}/zcoll-<pid>-<rank>-<hex>.sock`. */
const LEGACY_SOCKET = /^zcoll-(\d+)-\d+-[0-9a-f]+\.sock$/;

/**
 * Removes what processes that are gone left behind: the socket directories of dead pids in
 * userRuntimeDir() (a dead owner: no such pid, or the pid now held by a process that started at
 * another time), and this user's legacy socket files in tmpdir() whose pid is dead. Live processes'
 * directories and files are never touched, nor another user's (their runtime directory is theirs). Returns how many were removed.
 */
export function removeStaleSocketDirs(): number {
  const me = uid();
  const dir = userRuntimeDir();
  let removed = 0;
  for (const name of readdirSync(dir)) {
    const m = SOCKET_DIR.exec(name);
    if (m === null || ownerAlive(Number(m[1]), Number(m[2] ?? 0))) continue;
    rmSync(join(dir, name), { recursive: true, force: true });
    removed++;
  }
  let legacy: string[];
  try {
    legacy = readdirSync(tmpdir());
  } catch {
    return removed;
  }
  for (const name of legacy) {
    const m = LEGACY_SOCKET.exec(name);
    if (m === null || ownerAlive(Number(m[1]), 0)) continue;
    const path = join(tmpdir(), name);
    try {
      // Only this user's sockets: never a file someone else named like one.
      const st = lstatSync(path);
      if (!st.isSocket() || (me >= 0 && st.uid !== me)) continue;
      unlinkSync(path);
      removed++;
    } catch {
      // Gone meanwhile (another rank cleaning up too): nothing to do.
    }
  }
  return removed;
}

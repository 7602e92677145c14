/**
 * Runs a command (by default the zcoll CLI) as a child process for CLI tests: captured output, exit
 * code, wall time, and a hard kill after `killAfterMs` so a hung command fails the test, never hangs it.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ZCOLL_MAIN = fileURLToPath(new URL('../../lib/cli/main.js', import.meta.url));

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface CliOptions {
  env?: NodeJS.ProcessEnv;
  killAfterMs?: number;
  /** Program to run (default: node with `args` after the CLI's entry point). */
  command?: string;
}

export function runCli(args: readonly string[], o: CliOptions = {}): Promise<CliRun> {
  const t0 = Date.now();
  const [cmd, argv] = o.command === undefined ? [process.execPath, [ZCOLL_MAIN, ...args]] : [o.command, [...args]];
  return new Promise((resolve) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...(o.env ?? {}) } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), o.killAfterMs ?? 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

/**
 * Debug output through one environment variable, silent by default (the grpc-js habit):
 * ZCOLL_DEBUG=info prints failures and dropped frames, ZCOLL_DEBUG=detail adds per-message traces.
 */
export type DebugLevel = 'info' | 'detail';

const setting = process.env.ZCOLL_DEBUG ?? '';
const level = setting === 'detail' ? 2 : setting === '' || setting === '0' ? 0 : 1;

export function debug(at: DebugLevel, message: () => string): void {
  if ((at === 'info' ? 1 : 2) <= level) process.stderr.write(`zcoll: ${message()}\n`);
}

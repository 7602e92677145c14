/**
 * One error class with a closed set of codes (the zeromq.js / grpc-js habit): callers switch on
 * `code`, people read `message`. Messages name this rank, the op and its sequence number, the peer
 * and what was expected versus what arrived.
 */
export const ERROR_CODES = [
  'EINVAL', // bad argument from the user (type, size, op, dtype, algorithm)
  'ECONFIG', // bad cluster config or environment
  'ETIMEDOUT', // a peer did not answer within the deadline
  'EPEERLOST', // a peer's connection went away
  'EMISMATCH', // ranks disagree on op, dtype, count, root or call order
  'EPROTO', // a frame that does not follow the wire format
  'EAUTH', // authentication (CURVE/ZAP) refused a peer
  'ECLOSED', // the communicator is closed or poisoned by an earlier error
  'EABORTED', // the caller's AbortSignal fired
  'ENUMERIC', // NaN/Inf or an undecodable numeric state where a value is required
  'EINTERNAL', // an invariant of zcoll itself broke: a bug
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export interface ErrorContext {
  rank?: number;
  op?: string;
  seq?: number;
  peer?: number;
  /** Extra machine-readable facts (expected/received values, missing ranks...). */
  details?: Record<string, unknown>;
}

export class ZcollError extends Error {
  override readonly name = 'ZcollError';
  readonly code: ErrorCode;
  readonly rank: number | undefined;
  readonly op: string | undefined;
  readonly seq: number | undefined;
  readonly peer: number | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, ctx: ErrorContext = {}, options?: { cause?: unknown }) {
    super(`${code}: ${prefix(ctx)}${message}`, options);
    this.code = code;
    this.rank = ctx.rank;
    this.op = ctx.op;
    this.seq = ctx.seq;
    this.peer = ctx.peer;
    this.details = ctx.details;
  }
}

function prefix(ctx: ErrorContext): string {
  const parts: string[] = [];
  if (ctx.rank !== undefined) parts.push(`rank ${ctx.rank}`);
  if (ctx.op !== undefined) parts.push(ctx.seq !== undefined ? `${ctx.op} #${ctx.seq}` : ctx.op);
  return parts.length > 0 ? `[${parts.join(' ')}] ` : '';
}

export function isZcollError(e: unknown, code?: ErrorCode): e is ZcollError {
  return e instanceof ZcollError && (code === undefined || e.code === code);
}

/** Argument checks in the tfjs style: the message is only built when the check fails. */
export function check(cond: boolean, code: ErrorCode, message: () => string, ctx?: ErrorContext): asserts cond {
  if (!cond) throw new ZcollError(code, message(), ctx);
}

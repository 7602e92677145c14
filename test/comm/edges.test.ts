// Issue 16 item 8, one behaviour each, with real rank processes (test/fixtures/edges-worker.ts):
//  a. a script that catches a collective's error and never calls close() still exits by itself;
//  b. a recv() from a peer known lost fails at once with EPEERLOST naming it, not at its deadline;
//  c. a timeout that follows a peer's clean close() says that the peer closed its communicator;
//  d. a recv() count no typed array can hold is an EINVAL ZcollError, not a RangeError;
//  e. a non-boolean inPlace, and inPlace on a tensor or a list, are EINVAL naming the option.
import t from 'tap';
import type { ChildProcess } from 'node:child_process';
import { runRanks, type RankOutput } from '../helpers/ranks.js';
import type { Outcome } from '../fixtures/edges-worker.js';

const SCRIPT = 'test/fixtures/edges-worker.js';

function resultOf<R>(o: RankOutput, kind: string): R | undefined {
  return o.results.find((x) => (x as { kind?: unknown }).kind === kind) as R | undefined;
}

function diag(o: RankOutput): { stdout: string; stderr: string } {
  return { stdout: o.stdout.slice(-1500), stderr: o.stderr.slice(-1500) };
}

/** Kills `child` `delayMs` after `marker` first appears on its stdout; returns when it was killed (0: not yet). */
function killOnMarker(child: ChildProcess, marker: string, delayMs: number): { at: number } {
  const killed = { at: 0 };
  let stdout = '';
  let armed = false;
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
    if (armed || !stdout.includes(marker)) return;
    armed = true;
    setTimeout(() => {
      killed.at = Date.now();
      child.kill('SIGKILL');
    }, delayMs);
  });
  return killed;
}

t.test('a. a rank that catches the error of a collective and skips close() exits by itself, code 0', async (t) => {
  const exitAt = new Map<number, number>();
  let killed = { at: 0 };
  const outs = await runRanks(3, {
    script: SCRIPT,
    args: ['abandon'],
    killAfterMs: 45_000,
    onSpawn: (rank, child) => {
      child.on('exit', () => exitAt.set(rank, Date.now()));
      if (rank === 2) killed = killOnMarker(child, '"ready"', 1000);
    },
  });
  t.ok(killed.at > 0, 'rank 2 was killed mid-run');
  for (const o of outs.slice(0, 2)) {
    const c = resultOf<Outcome>(o, 'caught');
    t.ok(c !== undefined, `rank ${o.rank} caught the failure`, diag(o));
    if (c === undefined) continue;
    t.equal(c.code, 'EPEERLOST', `rank ${o.rank}: EPEERLOST: ${c.message}`);
    t.equal(c.peer, 2, `rank ${o.rank}: the error names rank 2`);
    const lingered = (exitAt.get(o.rank) ?? Infinity) - c.at;
    t.ok(lingered < 5000, `rank ${o.rank}'s process ended ${lingered} ms after it caught the error (< 5000)`);
    t.equal(o.signal, null, `rank ${o.rank} was not killed`, diag(o));
    t.equal(o.code, 0, `rank ${o.rank} exits 0`, diag(o));
  }
});

interface RecvResult {
  lostAt: number;
  pending: Outcome;
  start: number;
  after: Outcome;
}

t.test('b. recv() from a peer known lost fails at once with EPEERLOST naming it (deadline 20 s)', async (t) => {
  let killed = { at: 0 };
  const outs = await runRanks(2, {
    script: SCRIPT,
    args: ['recv-lost'],
    killAfterMs: 45_000,
    onSpawn: (rank, child) => {
      if (rank === 1) killed = killOnMarker(child, '"ready"', 300);
    },
  });
  t.ok(killed.at > 0, 'rank 1 was killed');
  t.equal(outs[1].signal, 'SIGKILL');
  const o = outs[0];
  const r = resultOf<RecvResult>(o, 'recv');
  t.ok(r !== undefined, 'rank 0 reported its recvs', diag(o));
  if (r !== undefined) {
    t.ok(r.lostAt - killed.at < 5000, `rank 0 knew rank 1 lost ${r.lostAt - killed.at} ms after the kill`);
    // A recv waiting when the peer died.
    t.equal(r.pending.code, 'EPEERLOST', `the waiting recv fails with EPEERLOST: ${r.pending.message}`);
    t.equal(r.pending.peer, 1, 'the waiting recv names rank 1');
    t.ok(r.pending.at - killed.at < 5000, `the waiting recv failed ${r.pending.at - killed.at} ms after the kill (< 5000, deadline 20000)`);
    // A recv called once the peer is known lost.
    t.equal(r.after.code, 'EPEERLOST', `a recv after the loss fails with EPEERLOST: ${r.after.message}`);
    t.equal(r.after.peer, 1, 'it names rank 1');
    t.match(r.after.message, /rank 1/, 'its message names rank 1');
    t.ok(r.after.at - r.start < 1000, `it failed ${r.after.at - r.start} ms after the call (< 1000, deadline 20000)`);
  }
  t.equal(o.code, 0, 'rank 0 exits 0', diag(o));
});

t.test("c. a timeout after a peer's clean close() says that peer closed its communicator", async (t) => {
  const outs = await runRanks(2, { script: SCRIPT, args: ['bye-timeout'], killAfterMs: 45_000 });
  const o = outs[0];
  const r = resultOf<Outcome & { start: number }>(o, 'timeout');
  t.ok(r !== undefined, 'rank 0 reported its all-reduce', diag(o));
  if (r !== undefined) {
    t.equal(r.code, 'ETIMEDOUT', `ETIMEDOUT: ${r.message}`);
    t.equal(r.peer, 1, 'the error names rank 1');
    t.match(r.message, /rank 1 \(it closed its communicator/, 'the message says rank 1 closed its communicator');
    t.ok(r.at - r.start < 8000, `it failed ${r.at - r.start} ms after the call (deadline 1500 ms, then a 1000 ms grace)`);
  }
  t.ok(resultOf(outs[1], 'closed') !== undefined, 'rank 1 closed', diag(outs[1]));
  for (const x of outs) t.equal(x.code, 0, `rank ${x.rank} exits 0`, diag(x));
});

interface InvalidResult {
  results: Array<Outcome & { what: string }>;
  after: number[];
  tensorAfter: number[];
  arrUnchanged: number[];
}

t.test('d, e. huge recv counts and meaningless inPlace are EINVAL ZcollErrors naming the argument; nothing is poisoned', async (t) => {
  const outs = await runRanks(2, { script: SCRIPT, args: ['invalid'], killAfterMs: 60_000 });
  for (const o of outs) {
    const r = resultOf<InvalidResult>(o, 'invalid');
    t.ok(r !== undefined, `rank ${o.rank} reported`, diag(o));
    if (r === undefined) continue;
    t.equal(r.results.length, 10, 'every case ran');
    for (const c of r.results) {
      t.ok(c.name === 'ZcollError' && c.code === 'EINVAL', `rank ${o.rank}: ${c.what} rejects with a ZcollError EINVAL`, { got: `${c.name} ${c.code ?? ''} ${c.message}` });
      const names = c.what.startsWith('recv') ? /'like\.count'/ : /option 'inPlace'/;
      t.match(c.message, names, `rank ${o.rank}: ${c.what}: the message names ${names}`);
    }
    t.same(r.after, [3, 20], `rank ${o.rank}: an all-reduce after the rejected calls is right`);
    t.same(r.tensorAfter, [2, 4, 6, 8], `rank ${o.rank}: so is a tensor all-reduce`);
    t.same(r.arrUnchanged, [1, 2, 3, 4], `rank ${o.rank}: the rejected in-place calls left the array alone`);
    t.equal(o.code, 0, `rank ${o.rank} exits 0`, diag(o));
  }
});

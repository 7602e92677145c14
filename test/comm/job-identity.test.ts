// Only processes of this job are seated at the rendezvous (issue 16, items 3 and 6): a leftover rank
// of an earlier failed start on the same port, or any process with another job id, says hello and
// is ignored (not seated, not answered, and the job is not refused for it); the real rank still gets
// its seat. Every process is killed in teardown, pass or fail.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import * as zmq from 'zeromq';
import { Packr } from 'msgpackr';
import { DIST, quietPort } from '../helpers/ranks.js';
import { ZCOLL_VERSION } from '../../lib/version.js';
import { PROTOCOL_VERSION } from '../../lib/transport/wire.js';

const url = (p: string): string => new URL(`file://${DIST}/${p}`).href;

/**
 * One rank that calls rendezvous() directly, its job id read from the environment by resolveIdentity
 * as init() does; prints `RESULT {ok, peers, strangers}` or `RESULT {code, message}`.
 */
const RDV_WORKER = `
  import { rendezvous } from ${JSON.stringify(url('lib/comm/rendezvous.js'))};
  import { resolveIdentity } from ${JSON.stringify(url('lib/cluster/identity.js'))};
  import { parseConfig } from ${JSON.stringify(url('lib/cluster/config.js'))};
  const e = process.env;
  const id = resolveIdentity(parseConfig({ hosts: [{ name: 'h', address: '127.0.0.1', ranks: 1 }] }, 'test'), e);
  const name = e.WORKER_NAME;
  const self = { rank: id.rank, hostKey: 'key-' + name, hostName: name, linkKey: 'link-' + name };
  try {
    const r = await rendezvous({ self, world: id.worldSize, configHash: 'cfg', masterAddr: id.masterAddr, masterPort: id.masterPort, timeoutMs: Number(e.WORKER_TIMEOUT_MS), job: id.jobId });
    console.log('RESULT ' + JSON.stringify({ ok: true, peers: r.peers, strangers: r.strangers }));
  } catch (err) {
    console.log('RESULT ' + JSON.stringify({ code: err.code, message: err.message }));
  }`;

interface Out {
  code: number | null;
  stdout: string;
  stderr: string;
  result: { ok?: boolean; peers?: { rank: number; hostName: string; linkKey?: string }[]; strangers?: number; code?: string; message?: string };
}

/** Starts one -e worker; the process is killed in teardown if still running. */
function start(t: Test, script: string, env: Record<string, string>): { child: ChildProcess; done: Promise<Out> } {
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, ZCOLL_JOB_ID: '', TORCHELASTIC_RUN_ID: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => void (child.exitCode === null && child.signalCode === null ? child.kill('SIGKILL') : undefined));
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const done = new Promise<Out>((resolve) =>
    child.on('close', (code) => {
      clearTimeout(killer);
      const line = stdout.split('\n').find((l) => l.startsWith('RESULT '));
      resolve({ code, stdout, stderr, result: line !== undefined ? (JSON.parse(line.slice(7)) as Out['result']) : {} });
    }),
  );
  return { child, done };
}

const rdvEnv = (port: number, rank: number, world: number, job: string, name: string, timeoutMs = 8000): Record<string, string> => ({
  ZCOLL_RANK: String(rank),
  ZCOLL_WORLD_SIZE: String(world),
  ZCOLL_MASTER_ADDR: '127.0.0.1',
  ZCOLL_MASTER_PORT: String(port),
  ZCOLL_JOB_ID: job,
  WORKER_NAME: name,
  WORKER_TIMEOUT_MS: String(timeoutMs),
  ZCOLL_DEBUG: 'info',
});

const newJob = (): string => randomBytes(16).toString('hex');

t.test('a process of another job that says hello first for rank 1 is not seated; the real rank 1 is', async (t) => {
  const port = await quietPort();
  const job = newJob();
  const master = start(t, RDV_WORKER, rdvEnv(port, 0, 2, job, 'master'));
  // The stranger connects before rank 0 binds; its hello goes out as soon as rank 0 listens.
  const stranger = start(t, RDV_WORKER, rdvEnv(port, 1, 2, newJob(), 'stranger', 2000));
  await sleep(1500);
  const real = start(t, RDV_WORKER, rdvEnv(port, 1, 2, job, 'real'));
  const [m, r] = await Promise.all([master.done, real.done]);
  t.ok(m.result.ok, `rank 0: ${m.result.message ?? m.stderr}`);
  t.ok(r.result.ok, `the real rank 1: ${r.result.message ?? r.stderr}`);
  t.same(m.result.peers?.map((p) => p.hostName), ['master', 'real'], 'rank 1 is the real one');
  t.same(r.result.peers, m.result.peers, 'both have the same table');
  t.same(m.result.peers?.map((p) => p.linkKey), ['link-master', 'link-real'], 'link keys carried verbatim');
  t.equal(m.result.strangers, 1, 'the stranger was counted');
  t.match(m.stderr, /ignored 1 hello of another job/, 'one debug line on rank 0');
  const s = await stranger.done;
  t.equal(s.result.code, 'ETIMEDOUT', 'the stranger got no answer at all');
});

t.test('the same job id on every rank: the world completes (and so it does with no job id anywhere)', async (t) => {
  for (const job of [newJob(), '']) {
    const port = await quietPort();
    const outs = await Promise.all([0, 1, 2].map((r) => start(t, RDV_WORKER, rdvEnv(port, r, 3, job, `r${r}`)).done));
    for (const [r, o] of outs.entries()) {
      t.ok(o.result.ok, `job ${job || 'none'} rank ${r}: ${o.result.message ?? o.stderr}`);
      t.same(o.result.peers?.map((p) => p.hostName), ['r0', 'r1', 'r2']);
    }
    t.equal(outs[0].result.strangers, 0);
  }
});

t.test('a hello without a job id, or with a wrong one, is neither seated nor answered when the job has one', async (t) => {
  const port = await quietPort();
  const job = newJob();
  const master = start(t, RDV_WORKER, rdvEnv(port, 0, 2, job, 'master'));
  const packr = new Packr({ useRecords: false });
  const dealers: zmq.Dealer[] = [];
  t.teardown(() => dealers.forEach((d) => d.close()));
  // Everything else right: on a master that does not check the job, either would be seated.
  for (const extra of [{}, { job: 'f'.repeat(64) }, { job: job }]) {
    const d = new zmq.Dealer({ linger: 0, receiveTimeout: 1500 });
    dealers.push(d);
    d.connect(`tcp://127.0.0.1:${port}`);
    await d.send(packr.pack({ t: 'hello', rank: 1, hostKey: 'x', hostName: 'intruder', version: ZCOLL_VERSION, proto: PROTOCOL_VERSION, world: 2, config: 'cfg', ...extra }));
  }
  await sleep(1500);
  const real = start(t, RDV_WORKER, rdvEnv(port, 1, 2, job, 'real'));
  const [m, r] = await Promise.all([master.done, real.done]);
  t.ok(m.result.ok && r.result.ok, `${m.result.message ?? ''} ${r.result.message ?? ''}`);
  t.same(m.result.peers?.map((p) => p.hostName), ['master', 'real']);
  t.equal(m.result.strangers, 3, 'the raw job id in place of its digest is not accepted either');
  for (const d of dealers) await t.rejects(d.receive(), { code: 'EAGAIN' }, 'no answer to a stranger');
});

/** A rank that inits, all-reduces [rank + 1] (1000 for a stale one) and prints the sum. */
const ALLREDUCE_WORKER = `
  import { init } from ${JSON.stringify(url('lib/index.js'))};
  const comm = await init({ timeoutMs: Number(process.env.WORKER_TIMEOUT_MS) });
  const x = new Float32Array(1024).fill(process.env.STALE === '1' ? 1000 : comm.rank + 1);
  await comm.allReduce(x, { inPlace: true });
  console.log('RESULT ' + JSON.stringify({ ok: true, rank: comm.rank, sum: x[0], last: x[1023] }));
  await comm.close();`;

t.test('a stale rank of an earlier failed start on the same port does not take part in the next job', async (t) => {
  const port = await quietPort();
  // The failed start: its rank 0 died, ranks 1 and 2 still wait for the rendezvous (another job id).
  const stale: ChildProcess[] = [];
  t.teardown(() => stale.forEach((c) => c.kill('SIGKILL')));
  for (const r of [1, 2]) {
    stale.push(start(t, ALLREDUCE_WORKER, { ZCOLL_RANK: String(r), ZCOLL_WORLD_SIZE: '3', ZCOLL_MASTER_ADDR: '127.0.0.1', ZCOLL_MASTER_PORT: String(port), ZCOLL_JOB_ID: newJob(), STALE: '1', WORKER_TIMEOUT_MS: '30000' }).child);
  }
  await sleep(1500);
  const job = newJob();
  const outs = await Promise.all(
    [0, 1, 2].map(
      (r) => start(t, ALLREDUCE_WORKER, { ZCOLL_RANK: String(r), ZCOLL_WORLD_SIZE: '3', ZCOLL_MASTER_ADDR: '127.0.0.1', ZCOLL_MASTER_PORT: String(port), ZCOLL_JOB_ID: job, WORKER_TIMEOUT_MS: '15000' }).done,
    ),
  );
  for (const [r, o] of outs.entries()) {
    t.ok(o.result.ok, `rank ${r}: ${o.result.message ?? o.stderr.slice(-1500)}`);
    t.match(o.result, { sum: 6, last: 6 }, `rank ${r}: 1 + 2 + 3, no stale input`);
  }
  for (const c of stale) t.equal(c.exitCode, null, 'the stale ranks were never seated (still waiting)');
});

/**
 * Time and bytes per step of distributed Signum against float32 ring all-reduce (issue 5 item 7),
 * in one run over the same ranks: d = 25M (ResNet-50 size), 4 rank processes on loopback.
 * Variants, interleaved rep by rep so all see the same machine load:
 *   allreduce-f32     comm.allReduce(grad, op 'avg', in place) then x -= lr·g (plain SGD step);
 *   signum-allgather  Signum.signs (momentum + pack) -> signVote 'allgather' -> Signum.apply;
 *   signum-server     the same with signVote 'server' (root 0);
 *   signum-reduce     the same with signVote 'reduce'.
 * A step's time is the slowest rank's (each rep starts after a barrier); "comm" is the collective
 * part alone (allReduce / signVote, the slowest rank's), "local" the rest of the step (Signum's
 * momentum, pack and update loops; the gradient copy and the SGD update for float32). Bytes are this rank's outbox counters (payload + headers) per
 * step, max over ranks. Prints a markdown table: median and best of the reps.
 * Run: node dist/bench/signsgd-speed.js [--d 25000000] [--ranks 4] [--reps 5]
 * (without ZCOLL_RANK it launches its ranks on loopback itself). Memory: ~5 x 4d bytes per rank.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { init, type Communicator } from '../lib/index.js';
import { kernels, nativeKernels } from '../lib/kernels/index.js';
import { Signum } from '../lib/compress/signum.js';
import { signVote } from '../lib/compress/vote-modes.js';
import type { SignVoteMode } from '../lib/compress/wire-bytes.js';
import { Prng } from '../lib/prng.js';
import { freePort } from '../lib/cluster/free-port.js';

const VARIANTS = ['allreduce-f32', 'signum-allgather', 'signum-server', 'signum-reduce'] as const;
type Variant = (typeof VARIANTS)[number];

interface Sample {
  variant: Variant;
  rep: number;
  stepMs: number;
  commMs: number;
  bytes: number;
}

function argOf(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

async function worker(): Promise<void> {
  const d = Number(argOf('d', '25000000'));
  const reps = Number(argOf('reps', '5'));
  const comm: Communicator = await init({ timeoutMs: 300_000 });
  const prng = new Prng(1000 + comm.rank);
  const grad = new Float32Array(d);
  for (let i = 0; i < d; i++) grad[i] = prng.next() - 0.5;
  const params = new Float32Array(d);
  const work = new Float32Array(d);
  const signum = new Signum(d, { lr: 1e-4, beta: 0.9, rank: comm.rank });
  const step = async (v: Variant): Promise<{ stepMs: number; commMs: number; bytes: number }> => {
    await comm.barrier();
    const c0 = comm.outbox.counters.payloadBytes + comm.outbox.counters.headerBytes;
    const t0 = performance.now();
    let commMs: number;
    if (v === 'allreduce-f32') {
      work.set(grad);
      const a = performance.now();
      await comm.allReduce(work, { op: 'avg', inPlace: true });
      commMs = performance.now() - a;
      for (let i = 0; i < d; i++) params[i] -= 1e-4 * work[i];
    } else {
      const signs = signum.signs(grad);
      const a = performance.now();
      const vote = await signVote(comm, signs, d, { mode: v.slice('signum-'.length) as SignVoteMode, root: 0 });
      commMs = performance.now() - a;
      signum.apply(params, vote);
    }
    const stepMs = performance.now() - t0;
    return { stepMs, commMs, bytes: comm.outbox.counters.payloadBytes + comm.outbox.counters.headerBytes - c0 };
  };
  for (const v of VARIANTS) await step(v); // warm-up: schedules, shared-memory regions, JIT
  for (let rep = 0; rep < reps; rep++) {
    for (const v of VARIANTS) {
      const s = await step(v);
      process.stdout.write(`RESULT ${JSON.stringify({ variant: v, rep, ...s })}\n`);
    }
  }
  if (comm.rank === 0) process.stdout.write(`KERNELS ${kernels === nativeKernels ? 'native' : 'js'}\n`);
  await comm.close();
}


function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function launch(): Promise<void> {
  const ranks = Number(argOf('ranks', '4'));
  const d = Number(argOf('d', '25000000'));
  const port = await freePort();
  const script = fileURLToPath(import.meta.url);
  const samples: Sample[][] = Array.from({ length: ranks }, () => []);
  let kernelName = '?';
  const codes = await Promise.all(
    Array.from({ length: ranks }, (_, rank) =>
      new Promise<number | null>((resolve) => {
        const child = spawn(process.execPath, [script, ...process.argv.slice(2)], {
          env: { ...process.env, ZCOLL_RANK: String(rank), ZCOLL_WORLD_SIZE: String(ranks), ZCOLL_MASTER_ADDR: '127.0.0.1', ZCOLL_MASTER_PORT: String(port) },
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let out = '';
        child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
        child.on('close', (code) => {
          for (const line of out.split('\n')) {
            if (line.startsWith('RESULT ')) samples[rank].push(JSON.parse(line.slice(7)) as Sample);
            if (line.startsWith('KERNELS ')) kernelName = line.slice(8);
          }
          resolve(code);
        });
      }),
    ),
  );
  if (codes.some((c) => c !== 0)) throw new Error(`a rank failed: exit codes ${codes.join(', ')}`);
  const lines = [
    `# d = ${d} (${(4 * d / 1e6).toFixed(0)} MB of float32), ${ranks} ranks on loopback, ${samples[0].length / VARIANTS.length} reps after a warm-up, kernels ${kernelName}, node ${process.version}`,
    '| variant | step ms (median) | step ms (best) | comm ms (median) | comm ms (best) | local ms (median) | MB sent per rank per step | step speed-up vs f32 | comm speed-up vs f32 |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  const rowsOf = (v: Variant): { step: number[]; comm: number[]; local: number[]; bytes: number } => {
    const reps = samples[0].filter((s) => s.variant === v).map((s) => s.rep);
    const step = reps.map((rep) => Math.max(...samples.map((rs) => rs.find((s) => s.variant === v && s.rep === rep)!.stepMs)));
    const comm = reps.map((rep) => Math.max(...samples.map((rs) => rs.find((s) => s.variant === v && s.rep === rep)!.commMs)));
    const local = reps.map((rep) => Math.max(...samples.map((rs) => rs.find((s) => s.variant === v && s.rep === rep)!).map((s) => s.stepMs - s.commMs)));
    const bytes = Math.max(...samples.flatMap((rs) => rs.filter((s) => s.variant === v).map((s) => s.bytes)));
    return { step, comm, local, bytes };
  };
  const base = rowsOf('allreduce-f32');
  for (const v of VARIANTS) {
    const r = rowsOf(v);
    const med = median(r.step);
    const cells = [med, Math.min(...r.step), median(r.comm), Math.min(...r.comm), median(r.local)].map((x) => x.toFixed(0));
    lines.push(`| ${v} | ${cells.join(' | ')} | ${(r.bytes / 1e6).toFixed(2)} | ${(median(base.step) / med).toFixed(1)}x | ${(median(base.comm) / median(r.comm)).toFixed(1)}x |`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

(process.env.ZCOLL_RANK === undefined ? launch() : worker()).catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});

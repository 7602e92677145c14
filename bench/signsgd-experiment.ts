/**
 * The Byzantine experiment of signSGD with majority vote (Bernstein, Zhao, Azizzadenesheli,
 * Anandkumar, ICLR 2019, section 5 / Fig. 4; issue 5 item 6): 7 rank processes train softmax
 * regression on MNIST digits (examples/data/mnist-digits.ts) with
 *   vote  Signum (lib/compress/signum.ts, beta 0.9) and the 'allgather' majority vote of
 *         lib/compress/vote-modes.ts in Byzantine mode (direct, never relayed), or
 *   avg   plain SGD on the gradient averaged by comm.allReduce(op 'avg') (ring all-reduce),
 * with k = 0..4 Byzantine ranks (the last k) running an attack of lib/faults/attacks on their OWN
 * gradient before it enters their optimizer state and the wire (so it reaches the others exactly as
 * a malicious process's message would): signflip (-mean of the honest gradients, omniscient: every
 * rank's batch is a seeded function of (step, rank), so the attacker recomputes the honest ones),
 * gaussian (N(0, 10^2) per coordinate, replacing its gradient) and scaledflip (-5 x own gradient).
 * Prints a markdown table of test accuracy and writes an SVG plot (vega-lite, rendered headless).
 * Run: node dist/bench/signsgd-experiment.js [--steps 200] [--batch 32] [--plot FILE.svg]
 * (without ZCOLL_RANK it launches its 7 ranks on loopback itself). Cost: steps x runs collectives.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import { init, type Communicator } from '../lib/index.js';
import { Signum } from '../lib/compress/signum.js';
import { signVote } from '../lib/compress/vote-modes.js';
import type { GradientAttack } from '../lib/faults/attacks/attack.js';
import { signFlip } from '../lib/faults/attacks/sign-flip.js';
import { gaussian } from '../lib/faults/attacks/gaussian.js';
import { scaledFlip } from '../lib/faults/attacks/scaled-flip.js';
import { Prng } from '../lib/prng.js';
import { loadDigits, PIXELS, CLASSES, type DigitSet } from '../examples/data/mnist-digits.js';
import { freePort } from '../lib/cluster/free-port.js';
import { benchArgs, numberArg } from './args.js';

const RANKS = 7;
const D = PIXELS * CLASSES + CLASSES; // softmax regression: W (10 x 784) then b (10)
const ATTACKS: Record<string, { make: () => GradientAttack; omniscient: boolean }> = {
  signflip: { make: () => signFlip(), omniscient: true },
  gaussian: { make: () => gaussian({ sigma: 10 }), omniscient: false },
  scaledflip: { make: () => scaledFlip({ scale: 5 }), omniscient: false },
};
const METHODS = ['vote', 'avg'] as const;
type Method = (typeof METHODS)[number];
const VOTE_LR = 0.002;
const AVG_LR = 0.5;

interface Run {
  method: Method;
  attack: string;
  byzantine: number;
}

interface RunResult extends Run {
  accuracy: number;
  seconds: number;
}

const args = benchArgs({
  name: 'signsgd-experiment',
  summary: 'The Byzantine experiment of signSGD with majority vote: 7 ranks, test accuracy per attack (prints a table; --plot writes an SVG).',
  options: {
    steps: { type: 'string', value: '200', describe: 'training steps per run' },
    batch: { type: 'string', value: '32', describe: 'samples per rank and step' },
    plot: { type: 'string', value: 'FILE.svg', describe: 'also draw the accuracies here' },
  },
});
function argOf(name: keyof typeof args, fallback: string): string {
  return args[name] ?? fallback;
}

/** Every run of the experiment, in the order all ranks execute them. */
function runs(): Run[] {
  const list: Run[] = [];
  for (const method of METHODS) {
    list.push({ method, attack: 'none', byzantine: 0 });
    for (const attack of Object.keys(ATTACKS)) for (let k = 1; k <= 4; k++) list.push({ method, attack, byzantine: k });
  }
  return list;
}

/** Mean cross-entropy gradient of softmax regression over the batch `rows` of `set`, into g (zeroed first). */
function gradient(params: Float32Array, set: DigitSet, rows: Int32Array, g: Float32Array): void {
  g.fill(0);
  const logits = new Float64Array(CLASSES);
  const bias = PIXELS * CLASSES;
  for (const row of rows) {
    const x = set.images.subarray(row * PIXELS, (row + 1) * PIXELS);
    let max = -Infinity;
    for (let c = 0; c < CLASSES; c++) {
      let z = params[bias + c];
      const w = c * PIXELS;
      for (let p = 0; p < PIXELS; p++) if (x[p] !== 0) z += params[w + p] * x[p];
      logits[c] = z;
      if (z > max) max = z;
    }
    let sum = 0;
    for (let c = 0; c < CLASSES; c++) sum += (logits[c] = Math.exp(logits[c] - max));
    for (let c = 0; c < CLASSES; c++) {
      const delta = (logits[c] / sum - (set.labels[row] === c ? 1 : 0)) / rows.length;
      g[bias + c] += delta;
      const w = c * PIXELS;
      for (let p = 0; p < PIXELS; p++) if (x[p] !== 0) g[w + p] += delta * x[p];
    }
  }
}

function accuracy(params: Float32Array, set: DigitSet): number {
  let right = 0;
  for (let i = 0; i < set.count; i++) {
    let best = 0;
    let bestZ = -Infinity;
    for (let c = 0; c < CLASSES; c++) {
      let z = params[PIXELS * CLASSES + c];
      for (let p = 0; p < PIXELS; p++) z += params[c * PIXELS + p] * set.images[i * PIXELS + p];
      if (z > bestZ) [bestZ, best] = [z, c];
    }
    if (best === set.labels[i]) right++;
  }
  return right / set.count;
}

/** Rank r's batch at `step`: `batch` rows of its shard (rows r, r + R, r + 2R, ...), seeded by (step, r). */
function batchOf(step: number, rank: number, batch: number, trainCount: number): Int32Array {
  const prng = new Prng((step * 1_000_003 + rank * 7919 + 11) >>> 0);
  const shard = Math.floor(trainCount / RANKS);
  const rows = new Int32Array(batch);
  for (let i = 0; i < batch; i++) rows[i] = rank + RANKS * prng.int(shard);
  return rows;
}

async function worker(): Promise<void> {
  const steps = numberArg('signsgd-experiment', 'steps', args.steps, 200);
  const batch = numberArg('signsgd-experiment', 'batch', args.batch, 32);
  const comm: Communicator = await init({ timeoutMs: 120_000 });
  const { train, test } = loadDigits(7000, 2000, 1);
  const rank = comm.rank;
  for (const run of runs()) {
    const t0 = performance.now();
    const params = new Float32Array(D);
    const signum = new Signum(D, { lr: VOTE_LR, beta: 0.9, rank });
    const isByzantine = rank >= RANKS - run.byzantine;
    const attack = run.attack === 'none' ? undefined : ATTACKS[run.attack];
    const attackFn = attack?.make();
    const own = new Float32Array(D);
    for (let step = 0; step < steps; step++) {
      gradient(params, train, batchOf(step, rank, batch, train.count), own);
      let g: Float32Array = own;
      if (isByzantine && attack !== undefined && attackFn !== undefined) {
        const honest: Float32Array[] = [];
        if (attack.omniscient) {
          for (let r = 0; r < RANKS - run.byzantine; r++) {
            const h = new Float32Array(D);
            gradient(params, train, batchOf(step, r, batch, train.count), h);
            honest.push(h);
          }
        }
        g = attackFn({ own, honest, prng: new Prng((step * 31 + rank * 1009 + 5) >>> 0) });
      }
      if (run.method === 'vote') {
        const vote = await signVote(comm, signum.signs(g), D, { byzantine: true });
        signum.apply(params, vote);
      } else {
        const mean = await comm.allReduce(g, { op: 'avg' });
        for (let i = 0; i < D; i++) params[i] -= AVG_LR * mean[i];
      }
    }
    // A diverged run may hold NaN weights: it then classifies nothing right, which is its accuracy.
    const acc = rank === 0 ? accuracy(params, test) : 0;
    if (rank === 0) process.stdout.write(`RESULT ${JSON.stringify({ ...run, accuracy: acc, seconds: (performance.now() - t0) / 1000 })}\n`);
  }
  await comm.close();
}


async function launch(): Promise<void> {
  const port = await freePort();
  const script = fileURLToPath(import.meta.url);
  const results: RunResult[] = [];
  const t0 = performance.now();
  const codes = await Promise.all(
    Array.from({ length: RANKS }, (_, rank) =>
      new Promise<number | null>((resolve) => {
        const child = spawn(process.execPath, [script, ...process.argv.slice(2)], {
          env: { ...process.env, ZCOLL_RANK: String(rank), ZCOLL_WORLD_SIZE: String(RANKS), ZCOLL_MASTER_ADDR: '127.0.0.1', ZCOLL_MASTER_PORT: String(port) },
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let buf = '';
        child.stdout!.on('data', (d: Buffer) => {
          buf += d.toString();
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            if (line.startsWith('RESULT ')) {
              const r = JSON.parse(line.slice(7)) as RunResult;
              results.push(r);
              process.stderr.write(`${r.method} ${r.attack} k=${r.byzantine}: ${(100 * r.accuracy).toFixed(1)}% (${r.seconds.toFixed(1)} s)\n`);
            }
          }
        });
        child.on('close', (code) => resolve(code));
      }),
    ),
  );
  if (codes.some((c) => c !== 0)) throw new Error(`a rank failed: exit codes ${codes.join(', ')}`);
  const steps = argOf('steps', '200');
  const batch = argOf('batch', '32');
  const lines = [
    `# ${RANKS} ranks, softmax regression (d = ${D}), ${steps} steps, batch ${batch} per rank, 7000 train / 2000 test digits; ${((performance.now() - t0) / 1000).toFixed(0)} s`,
    `# vote: Signum lr ${VOTE_LR}, beta 0.9, allgather vote (Byzantine mode); avg: SGD lr ${AVG_LR} on allReduce avg`,
    '| method | attack | k = 0 | 1 | 2 | 3 | 4 (of 7) |',
    '|---|---|---|---|---|---|---|',
  ];
  const acc = (m: string, a: string, k: number): string => {
    const r = results.find((x) => x.method === m && x.byzantine === k && (k === 0 || x.attack === a));
    return r === undefined ? '-' : (100 * r.accuracy).toFixed(1);
  };
  for (const m of METHODS) for (const a of Object.keys(ATTACKS)) lines.push(`| ${m} | ${a} | ${[0, 1, 2, 3, 4].map((k) => acc(m, a, k)).join(' | ')} |`);
  process.stdout.write(`${lines.join('\n')}\n`);
  const plot = argOf('plot', '');
  if (plot !== '') {
    const values = results.flatMap((r) =>
      r.byzantine === 0 ? Object.keys(ATTACKS).map((a) => ({ ...r, attack: a })) : [r],
    ).map((r) => ({ method: r.method === 'vote' ? 'vote (Signum)' : 'avg (SGD)', attack: r.attack, fraction: r.byzantine / RANKS, accuracy: 100 * r.accuracy }));
    const spec: vl.TopLevelSpec = {
      $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
      data: { values },
      facet: { column: { field: 'attack', type: 'nominal', title: 'attack' } },
      spec: {
        width: 220,
        height: 200,
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'fraction', type: 'quantitative', title: 'Byzantine fraction (k / 7)' },
          y: { field: 'accuracy', type: 'quantitative', title: 'test accuracy (%)', scale: { domain: [0, 100] } },
          color: { field: 'method', type: 'nominal', title: 'method' },
        },
      },
    };
    const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
    writeFileSync(plot, await view.toSVG());
    process.stderr.write(`wrote ${plot}\n`);
  }
}

(process.env.ZCOLL_RANK === undefined ? launch() : worker()).catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});

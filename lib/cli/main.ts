/**
 * The zcoll command: thin. Parse, call the library, print, exit with its code.
 *   zcoll bench [collective] [flags]   nccl-tests style sweep (default: all-reduce over the config's ranks)
 *   zcoll                              the usage, exit 1 (as git and npm)
 *   zcoll report results.json ...      the table of a --json result again, --plot FILE.svg, --csv FILE
 *   zcoll launch -n N -- CMD ...       start N local ranks of CMD
 *   zcoll topo                         what MULTITREE makes of the config's topology
 *   zcoll keys [--hosts A,B --out DIR]  CURVE key pairs for security.curve
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { isZcollError, ZcollError } from '../errors.js';
import { REDUCE_OPS, ALLREDUCE_ALGORITHMS, RS_AG_CALL_ALGORITHMS, type AllReduceAlgorithm, type ReduceOp } from '../comm/communicator.js';
import { loadConfig, totalRanks } from '../cluster/config.js';
import { buildTopology, hostTopologySpec, topologyNeedsHosts } from '../cluster/topology.js';
import { DTYPES, type DType } from '../dtype.js';
import { bench, insideLauncher } from './bench.js';
import { BENCH_COLLECTIVES, type BenchCollective } from './bench-table.js';
import { launch } from './launch.js';
import { report } from './report.js';
import { parseBytes, sizeSweep } from './sizes.js';
import { topoReport } from './topo.js';
import { keysCommand } from './keys.js';

/** Collectives whose inputs are generated per rank for every row: a smaller default sweep. */
const HEAVY: readonly BenchCollective[] = ['robust', 'signsgd', 'coded'];

async function main(argv: string[]): Promise<number> {
  let code = 0;
  const cli = yargs(argv)
    .scriptName('zcoll')
    .parserConfiguration({ 'populate--': true })
    .strict()
    .command(
      'launch',
      'start this host\'s ranks of a command: zcoll launch -n 3 -- node train.mjs',
      (y) =>
        y
          .option('n', { alias: 'nprocs', type: 'number', describe: 'number of local ranks (a one-host world)' })
          .option('host', { type: 'string', describe: 'start the ranks of this host of the config' })
          .option('config', { type: 'string', describe: 'cluster config file (default ./cluster.config.json or the embedded one)' })
          .option('port', { type: 'number', describe: 'rendezvous port (default: the config\'s)' }),
      async (a) => {
        const command = ((a['--'] as string[] | undefined) ?? []).map(String);
        code = await launch({ nprocs: a.n, host: a.host, config: a.config, port: a.port, command });
      },
    )
    .command(
      'bench [collective]',
      'bandwidth sweep of a collective in the style of nccl-tests',
      (y) =>
        y
          .positional('collective', { type: 'string', default: 'allreduce', describe: `what to time: ${BENCH_COLLECTIVES.join(', ')}` })
          .option('b', { alias: 'min-bytes', type: 'string', describe: 'smallest size (K, M, G suffixes; default 4K, 4 for latency)' })
          .option('e', { alias: 'max-bytes', type: 'string', describe: 'largest size (default 64M; 4M for signsgd and robust, 256K for coded, 1M for latency; -b when -b is larger)' })
          .option('f', { alias: 'step-factor', type: 'number', default: 2, describe: 'multiply the size by this each step' })
          .option('n', { alias: 'iters', type: 'number', default: 20, describe: 'timed iterations per size' })
          .option('w', { alias: 'warmup', type: 'number', default: 5, describe: 'untimed iterations per size' })
          .option('c', { alias: 'check', type: 'number', default: 1, describe: 'check every result (1) or not (0)' })
          .option('o', { alias: 'op', type: 'string', default: 'sum', choices: REDUCE_OPS as string[], describe: 'reduction' })
          .option('d', { alias: 'dtype', type: 'string', default: 'float32', choices: DTYPES as readonly string[] as string[], describe: 'element type' })
          .option('a', { alias: 'algorithm', type: 'string', default: 'auto', describe: `all-reduce algorithm (${ALLREDUCE_ALGORITHMS.join(', ')})` })
          .option('root', { type: 'number', default: 0, describe: 'root rank (broadcast, signsgd --mode server)' })
          .option('mode', { type: 'string', default: 'allgather', describe: 'signsgd: server, allgather or reduce' })
          .option('aggregator', { type: 'string', default: 'median', describe: 'robust: mean, median, trimmed-mean, krum, multi-krum, gm, cc, bgmd' })
          .option('byz-f', { type: 'number', describe: 'robust: Byzantine rows the aggregator assumes (default: the --byzantine ranks)' })
          .option('scheme', { type: 'string', describe: 'coded: none (wait for all), gc, srsgc, msgc (default gc)' })
          .option('s', { type: 'number', describe: 'coded gc: stragglers tolerated per round (default 1)' })
          .option('B', { type: 'number', describe: 'coded srsgc, msgc: burst length B (default 1)' })
          .option('W', { type: 'number', describe: 'coded srsgc, msgc: window W (default 2)' })
          .option('lambda', { type: 'number', describe: 'coded srsgc, msgc: stragglers per window lambda (default 1)' })
          .option('mu', { type: 'number', describe: 'coded: deadline factor, a round ends at (1 + mu) x the fastest worker (default 1)' })
          .option('jobs', { type: 'number', describe: 'coded: gradient jobs per size (default: -n)' })
          .option('work-ms', { type: 'number', describe: 'coded: emulated work of a worker per round at the uncoded load, ms, scaled by the scheme\'s load (default 10)' })
          .option('seed', { type: 'number', default: 1, describe: 'seed of generated gradients and of the fault plan' })
          .option('faults', { type: 'string', describe: 'fault plan file (JSON: stragglers, byzantine, kill, seed)' })
          .option('stragglers', { type: 'string', describe: "straggler model, e.g. 'ge:p=0.1,q=0.7,slow=3' or 'fixed:ranks=1,3,delay=50ms'" })
          .option('byzantine', { type: 'string', array: true, describe: "Byzantine ranks, e.g. 'alie:ranks=2,tau=1.5', 'signflip:ranks=1', 'gaussian:ranks=1,sigma=10', 'nan:ranks=3'" })
          .option('kill', { type: 'string', describe: "crash a rank at a step, e.g. 'rank=2,at=step5'" })
          .option('ranks', { type: 'number', describe: 'start this many local ranks (default: the config\'s)' })
          .option('host', { type: 'string', describe: 'start the ranks of this host of the config (run on every host)' })
          .option('config', { type: 'string', describe: 'cluster config file' })
          .option('port', { type: 'number', describe: 'rendezvous port (default: the config\'s)' })
          .option('json', { type: 'string', describe: 'write the results as JSON (bench/bench-results.schema.json)' })
          .option('csv', { type: 'string', describe: 'write one CSV line per row to this file' })
          .option('plot', { type: 'string', describe: 'draw busbw vs size (and time per round for fault runs) as SVG' })
          .option('trace', { type: 'string', describe: 'write a Chrome trace (chrome://tracing, Perfetto) of every rank' })
          .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'no progress bar' }),
      async (a) => {
        const collective = String(a.collective);
        if (!(BENCH_COLLECTIVES as readonly string[]).includes(collective)) throw new ZcollError('EINVAL', `zcoll bench: unknown collective '${collective}' (one of ${BENCH_COLLECTIVES.join(', ')})`);
        if (!ALLREDUCE_ALGORITHMS.includes(a.a)) throw new ZcollError('EINVAL', `-a/--algorithm: unknown algorithm '${a.a}' (one of ${ALLREDUCE_ALGORITHMS.join(', ')})`);
        // reducescatter and allgather have their own schedules: auto, ring or hierarchical.
        const rsAg = collective === 'reducescatter' || collective === 'allgather';
        if (a.a !== 'auto' && collective !== 'allreduce' && !(rsAg && RS_AG_CALL_ALGORITHMS.includes(a.a))) throw new ZcollError('EINVAL', `-a/--algorithm ${a.a} applies to allreduce${rsAg ? ` (${collective}: ${RS_AG_CALL_ALGORITHMS.join(', ')})` : ' only'}, not ${collective}`);
        if (a.ranks !== undefined && !(Number.isInteger(a.ranks) && a.ranks >= 1)) throw new ZcollError('EINVAL', `--ranks must be a positive integer, got ${a.ranks}`);
        const defaultMin = collective === 'latency' ? '4' : '4K';
        const minBytes = parseBytes(a.b ?? defaultMin, '-b/--min-bytes');
        const defaultMax = collective === 'coded' ? '256K' : collective === 'latency' ? '1M' : HEAVY.includes(collective as BenchCollective) ? '4M' : '64M';
        let maxBytes = parseBytes(a.e ?? defaultMax, '-e/--max-bytes');
        if (a.e === undefined && minBytes > maxBytes) {
          // -b alone asks for sizes from b on: run b (the ranks re-parse the same argv: the launcher says it once).
          maxBytes = minBytes;
          if (!insideLauncher()) process.stderr.write(`zcoll bench: -b ${a.b} is larger than the default -e ${defaultMax} of ${collective}: taking -e ${a.b}\n`);
        }
        sizeSweep(minBytes, maxBytes, a.f); // argument errors before any rank starts
        const self = [process.execPath, process.argv[1], ...argv];
        code = await bench(
          {
            collective: collective as BenchCollective,
            minBytes,
            maxBytes,
            stepFactor: a.f,
            iters: a.n,
            warmup: a.w,
            check: a.c !== 0,
            op: a.o as ReduceOp,
            dtype: a.d as DType,
            algorithm: a.a as AllReduceAlgorithm,
            root: a.root,
            mode: a.mode,
            aggregator: a.aggregator,
            seed: a.seed,
            quiet: a.quiet,
            faults: {
              ...(a.faults !== undefined ? { file: a.faults } : {}),
              ...(a.stragglers !== undefined ? { stragglers: a.stragglers } : {}),
              ...(a.byzantine !== undefined ? { byzantine: a.byzantine.map(String) } : {}),
              ...(a.kill !== undefined ? { kill: a.kill } : {}),
            },
            ...(a['byz-f'] !== undefined ? { f: a['byz-f'] } : {}),
            ...(a.scheme !== undefined ? { scheme: a.scheme } : {}),
            coded: { s: a.s, B: a.B, W: a.W, lambda: a.lambda, mu: a.mu, jobs: a.jobs, workMs: a['work-ms'] },
            ...(a.ranks !== undefined ? { ranks: a.ranks } : {}),
            ...(a.host !== undefined ? { host: a.host } : {}),
            ...(a.config !== undefined ? { config: a.config } : {}),
            ...(a.port !== undefined ? { port: a.port } : {}),
            ...(a.json !== undefined ? { json: a.json } : {}),
            ...(a.csv !== undefined ? { csv: a.csv } : {}),
            ...(a.plot !== undefined ? { plot: a.plot } : {}),
            ...(a.trace !== undefined ? { trace: a.trace } : {}),
          },
          self,
        );
      },
    )
    .command(
      'report <files..>',
      'print the table of zcoll bench --json results again; --plot FILE.svg draws them',
      (y) =>
        y
          .positional('files', { type: 'string', array: true, demandOption: true, describe: 'results JSON files' })
          .option('plot', { type: 'string', describe: 'draw busbw vs size (and time per round for fault runs) as SVG' })
          .option('csv', { type: 'string', describe: 'write the rows of every file as CSV' }),
      async (a) => {
        code = await report({ files: (a.files ?? []).map(String), ...(a.plot !== undefined ? { plot: a.plot } : {}), ...(a.csv !== undefined ? { csv: a.csv } : {}) });
      },
    )
    .command(
      'topo',
      'what MULTITREE makes of the config\'s topology: steps, trees, verifiers, simulated busbw',
      (y) =>
        y
          .option('config', { type: 'string', describe: 'cluster config file (its "topology")' })
          .option('ranks', { type: 'number', describe: 'ranks (default: the config\'s)' })
          .option('b', { alias: 'min-bytes', type: 'string', default: '4K', describe: 'smallest simulated size' })
          .option('e', { alias: 'max-bytes', type: 'string', default: '64M', describe: 'largest simulated size' })
          .option('f', { alias: 'step-factor', type: 'number', default: 4, describe: 'size factor' })
          .option('json', { type: 'boolean', default: false, describe: 'print JSON' }),
      (a) => {
        const config = loadConfig(a.config);
        const nranks = a.ranks ?? totalRanks(config);
        const sizes = sizeSweep(parseBytes(a.b, '-b/--min-bytes'), parseBytes(a.e, '-e/--max-bytes'), a.f);
        // A hierarchical topology without hosts takes them from where the ranks run: here, the config's hosts list.
        const spec = topologyNeedsHosts(config.topology) && a.ranks === undefined ? hostTopologySpec(config.topology, config.hosts.flatMap((h, k) => new Array<number>(h.ranks).fill(k))) : config.topology;
        process.stdout.write(`${topoReport(buildTopology(spec, nranks), { sizes, json: a.json })}\n`);
      },
    )
    .command(
      'keys',
      'CURVE key pairs for security.curve: zcoll keys --hosts node0,node1 --out DIR',
      (y) =>
        y
          .option('hosts', { type: 'string', describe: 'comma-separated host names: one key pair each' })
          .option('out', { type: 'string', describe: 'directory for <host>.key (mode 600) and <host>.pub' })
          .option('force', { type: 'boolean', describe: 'overwrite existing key files' }),
      () => {
        // keys.ts parses its own arguments (and prints its usage on errors).
        code = keysCommand(argv.slice(argv.indexOf('keys') + 1));
      },
    )
    .demandCommand(1, 'name a command: bench, report, launch, topo or keys (zcoll --help)')
    .fail((msg, err) => {
      throw err ?? new ZcollError('EINVAL', msg);
    })
    .help();
  if (argv.length === 0) {
    // A bare `zcoll` prints its usage and exits 1, as git and npm do (it used to start a long bench).
    process.stdout.write(`${await cli.getHelp()}\n`);
    return 1;
  }
  await cli.parseAsync();
  return code;
}

main(hideBin(process.argv)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`zcoll: ${isZcollError(e) ? e.message : (e as Error).stack ?? String(e)}\n`);
    process.exitCode = isZcollError(e) && (e.code === 'EINVAL' || e.code === 'ECONFIG') ? 2 : 1;
  },
);

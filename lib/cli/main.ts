/**
 * The zcoll command: thin. Parse, call the library, print, exit with its code.
 *   zcoll bench [flags]             nccl-tests style all-reduce sweep (default: the config's ranks)
 *   zcoll launch -n N -- CMD ...    start N local ranks of CMD
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { fileURLToPath } from 'node:url';
import { isZcollError, ZcollError } from '../errors.js';
import { REDUCE_OPS, ALLREDUCE_ALGORITHMS, type ReduceOp } from '../comm/communicator.js';
import { DTYPES, type DType } from '../dtype.js';
import { bench } from './bench.js';
import { launch } from './launch.js';
import { parseBytes, sizeSweep } from './sizes.js';

const BIN = fileURLToPath(new URL('../../../bin/zcoll.js', import.meta.url));

async function main(argv: string[]): Promise<number> {
  let code = 0;
  await yargs(argv)
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
      ['bench', '$0'],
      'all-reduce bandwidth sweep in the style of nccl-tests',
      (y) =>
        y
          .option('b', { alias: 'min-bytes', type: 'string', default: '4K', describe: 'smallest size (K, M, G suffixes)' })
          .option('e', { alias: 'max-bytes', type: 'string', default: '64M', describe: 'largest size' })
          .option('f', { alias: 'step-factor', type: 'number', default: 2, describe: 'multiply the size by this each step' })
          .option('n', { alias: 'iters', type: 'number', default: 20, describe: 'timed iterations per size' })
          .option('w', { alias: 'warmup', type: 'number', default: 5, describe: 'untimed iterations per size' })
          .option('c', { alias: 'check', type: 'number', default: 1, describe: 'check every result (1) or not (0)' })
          .option('o', { alias: 'op', type: 'string', default: 'sum', choices: REDUCE_OPS as string[], describe: 'reduction' })
          .option('d', { alias: 'dtype', type: 'string', default: 'float32', choices: DTYPES as readonly string[] as string[], describe: 'element type' })
          .option('a', { alias: 'algorithm', type: 'string', default: 'auto', choices: ALLREDUCE_ALGORITHMS as string[], describe: 'all-reduce algorithm' })
          .option('ranks', { type: 'number', describe: 'start this many local ranks (default: the config\'s)' })
          .option('host', { type: 'string', describe: 'start the ranks of this host of the config (run on every host)' })
          .option('config', { type: 'string', describe: 'cluster config file' })
          .option('port', { type: 'number', describe: 'rendezvous port (default: the config\'s)' })
          .option('json', { type: 'string', describe: 'write one JSON object per row to this file' }),
      async (a) => {
        for (const [flag, v] of [['-n/--iters', a.n], ['-w/--warmup', a.w]] as const) {
          if (!Number.isInteger(v) || v < (flag === '-n/--iters' ? 1 : 0)) throw new ZcollError('EINVAL', `${flag} must be a ${flag === '-n/--iters' ? 'positive' : 'non-negative'} integer, got ${v}`);
        }
        if (a.ranks !== undefined && !(Number.isInteger(a.ranks) && a.ranks >= 1)) throw new ZcollError('EINVAL', `--ranks must be a positive integer, got ${a.ranks}`);
        const minBytes = parseBytes(a.b, '-b/--min-bytes');
        const maxBytes = parseBytes(a.e, '-e/--max-bytes');
        sizeSweep(minBytes, maxBytes, a.f); // argument errors before any rank starts
        const self = [process.execPath, BIN, ...argv];
        code = await bench(
          {
            minBytes,
            maxBytes,
            stepFactor: a.f,
            iters: a.n,
            warmup: a.w,
            check: a.c !== 0,
            op: a.o as ReduceOp,
            dtype: a.d as DType,
            algorithm: a.a as 'auto' | 'ring',
            ...(a.ranks !== undefined ? { ranks: a.ranks } : {}),
            ...(a.host !== undefined ? { host: a.host } : {}),
            ...(a.config !== undefined ? { config: a.config } : {}),
            ...(a.port !== undefined ? { port: a.port } : {}),
            ...(a.json !== undefined ? { json: a.json } : {}),
          },
          self,
        );
      },
    )
    .fail((msg, err) => {
      throw err ?? new ZcollError('EINVAL', msg);
    })
    .help()
    .parseAsync();
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

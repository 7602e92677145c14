// Bad input from the user fails at once with EINVAL (arguments, options) or ECONFIG (config file,
// environment), and the message names what was wrong (the argument, the option, the config key and
// file, the variable) so a user can act on it. A rejected call does not poison the communicator.
import t, { type Test as Tap } from 'tap';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { init, isZcollError, loadConfig, parseConfig, type Communicator } from '../../lib/index.js';

const ONE_HOST = { hosts: [{ name: 'h', address: '127.0.0.1', ranks: 1 }] };

async function failsWith(t: Tap, what: string, fn: () => unknown, code: string, names: RegExp): Promise<void> {
  try {
    await fn();
  } catch (e) {
    t.ok(isZcollError(e) && e.code === code && names.test(e.message), `${what}: ${code} naming ${names}`, { got: isZcollError(e) ? `${e.code} ${e.message}` : String(e) });
    return;
  }
  t.fail(`${what}: no error`);
}

t.test('init options and environment', async (t) => {
  const config = parseConfig(ONE_HOST, 'inline');
  const env = {};
  const bad: [string, unknown, RegExp][] = [
    ['options not an object', 'fast', /options must be an object/],
    ['unknown option (typo)', { config, env, timeout: 5 }, /unknown option 'timeout'/],
    ['negative timeout', { config, env, timeoutMs: -1 }, /'timeoutMs'.*-1/],
    ['NaN timeout', { config, env, timeoutMs: NaN }, /'timeoutMs'/],
    ['string timeout', { config, env, timeoutMs: '100' }, /'timeoutMs'/],
    ['segment not a multiple of 8', { config, env, segmentBytes: 100 }, /'segmentBytes'.*100/],
    ['non-integer segment', { config, env, segmentBytes: 64.5 }, /'segmentBytes'/],
    ['tiny segment', { config, env, segmentBytes: 8 }, /'segmentBytes'/],
    ['unknown transport', { config, env, transport: 'udp' }, /'transport'.*udp/],
    ['config of the wrong type', { config: 42, env }, /'config'/],
  ];
  for (const [what, options, names] of bad) await failsWith(t, what, () => init(options as never), 'EINVAL', names);
  await failsWith(t, 'ZCOLL_TIMEOUT_MS not a number', () => init({ config, env: { ZCOLL_TIMEOUT_MS: 'soon' } }), 'ECONFIG', /ZCOLL_TIMEOUT_MS="soon"/);
  await failsWith(t, 'ZCOLL_TRANSPORT unknown', () => init({ config, env: { ZCOLL_TRANSPORT: 'carrier-pigeon' } }), 'ECONFIG', /ZCOLL_TRANSPORT="carrier-pigeon"/);
  await failsWith(t, 'ZCOLL_RANK negative', () => init({ config, env: { ZCOLL_RANK: '-1', ZCOLL_WORLD_SIZE: '2' } }), 'ECONFIG', /ZCOLL_RANK="-1"/);
  await failsWith(t, 'ZCOLL_RANK without a world size', () => init({ config, env: { ZCOLL_RANK: '1' } }), 'ECONFIG', /ZCOLL_WORLD_SIZE/);
  await failsWith(t, 'rank beyond the world', () => init({ config, env: { ZCOLL_RANK: '3', ZCOLL_WORLD_SIZE: '2' } }), 'ECONFIG', /ZCOLL_RANK=3 is not below ZCOLL_WORLD_SIZE=2/);
  await failsWith(t, 'config algorithm unknown', () => init({ config: parseConfig({ ...ONE_HOST, algorithm: 'fancy' }, '/etc/c.json'), env }), 'ECONFIG', /\/etc\/c\.json: "algorithm".*fancy/);
  await failsWith(t, 'config file missing', () => init({ config: '/nonexistent/zcoll.json', env }), 'ECONFIG', /\/nonexistent\/zcoll\.json/);
});

t.test('config file: every key is validated, each error names the key and the file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'zcoll-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'cluster.config.json');
  const h = { name: 'n0', address: '10.0.0.1', ranks: 2 };
  const cases: [unknown, string][] = [
    [[h], '(top level)'],
    [{}, 'hosts'],
    [{ hosts: [] }, 'hosts'],
    [{ hosts: [7] }, 'hosts[0]'],
    [{ hosts: [{ ...h, name: '' }] }, 'hosts[0].name'],
    [{ hosts: [h, { ...h }] }, 'hosts[1].name'],
    [{ hosts: [{ ...h, address: 5 }] }, 'hosts[0].address'],
    [{ hosts: [{ ...h, ranks: 0 }] }, 'hosts[0].ranks'],
    [{ hosts: [{ ...h, ranks: 1.5 }] }, 'hosts[0].ranks'],
    [{ hosts: [{ ...h, ranks: '2' }] }, 'hosts[0].ranks'],
    [{ hosts: [{ ...h, gpus: -1 }] }, 'hosts[0].gpus'],
    [{ hosts: [{ ...h, cores: 8 }] }, 'hosts[0].cores'],
    [{ hosts: [h], port: 0 }, 'port'],
    [{ hosts: [h], port: 70000 }, 'port'],
    [{ hosts: [h], port: '29500' }, 'port'],
    [{ hosts: [h], timeoutMs: 0 }, 'timeoutMs'],
    [{ hosts: [h], timeoutMs: -5 }, 'timeoutMs'],
    [{ hosts: [h], segmentBytes: 1004 }, 'segmentBytes'],
    [{ hosts: [h], segmentBytes: 32 }, 'segmentBytes'],
    [{ hosts: [h], transport: 'udp' }, 'transport'],
    [{ hosts: [h], algorithm: 5 }, 'algorithm'],
    [{ hosts: [h], algorithm: '' }, 'algorithm'],
    [{ hosts: [h], timeout: 5 }, 'timeout'],
    [{ hosts: [h], $schema: 5 }, '$schema'],
    [{ hosts: [h], security: [] }, 'security'],
  ];
  for (const [raw, key] of cases) {
    writeFileSync(file, JSON.stringify(raw));
    try {
      loadConfig(file, {});
      t.fail(`${key}: accepted ${JSON.stringify(raw)}`);
    } catch (e) {
      t.ok(isZcollError(e, 'ECONFIG') && e.message.includes(`"${key}"`) && e.message.includes(file), `"${key}" is named with the file`, { got: (e as Error).message });
    }
  }
  writeFileSync(file, '{ "hosts": [ }');
  await failsWith(t, 'not JSON', () => loadConfig(file, {}), 'ECONFIG', new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: not valid JSON`));
  writeFileSync(file, JSON.stringify({ hosts: [h], port: 29501, timeoutMs: 1000, segmentBytes: 4096, transport: 'tcp', algorithm: 'ring' }));
  const ok = loadConfig(file, {});
  t.same([ok.port, ok.timeoutMs, ok.segmentBytes, ok.transport, ok.algorithm, ok.source], [29501, 1000, 4096, 'tcp', 'ring', file], 'a valid file loads as written');
});

t.test('collective arguments (a world of one)', async (t) => {
  const comm: Communicator = await init({ config: parseConfig(ONE_HOST, 'inline'), env: {}, timeoutMs: 5000 });
  t.teardown(() => comm.close());
  const x = new Float32Array([1, 2, 3, 4]);
  const cases: [string, () => Promise<unknown>, RegExp][] = [
    ['allReduce of a string', () => comm.allReduce('x' as never), /argument 'x' passed to 'allreduce'.*got string/],
    ['allReduce of a plain array', () => comm.allReduce([1, 2, 3] as never), /argument 'x' passed to 'allreduce'.*got number/],
    ['allReduce of a Uint8Array', () => comm.allReduce(new Uint8Array(4) as never), /argument 'x'.*Uint8Array/],
    ['allReduce of null', () => comm.allReduce(null as never), /argument 'x'.*null/],
    ['unknown reduction op', () => comm.allReduce(x, { op: 'prod' as never }), /option 'op' passed to 'allReduce' must be one of sum, avg, min, max, got prod/],
    ['unknown algorithm', () => comm.allReduce(x, { algorithm: 'fancy' as never }), /option 'algorithm' passed to 'allReduce'.*got fancy/],
    ['negative timeout', () => comm.allReduce(x, { timeoutMs: -5 }), /option 'timeoutMs' passed to 'allreduce'.*-5/],
    ['NaN timeout', () => comm.barrier({ timeoutMs: NaN }), /option 'timeoutMs' passed to 'barrier'/],
    ['string timeout', () => comm.allGather(x, { timeoutMs: '100' as never }), /option 'timeoutMs' passed to 'allgather'/],
    ['reduceScatter op', () => comm.reduceScatter(x, { op: 'mean' as never }), /option 'op' passed to 'reduceScatter'/],
    ['allGather of a number', () => comm.allGather(5 as never), /argument 'x' passed to 'allgather'.*number/],
    ['negative root', () => comm.broadcast(x, { root: -1 }), /option 'root' passed to 'broadcast' must be a rank in 0..0, got -1/],
    ['fractional root', () => comm.broadcast(x, { root: 0.5 }), /option 'root'.*0.5/],
    ['root beyond the world', () => comm.gather(x, { root: 1 }), /option 'root' passed to 'gather'.*got 1/],
    ['string root', () => comm.gather(x, { root: '0' as never }), /option 'root' passed to 'gather'/],
    ['send to itself', () => comm.send(x, 0), /argument 'dst' passed to 'send'/],
    ['send to a fractional rank', () => comm.send(x, 1.5), /argument 'dst'.*1.5/],
    ['recv from a rank outside', () => comm.recv(x, 5), /argument 'src' passed to 'recv'.*got 5/],
    // A typo in an option name is an error, not a silent default ({ opp: 'max' } would run a sum).
    ['misspelt option', () => comm.allReduce(x, { opp: 'max' } as never), /unknown option 'opp' passed to 'allReduce' \(known: op, algorithm, timeoutMs, inPlace\)/],
    ['inPlace on gather', () => comm.gather(x, { inPlace: true } as never), /unknown option 'inPlace' passed to 'gather'/],
    ['unknown algorithm on reduceScatter', () => comm.reduceScatter(x, { algorithm: 'tree' } as never), /option 'algorithm' passed to 'reduceScatter' must be one of auto, ring, hierarchical, got tree/],
    ['unknown algorithm on allGather', () => comm.allGather(x, { algorithm: 'multitree' } as never), /option 'algorithm' passed to 'allGather' must be one of auto, ring, hierarchical, got multitree/],
    ['unknown option on allGather', () => comm.allGather(x, { root: 0 } as never), /unknown option 'root' passed to 'allGather'/],
    ['unknown option on broadcast', () => comm.broadcast(x, { op: 'sum' } as never), /unknown option 'op' passed to 'broadcast'/],
    ['unknown option on exchangeDirect', () => comm.exchangeDirect(x, { tag: 1 } as never), /unknown option 'tag' passed to 'exchangeDirect'/],
    ['unknown option on barrier', async () => comm.barrier({ timeout: 5 } as never), /unknown option 'timeout' passed to 'barrier'/],
    ['unknown option on send', () => comm.send(x, 0, { root: 1 } as never), /unknown option 'root' passed to 'send'/],
    ['options of null', () => comm.allReduce(x, null as never), /argument 'options' passed to 'allReduce' must be an object, got null/],
    ['options as an array', () => comm.broadcast(x, [] as never), /argument 'options' passed to 'broadcast' must be an object/],
  ];
  for (const [what, fn, names] of cases) await failsWith(t, what, fn, 'EINVAL', names);
  // allReduce is not an async function (one promise fewer per call): a bad call still returns a rejected promise, never throws.
  let returned: unknown;
  t.doesNotThrow(() => (returned = comm.allReduce('x' as never)), 'a bad allReduce call does not throw');
  t.ok(returned instanceof Promise, 'it returns a promise');
  await t.rejects(returned as Promise<unknown>, { code: 'EINVAL' }, 'rejected with EINVAL');
  const after = await comm.allReduce(x, { op: 'max' });
  t.same(Array.from(after), [1, 2, 3, 4], 'the rejected calls left the communicator usable');
});

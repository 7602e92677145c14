// Rendezvous refuses, on every rank and with a clear error, what must not join: a rank that never
// comes (named), a duplicate rank, another config, another zcoll version.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import * as zmq from 'zeromq';
import { Packr } from 'msgpackr';
import { quietPort, runRanks } from '../helpers/ranks.js';
import { ZCOLL_VERSION } from '../../lib/version.js';

interface Res {
  kind: string;
  code?: string;
  message?: string;
  rank?: number;
  size?: number;
  localRank?: number;
  localSize?: number;
}
const first = (o: { results: unknown[] }): Res => (o.results[0] ?? { kind: 'none' }) as Res;
const fast = { ZCOLL_TEST_TIMEOUT_MS: '5000' };

t.test('init: ranks learn rank, size, local rank and local size', async (t) => {
  const outs = await runRanks(4, { script: 'test/fixtures/collective-worker.js', args: ['init'] });
  for (const o of outs) t.match(first(o), { kind: 'init', rank: o.rank, size: 4, localRank: o.rank, localSize: 4 });
});

t.test('a rank that never shows up is named after the timeout, on every rank', async (t) => {
  const outs = await runRanks(3, { script: 'test/fixtures/collective-worker.js', args: ['init'], ranks: [0, 1], env: fast });
  for (const o of outs) {
    t.equal(first(o).code, 'ETIMEDOUT', `rank ${o.rank}: ${first(o).message}`);
    t.match(first(o).message ?? '', /rank 2 of 3 never joined/);
  }
});

t.test('a duplicate rank is refused on every rank', async (t) => {
  const outs = await runRanks(3, { script: 'test/fixtures/collective-worker.js', args: ['init'], ranks: [0, 1, 1], env: fast });
  for (const o of outs) {
    t.equal(first(o).code, 'ECONFIG', `process of rank ${o.rank}: ${first(o).message}`);
    t.match(first(o).message ?? '', /two processes claim rank 1/);
  }
});

t.test('a rank with another config is refused on every rank', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'zcoll-cfg-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const other = join(dir, 'other.json');
  writeFileSync(other, JSON.stringify({ hosts: [{ name: 'localhost', address: '127.0.0.1', ranks: 4 }], segmentBytes: 65536 }));
  const outs = await runRanks(3, { script: 'test/fixtures/collective-worker.js', args: ['init'], env: fast, rankEnv: (r): Record<string, string> => (r === 2 ? { ZCOLL_CONFIG: other } : {}) });
  for (const o of outs) {
    t.equal(first(o).code, 'EMISMATCH', `rank ${o.rank}: ${first(o).message}`);
    t.match(first(o).message ?? '', /rank 2 .*another cluster config/);
  }
});

t.test('a peer running another zcoll version is refused on every rank', async (t) => {
  const port = await quietPort();
  const ranks = runRanks(3, { script: 'test/fixtures/collective-worker.js', args: ['init'], ranks: [0, 1], env: fast, port });
  const packr = new Packr({ useRecords: false });
  const dealer = new zmq.Dealer({ linger: 0, receiveTimeout: 15000 });
  t.teardown(() => dealer.close());
  dealer.connect(`tcp://127.0.0.1:${port}`);
  await dealer.send(packr.pack({ t: 'hello', rank: 2, hostKey: 'elsewhere', hostName: 'elsewhere', version: '0.0.0-other', proto: 1, world: 3, config: 'x' }));
  const [reply] = await dealer.receive();
  t.match(packr.unpack(reply), { t: 'error', code: 'EMISMATCH' }, 'the foreign peer is told why');
  for (const o of await ranks) {
    t.equal(first(o).code, 'EMISMATCH', `rank ${o.rank}: ${first(o).message}`);
    t.match(first(o).message ?? '', /rank 2 runs zcoll 0\.0\.0-other/);
  }
});

t.test('a peer that built another MULTITREE schedule is refused on every rank', async (t) => {
  const { configHash, parseConfig } = await import('../../lib/cluster/config.js');
  const dir = mkdtempSync(join(tmpdir(), 'zcoll-cfg-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const raw = { hosts: [{ name: 'localhost', address: '127.0.0.1', ranks: 3 }], topology: { kind: 'switch' } };
  const cfg = join(dir, 'topo.json');
  writeFileSync(cfg, JSON.stringify(raw));
  const port = await quietPort();
  const ranks = runRanks(3, { script: 'test/fixtures/collective-worker.js', args: ['init'], ranks: [0, 1], env: { ...fast, ZCOLL_CONFIG: cfg }, port });
  const parsed = parseConfig(raw, cfg);
  const packr = new Packr({ useRecords: false });
  const dealer = new zmq.Dealer({ linger: 0, receiveTimeout: 15000 });
  t.teardown(() => dealer.close());
  dealer.connect(`tcp://127.0.0.1:${port}`);
  const hello = { t: 'hello', rank: 2, hostKey: 'elsewhere', hostName: 'elsewhere', version: ZCOLL_VERSION, proto: 1, world: 3, config: configHash({ ...parsed, segmentBytes: parsed.segmentBytes }), schedule: 'not-the-same-schedule' };
  await dealer.send(packr.pack(hello));
  const [reply] = await dealer.receive();
  t.match(packr.unpack(reply), { t: 'error', code: 'EMISMATCH' });
  for (const o of await ranks) {
    t.equal(first(o).code, 'EMISMATCH', `rank ${o.rank}: ${first(o).message}`);
    t.match(first(o).message ?? '', /rank 2 .*built another MULTITREE schedule/);
  }
});

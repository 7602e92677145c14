// Rendezvous refuses, on every rank and with a clear error, what must not join: a rank that never
// comes (named), a duplicate rank, another config, another zcoll version. A host name as master
// address binds this host's address for it (never 0.0.0.0), one that does not resolve is ECONFIG at
// once, and a joiner checks the table it gets. (Job identity: job-identity.test.ts.)
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, networkInterfaces, tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import t from 'tap';
import * as zmq from 'zeromq';
import { Packr } from 'msgpackr';
import { quietPort, runRanks } from '../helpers/ranks.js';
import { ZCOLL_VERSION } from '../../lib/version.js';
import { PROTOCOL_VERSION } from '../../lib/transport/wire.js';
import { rendezvous, type PeerInfo } from '../../lib/comm/rendezvous.js';
import { localAddressesOf } from '../../lib/cluster/identity.js';

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
  const hello = { t: 'hello', rank: 2, hostKey: 'elsewhere', hostName: 'elsewhere', version: ZCOLL_VERSION, proto: PROTOCOL_VERSION, world: 3, config: configHash({ ...parsed, segmentBytes: parsed.segmentBytes }), schedule: 'not-the-same-schedule' };
  await dealer.send(packr.pack(hello));
  const [reply] = await dealer.receive();
  t.match(packr.unpack(reply), { t: 'error', code: 'EMISMATCH' });
  for (const o of await ranks) {
    t.equal(first(o).code, 'EMISMATCH', `rank ${o.rank}: ${first(o).message}`);
    t.match(first(o).message ?? '', /rank 2 .*built another MULTITREE schedule/);
  }
});

/** Addresses listening on a TCP port, from /proc/net/tcp{,6} (Linux): e.g. ['127.0.0.1']; undefined without /proc. */
function listeningOn(port: number): string[] | undefined {
  const out: string[] = [];
  try {
    for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 4 || f[3] !== '0A') continue;
      const [hex, p] = f[1].split(':');
      if (parseInt(p, 16) !== port) continue;
      out.push([3, 2, 1, 0].map((i) => parseInt(hex.slice(i * 2, i * 2 + 2), 16)).join('.'));
    }
  } catch {
    return undefined;
  }
  try {
    for (const line of readFileSync('/proc/net/tcp6', 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length >= 4 && f[3] === '0A' && parseInt(f[1].split(':')[1], 16) === port) out.push(/^0+$/.test(f[1].split(':')[0]) ? '::' : f[1].split(':')[0]);
    }
  } catch {
    // no IPv6
  }
  return out;
}

const peer = (rank: number): PeerInfo => ({ rank, hostKey: `k${rank}`, hostName: `h${rank}` });

t.test('a host name as master address: rank 0 binds what it resolves to here, never 0.0.0.0', async (t) => {
  const names = ['localhost'];
  // This host's own name, when it resolves to one of its addresses (it does on most machines).
  if ((await localAddressesOf(hostname(), 'test').catch(() => [])).length > 0) names.push(hostname());
  for (const name of names) {
    const port = await quietPort();
    const base = { world: 2, configHash: 'c', masterAddr: name, masterAddrFrom: 'ZCOLL_MASTER_ADDR', masterPort: port, timeoutMs: 10_000 };
    const master = rendezvous({ ...base, self: peer(0) });
    master.catch(() => undefined);
    let seen: string[] | undefined = [];
    for (let i = 0; i < 100 && seen !== undefined && seen.length === 0; i++) {
      await sleep(50);
      seen = listeningOn(port);
    }
    if (seen !== undefined) {
      t.ok(seen.length > 0, `${name}: rank 0 listens`);
      t.notOk(seen.includes('0.0.0.0') || seen.includes('::'), `${name}: not on every interface (listening on ${seen.join(', ')})`);
      const here = new Set(['127.0.0.1', '::1', ...Object.values(networkInterfaces()).flatMap((l) => (l ?? []).map((i) => i.address))]);
      t.ok(seen.every((a) => here.has(a) || a.startsWith('127.')), `${name}: on addresses of this host (${seen.join(', ')})`);
    }
    const [m, j] = await Promise.all([master, rendezvous({ ...base, self: peer(1) })]);
    t.same(m.peers, [peer(0), peer(1)], `${name}: the world completes`);
    t.same(j.peers, m.peers);
  }
});

t.test('a master name that does not resolve is ECONFIG at once, naming it and where it came from, on rank 0 and the others', async (t) => {
  const port = await quietPort();
  const base = { world: 2, configHash: 'c', masterAddr: 'no-such-master.invalid', masterAddrFrom: 'MASTER_ADDR', masterPort: port, timeoutMs: 20_000 };
  for (const rank of [0, 1]) {
    const t0 = Date.now();
    await t.rejects(rendezvous({ ...base, self: peer(rank) }), { code: 'ECONFIG', message: /"no-such-master\.invalid" \(from MASTER_ADDR\) does not resolve/ }, `rank ${rank}`);
    t.ok(Date.now() - t0 < 5000, `rank ${rank}: at once, not after the timeout (${Date.now() - t0} ms)`);
  }
});

t.test('a joiner refuses a table that is not sane, and one without its own entry as it sent it', async (t) => {
  const packr = new Packr({ useRecords: false });
  const cases: Array<[string, (peers: PeerInfo[]) => unknown[], RegExp]> = [
    ['too short', (p) => p.slice(0, 1), /1 entries for a world of 2/],
    ['out of order', (p) => [p[1], p[0]], /entry 0 is for rank 1/],
    ['its entry changed', (p) => [p[0], { ...p[1], tcp: 'tcp://198.18.0.9:1' }], /its entry for this rank .* is not what this rank sent/],
    ['its link key changed', (p) => [p[0], { ...p[1], linkKey: 'someone-else' }], /is not what this rank sent/],
  ];
  for (const [what, forge, why] of cases) {
    // A fake master that answers the hello with a forged table (a port each: a closed socket frees its port only later).
    const port = await quietPort();
    const router = new zmq.Router({ linger: 0 });
    t.teardown(() => router.close());
    await router.bind(`tcp://127.0.0.1:${port}`);
    const joined = rendezvous({ world: 2, configHash: 'c', masterAddr: '127.0.0.1', masterPort: port, timeoutMs: 10_000, self: { ...peer(1), linkKey: 'lk1' } });
    joined.catch(() => undefined);
    const [id, body] = await router.receive();
    const hello = packr.unpack(body) as PeerInfo;
    const own: PeerInfo = { rank: 1, hostKey: hello.hostKey, hostName: hello.hostName, ...(hello.linkKey !== undefined ? { linkKey: hello.linkKey } : {}) };
    await router.send([id, packr.pack({ t: 'table', epoch: 7, peers: forge([peer(0), own]) })]);
    await t.rejects(joined, { code: 'EPROTO', message: why }, what);
    router.close();
  }
});

// Rank, world size, local rank and master from each launcher's environment, in zcoll's order.
import t from 'tap';
import { parseConfig } from '../../lib/cluster/config.js';
import { bindAddressFor, localAddressesOf, resolveIdentity } from '../../lib/cluster/identity.js';

const config = parseConfig({ hosts: [{ name: 'a', address: '198.18.0.1', ranks: 2 }], port: 29999 }, 'test.json');

t.test('zcoll launch variables win', async (t) => {
  const id = resolveIdentity(config, { ZCOLL_RANK: '3', ZCOLL_WORLD_SIZE: '8', ZCOLL_LOCAL_RANK: '1', ZCOLL_MASTER_ADDR: 'h0', ZCOLL_MASTER_PORT: '1234', RANK: '5', WORLD_SIZE: '9' });
  t.match(id, { rank: 3, worldSize: 8, localRank: 1, masterAddr: 'h0', masterPort: 1234, source: 'zcoll' });
});

t.test('torchrun', async (t) => {
  const id = resolveIdentity(config, { RANK: '2', WORLD_SIZE: '4', LOCAL_RANK: '0', MASTER_ADDR: '198.18.0.9', MASTER_PORT: '29400' });
  t.match(id, { rank: 2, worldSize: 4, localRank: 0, masterAddr: '198.18.0.9', masterPort: 29400, source: 'torchrun' });
});

t.test('OpenMPI, master from the config', async (t) => {
  const id = resolveIdentity(config, { OMPI_COMM_WORLD_RANK: '1', OMPI_COMM_WORLD_SIZE: '2', OMPI_COMM_WORLD_LOCAL_RANK: '1' });
  t.match(id, { rank: 1, worldSize: 2, localRank: 1, masterAddr: '198.18.0.1', masterPort: 29999, source: 'openmpi' });
});

t.test('SLURM', async (t) => {
  const id = resolveIdentity(config, { SLURM_PROCID: '7', SLURM_NTASKS: '16', SLURM_LOCALID: '3', MASTER_ADDR: 'n0' });
  t.match(id, { rank: 7, worldSize: 16, localRank: 3, masterAddr: 'n0', source: 'slurm' });
});

t.test('no launcher: a world of one', async (t) => {
  t.match(resolveIdentity(config, {}), { rank: 0, worldSize: 1, source: 'single' });
});

t.test('bad variables are ECONFIG naming the variable', async (t) => {
  t.throws(() => resolveIdentity(config, { RANK: 'x', WORLD_SIZE: '2' }), { code: 'ECONFIG', message: /RANK="x"/ });
  t.throws(() => resolveIdentity(config, { RANK: '2', WORLD_SIZE: '2' }), { code: 'ECONFIG', message: /RANK=2 is not below WORLD_SIZE=2/ });
  t.throws(() => resolveIdentity(config, { OMPI_COMM_WORLD_RANK: '0' }), { code: 'ECONFIG', message: /must be set together/ });
});

t.test('config errors name the key and the file', async (t) => {
  t.throws(() => parseConfig({ hosts: [] }, 'c.json'), { code: 'ECONFIG', message: /c\.json: "hosts"/ });
  t.throws(() => parseConfig({ hosts: [{ name: 'a', address: 'x', ranks: 0 }] }, 'c.json'), { code: 'ECONFIG', message: /"hosts\[0\]\.ranks"/ });
  t.throws(() => parseConfig({ hosts: [{ name: 'a', address: 'x', ranks: 1 }], prot: 1 }, 'c.json'), { code: 'ECONFIG', message: /"prot" is not a known key/ });
  t.throws(() => parseConfig({ hosts: [{ name: 'a', address: 'x', ranks: 1 }], transport: 'udp' }, 'c.json'), { code: 'ECONFIG', message: /"transport"/ });
});

t.test('job id: ZCOLL_JOB_ID, else torchrun\'s TORCHELASTIC_RUN_ID, else none', async (t) => {
  t.equal(resolveIdentity(config, { ZCOLL_JOB_ID: 'a1', TORCHELASTIC_RUN_ID: 'tr' }).jobId, 'a1');
  t.equal(resolveIdentity(config, { RANK: '0', WORLD_SIZE: '2', TORCHELASTIC_RUN_ID: 'tr' }).jobId, 'tr');
  t.equal(resolveIdentity(config, {}).jobId, undefined);
  t.notOk('jobId' in resolveIdentity(config, { ZCOLL_JOB_ID: '' }), 'an empty variable is no job id');
});

t.test('where the master address came from is kept for messages', async (t) => {
  t.equal(resolveIdentity(config, { ZCOLL_MASTER_ADDR: 'h0', MASTER_ADDR: 'h1' }).masterAddrFrom, 'ZCOLL_MASTER_ADDR');
  t.equal(resolveIdentity(config, { MASTER_ADDR: 'h1' }).masterAddrFrom, 'MASTER_ADDR');
  t.equal(resolveIdentity(config, {}).masterAddrFrom, 'test.json: "hosts[0].address"');
});

t.test('bindAddressFor: a host name resolves to an address of this host; an unresolvable one is ECONFIG naming it and its source', async (t) => {
  const two = { ZCOLL_RANK: '1', ZCOLL_WORLD_SIZE: '2' };
  const local = parseConfig({ hosts: [{ name: 'me', address: 'localhost', ranks: 2 }], port: 29999 }, 'local.json');
  // A name of this host, from each source: never 0.0.0.0.
  t.equal(await bindAddressFor(resolveIdentity(local, two), local, { ZCOLL_BIND_ADDR: 'localhost' }), '127.0.0.1', 'ZCOLL_BIND_ADDR=localhost');
  t.equal(await bindAddressFor(resolveIdentity(local, two), local, { ZCOLL_HOST: 'me' }), '127.0.0.1', 'config address localhost');
  // RFC 6761: .invalid never resolves (and no query leaves the host for it).
  await t.rejects(bindAddressFor(resolveIdentity(local, two), local, { ZCOLL_BIND_ADDR: 'nowhere.invalid' }), { code: 'ECONFIG', message: /"nowhere\.invalid" \(from ZCOLL_BIND_ADDR\) does not resolve/ });
  const bad = parseConfig({ hosts: [{ name: 'me', address: 'me.invalid', ranks: 2 }], port: 29999 }, 'bad.json');
  await t.rejects(bindAddressFor(resolveIdentity(bad, two), bad, { ZCOLL_HOST: 'me' }), { code: 'ECONFIG', message: /"me\.invalid" \(from bad\.json: "hosts\[0\]\.address"\) does not resolve/ });
  const env = { ...two, ZCOLL_MASTER_ADDR: 'master.invalid' };
  await t.rejects(bindAddressFor(resolveIdentity(config, env), config, env), { code: 'ECONFIG', message: /"master\.invalid" \(from ZCOLL_MASTER_ADDR\) does not resolve/ });
  // IP literals are taken as given (the config's address of a host that is not this one stays its own business).
  t.equal(await bindAddressFor(resolveIdentity(config, two), config, { ZCOLL_BIND_ADDR: '127.0.0.5' }), '127.0.0.5');
});

t.test('localAddressesOf: a name none of whose addresses is here is ECONFIG, not 0.0.0.0', async (t) => {
  t.match(await localAddressesOf('localhost', 'X'), [{ address: /^(127\.|::1$)/ }]);
  t.match(await localAddressesOf('127.0.0.1', 'X'), [{ address: '127.0.0.1', family: 4 }]);
  // 198.18.0.0/15 is the benchmarking range (RFC 2544): a literal, no lookup; not an address of this host.
  await t.rejects(localAddressesOf('198.18.255.254', 'MASTER_ADDR'), { code: 'ECONFIG', message: /198\.18\.255\.254.*\(from MASTER_ADDR\).*none of which is an interface of this host/ });
  await t.rejects(localAddressesOf('x.invalid', 'MASTER_ADDR'), { code: 'ECONFIG', message: /"x\.invalid" \(from MASTER_ADDR\) does not resolve/ });
});

t.test('machine key: the kernel, the same for every emulated host of this machine (ZCOLL_HOST), unlike the host key', async (t) => {
  const a = resolveIdentity(config, { ZCOLL_HOST: 'a' });
  const b = resolveIdentity(config, { ZCOLL_HOST: 'b' });
  t.not(a.hostKey, b.hostKey, 'two hosts to the network model');
  t.equal(a.machineKey, b.machineKey, 'one machine to the cores');
  t.match(a.machineKey, /^(boot:[0-9a-f-]{36}|name:.+)$/);
});

// Rank, world size, local rank and master from each launcher's environment, in zcoll's order.
import t from 'tap';
import { parseConfig } from '../../lib/cluster/config.js';
import { resolveIdentity } from '../../lib/cluster/identity.js';

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

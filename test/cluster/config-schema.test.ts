/**
 * cluster.config.schema.json and the config loader agree: the default config and a set of good
 * configs pass the schema, the field checks and the loader; every bad config below fails all three;
 * the few rules a schema cannot say (listed in the schema's $comment) pass the schema and fail the
 * loader. The schema is the published file, read by the loader; the keys are real Z85 CURVE keys.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import t from 'tap';
import { curveKeyPair } from 'zeromq';
import { CONFIG_SCHEMA_PATH, DEFAULT_CONFIG_PATH, checkConfigFields, loadConfig, parseConfig, validateConfigSchema } from '../../lib/cluster/config.js';
import { isZcollError } from '../../lib/errors.js';

const keyA = curveKeyPair().publicKey;
const keyB = curveKeyPair().publicKey;
const host = (name: string, extra: Record<string, unknown> = {}) => ({ name, address: '127.0.0.1', ranks: 2, ...extra });
const base = { hosts: [host('a')] };
const curve = (c: Record<string, unknown>) => ({ hosts: [host('a'), host('b')], security: { curve: { publicKeys: { a: keyA, b: keyB }, ...c } } });

function verdicts(raw: unknown): { schema: string | undefined; fields: string | undefined; loader: string | undefined } {
  const attempt = (f: () => unknown): string | undefined => {
    try {
      f();
      return undefined;
    } catch (e) {
      if (!isZcollError(e) || e.code !== 'ECONFIG') throw e;
      return e.message;
    }
  };
  const v = validateConfigSchema(raw);
  return { schema: v === undefined ? undefined : `${v.path}: ${v.message}`, fields: attempt(() => checkConfigFields(raw, 'test.json')), loader: attempt(() => parseConfig(raw, 'test.json')) };
}

const good: Record<string, unknown> = {
  'the default config': JSON.parse(readFileSync(DEFAULT_CONFIG_PATH, 'utf8')),
  'minimal': base,
  'two hosts, every optional key': {
    $schema: './node_modules/zcoll/cluster.config.schema.json',
    description: 'lab',
    hosts: [host('a', { gpus: 4 }), host('b', { gpus: 0 })],
    port: 65535,
    timeoutMs: 1,
    segmentBytes: 1 << 20,
    transport: 'shm',
    algorithm: 'multitree',
    topology: { kind: 'hierarchical', hosts: 2, ranksPerHost: 2 },
  },
  'curve with a key file': curve({ secretKeyFile: 'keys/{host}.key' }),
  'curve with a key variable': curve({ secretKeyEnv: 'ZCOLL_SECRET' }),
};

const bad: Record<string, unknown> = {
  'an array': [],
  'a number': 42,
  'no hosts': {},
  'empty hosts': { hosts: [] },
  'a host that is not an object': { hosts: [42] },
  'a host without name': { hosts: [{ address: 'x', ranks: 1 }] },
  'an empty host name': { hosts: [host('')] },
  'a host without address': { hosts: [{ name: 'a', ranks: 1 }] },
  'an empty address': { hosts: [host('a', { address: '' })] },
  'ranks 0': { hosts: [host('a', { ranks: 0 })] },
  'ranks 1.5': { hosts: [host('a', { ranks: 1.5 })] },
  'ranks 5000': { hosts: [host('a', { ranks: 5000 })] },
  'ranks as a string': { hosts: [host('a', { ranks: '4' })] },
  'gpus -1': { hosts: [host('a', { gpus: -1 })] },
  'an unknown host key': { hosts: [host('a', { gpu: 1 })] },
  'an unknown top-level key (typo)': { ...base, hots: [] },
  'port 0': { ...base, port: 0 },
  'port 70000': { ...base, port: 70000 },
  'port as a string': { ...base, port: '29500' },
  'timeoutMs 0': { ...base, timeoutMs: 0 },
  'timeoutMs over a day': { ...base, timeoutMs: 86400001 },
  'segmentBytes 32': { ...base, segmentBytes: 32 },
  'segmentBytes not a multiple of 8': { ...base, segmentBytes: 100 },
  'segmentBytes 512 MiB': { ...base, segmentBytes: 1 << 29 },
  'an unknown transport': { ...base, transport: 'udp' },
  'an empty algorithm': { ...base, algorithm: '' },
  'a numeric algorithm': { ...base, algorithm: 5 },
  'a numeric $schema': { ...base, $schema: 5 },
  'an object description': { ...base, description: {} },
  'a numeric topology': { ...base, topology: 5 },
  'a topology without kind': { ...base, topology: {} },
  'an unknown topology kind': { ...base, topology: { kind: 'ring' } },
  'security as a string': { ...base, security: 'curve' },
  'an unknown security key': { ...base, security: { tls: {} } },
  'curve without publicKeys': { ...base, security: { curve: { secretKeyEnv: 'K' } } },
  'a secret key in the config': curve({ secretKeyEnv: 'K', secretKey: keyA }),
  'both secretKeyFile and secretKeyEnv': curve({ secretKeyFile: 'k', secretKeyEnv: 'K' }),
  'neither secretKeyFile nor secretKeyEnv': curve({}),
  'a key where the key file goes': curve({ secretKeyFile: keyA }),
  'a key where the variable name goes': curve({ secretKeyEnv: keyB }),
  'a variable name with a dash': curve({ secretKeyEnv: 'MY-KEY' }),
  'a short public key': { hosts: [host('a')], security: { curve: { publicKeys: { a: 'abc' }, secretKeyEnv: 'K' } } },
};

/** Rules across fields, which the schema's $comment lists: the schema accepts, the loader refuses. */
const loaderOnly: Record<string, unknown> = {
  'duplicate host names': { hosts: [host('a'), host('a')] },
  'a host without its public key': { hosts: [host('a'), host('b')], security: { curve: { publicKeys: { a: keyA }, secretKeyEnv: 'K' } } },
  'a public key for no host': { hosts: [host('a')], security: { curve: { publicKeys: { a: keyA, z: keyB }, secretKeyEnv: 'K' } } },
};

t.test('good configs pass the schema, the field checks and the loader', async (tt) => {
  for (const [name, raw] of Object.entries(good)) tt.same(verdicts(raw), { schema: undefined, fields: undefined, loader: undefined }, name);
});

t.test('bad configs fail the schema, the field checks and the loader alike', async (tt) => {
  for (const [name, raw] of Object.entries(bad)) {
    const v = verdicts(raw);
    tt.ok(v.schema !== undefined && v.fields !== undefined && v.loader !== undefined, `${name}: ${JSON.stringify(v)}`);
    tt.match(v.loader, /^ECONFIG: test\.json: "/, `${name}: the message names the file and the key`);
  }
});

t.test('the rules across fields are the loader\'s: the schema accepts them, the loader does not', async (tt) => {
  const comment = String((JSON.parse(readFileSync(CONFIG_SCHEMA_PATH, 'utf8')) as { $comment: string }).$comment);
  tt.match(comment, /host names are unique/);
  tt.match(comment, /publicKeys names every host/);
  for (const [name, raw] of Object.entries(loaderOnly)) {
    const v = verdicts(raw);
    tt.equal(v.schema, undefined, `${name}: the schema cannot say it`);
    tt.ok(v.fields !== undefined && v.loader !== undefined, `${name}: the loader refuses (${v.loader})`);
  }
});

t.test('the default config names the schema shipped next to it, and loads', async (tt) => {
  const raw = JSON.parse(readFileSync(DEFAULT_CONFIG_PATH, 'utf8')) as { $schema: string };
  tt.equal(resolve(dirname(DEFAULT_CONFIG_PATH), raw.$schema), CONFIG_SCHEMA_PATH);
  tt.equal(loadConfig(DEFAULT_CONFIG_PATH).hosts.length, 1);
});

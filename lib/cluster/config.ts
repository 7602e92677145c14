/**
 * cluster.config.json: who runs where. The same file on every host; ranks are numbered host by
 * host in file order. Every key is validated and every error names the key and the file, so a typo
 * is an ECONFIG at start-up, not a hang at the first collective.
 * Two layers: the field checks here (with the most helpful messages, and the rules across fields a
 * JSON Schema cannot say), then the published cluster.config.schema.json, so the schema editors
 * and other tools use cannot drift from what zcoll accepts (test/cluster/config-schema.test.ts
 * runs good and bad configs through both).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ZcollError } from '../errors.js';
import { isCurveKey } from '../transport/z85.js';
import { type JsonSchema, type SchemaViolation, validateSchema } from './json-schema.js';

export type TransportChoice = 'auto' | 'tcp' | 'ipc' | 'shm' | 'zmq';

export interface HostConfig {
  readonly name: string;
  /** Address other hosts reach this host at (and the address its ranks bind tcp:// on). */
  readonly address: string;
  readonly ranks: number;
  /** GPUs on the host: when > 0, `zcoll launch` sets CUDA_VISIBLE_DEVICES to the local rank. */
  readonly gpus: number;
}

/**
 * `security.curve`: CURVE on every tcp:// socket, admitting only the listed hosts. Secrets never sit
 * in the config (it is copied to every host and hashed into the rendezvous): each host reads its
 * own secret key from a file or an environment variable named here.
 */
export interface CurveConfig {
  /** Z85 public key of every host of `hosts`, by host name. */
  readonly publicKeys: Readonly<Record<string, string>>;
  /** Path of this host's secret key file ('{host}' is replaced by the host name; relative to the config file). */
  readonly secretKeyFile?: string;
  /** Name of the environment variable holding this host's secret key. */
  readonly secretKeyEnv?: string;
}

export interface SecurityConfig {
  readonly curve?: CurveConfig;
}

export interface ClusterConfig {
  readonly hosts: readonly HostConfig[];
  /** Rendezvous port on the first host (MASTER_PORT). */
  readonly port: number;
  readonly timeoutMs: number;
  /** Pipelining segment; undefined: zcoll picks (init.ts: 1 MiB over sockets, 4 MiB between ranks sharing memory). */
  readonly segmentBytes: number | undefined;
  readonly transport: TransportChoice;
  readonly algorithm: string;
  /** Topology description for MULTITREE and the cost model (validated by cluster/topology). */
  readonly topology?: unknown;
  readonly security?: SecurityConfig;
  /** Where it came from: a path, or '<default>'. */
  readonly source: string;
}

const KNOWN_KEYS = new Set(['hosts', 'port', 'timeoutMs', 'segmentBytes', 'transport', 'algorithm', 'topology', 'security', '$schema', 'description']);
const TRANSPORTS: readonly TransportChoice[] = ['auto', 'tcp', 'ipc', 'shm', 'zmq'];

export const DEFAULT_CONFIG_PATH = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'cluster.config.json');
/** The JSON Schema of the config, shipped next to the default config. */
export const CONFIG_SCHEMA_PATH = join(dirname(DEFAULT_CONFIG_PATH), 'cluster.config.schema.json');
/** The kinds lib/cluster/topology.ts builds (its per-kind keys are checked there). */
export const TOPOLOGY_KINDS: readonly string[] = ['switch', 'hierarchical', 'torus', 'mesh', 'fattree', 'links'];

let schema: JsonSchema | undefined;

/** The parsed cluster.config.schema.json (read once). */
export function configSchema(): JsonSchema {
  if (schema === undefined) {
    try {
      schema = JSON.parse(readFileSync(CONFIG_SCHEMA_PATH, 'utf8')) as JsonSchema;
    } catch (e) {
      throw new ZcollError('ECONFIG', `cannot read the config schema ${CONFIG_SCHEMA_PATH} (part of the zcoll package; reinstall it): ${(e as Error).message}`, { details: { file: CONFIG_SCHEMA_PATH } });
    }
  }
  return schema;
}

/** The first violation of cluster.config.schema.json in a parsed config, or undefined. */
export function validateConfigSchema(raw: unknown): SchemaViolation | undefined {
  return validateSchema(configSchema(), raw);
}

function bad(source: string, key: string, what: string): ZcollError {
  return new ZcollError('ECONFIG', `${source}: "${key}" ${what}`, { details: { file: source, key } });
}

function posInt(v: unknown, source: string, key: string, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw bad(source, key, `must be an integer in [${min}, ${max}], got ${JSON.stringify(v)}`);
  return v;
}

/** Validates a parsed config object: the field checks, then the schema. */
export function parseConfig(raw: unknown, source: string): ClusterConfig {
  const config = checkConfigFields(raw, source);
  const violation = validateConfigSchema(raw);
  if (violation !== undefined) throw bad(source, violation.path, `${violation.message} (per ${CONFIG_SCHEMA_PATH})`);
  return config;
}

/** The field checks alone (parseConfig without the schema; exported for the test that keeps both in agreement). */
export function checkConfigFields(raw: unknown, source: string): ClusterConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad(source, '(top level)', 'must be a JSON object');
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!KNOWN_KEYS.has(k)) throw bad(source, k, `is not a known key (known: ${[...KNOWN_KEYS].join(', ')})`);
  if (!Array.isArray(o.hosts) || o.hosts.length === 0) throw bad(source, 'hosts', 'must be a non-empty array of { name, address, ranks }');
  const names = new Set<string>();
  const hosts = o.hosts.map((h: unknown, i: number): HostConfig => {
    const key = `hosts[${i}]`;
    if (typeof h !== 'object' || h === null) throw bad(source, key, 'must be an object');
    const hh = h as Record<string, unknown>;
    for (const k of Object.keys(hh)) if (!['name', 'address', 'ranks', 'gpus'].includes(k)) throw bad(source, `${key}.${k}`, 'is not a known key (name, address, ranks, gpus)');
    if (typeof hh.name !== 'string' || hh.name === '') throw bad(source, `${key}.name`, 'must be a non-empty string');
    if (names.has(hh.name)) throw bad(source, `${key}.name`, `duplicates host "${hh.name}"`);
    names.add(hh.name);
    if (typeof hh.address !== 'string' || hh.address === '') throw bad(source, `${key}.address`, 'must be a host name or IP address');
    const ranks = posInt(hh.ranks, source, `${key}.ranks`, 1, 4096);
    const gpus = hh.gpus === undefined ? 0 : posInt(hh.gpus, source, `${key}.gpus`, 0, 1024);
    return { name: hh.name, address: hh.address, ranks, gpus };
  });
  const port = o.port === undefined ? 29500 : posInt(o.port, source, 'port', 1, 65535);
  const timeoutMs = o.timeoutMs === undefined ? 60000 : posInt(o.timeoutMs, source, 'timeoutMs', 1, 24 * 3600 * 1000);
  const segmentBytes = o.segmentBytes === undefined ? undefined : posInt(o.segmentBytes, source, 'segmentBytes', 64, 1 << 28);
  if (segmentBytes !== undefined && segmentBytes % 8 !== 0) throw bad(source, 'segmentBytes', `must be a multiple of 8, got ${segmentBytes}`);
  const transport = o.transport === undefined ? 'auto' : o.transport;
  if (!TRANSPORTS.includes(transport as TransportChoice)) throw bad(source, 'transport', `must be one of ${TRANSPORTS.join(', ')}, got ${JSON.stringify(transport)}`);
  const algorithm = o.algorithm === undefined ? 'auto' : o.algorithm;
  if (typeof algorithm !== 'string' || algorithm === '') throw bad(source, 'algorithm', `must be an algorithm name (a non-empty string), got ${JSON.stringify(algorithm)}`);
  for (const k of ['$schema', 'description']) if (o[k] !== undefined && typeof o[k] !== 'string') throw bad(source, k, `must be a string, got ${JSON.stringify(o[k])}`);
  if (o.topology !== undefined) {
    const topo = o.topology as { kind?: unknown } | null;
    if (typeof topo !== 'object' || topo === null || Array.isArray(topo) || !TOPOLOGY_KINDS.includes(topo.kind as string)) {
      throw bad(source, 'topology', `must be an object whose "kind" is one of ${TOPOLOGY_KINDS.join(', ')}, got ${JSON.stringify(o.topology)}`);
    }
  }
  const security = o.security === undefined ? undefined : parseSecurity(o.security, source, hosts);
  return {
    hosts,
    port,
    timeoutMs,
    segmentBytes,
    transport: transport as TransportChoice,
    algorithm,
    ...(o.topology !== undefined ? { topology: o.topology } : {}),
    ...(security !== undefined ? { security } : {}),
    source,
  };
}

/** Key names that would hold a secret: refused with a pointer to secretKeyFile / secretKeyEnv. */
const SECRET_KEY_NAMES = new Set(['secretKey', 'secret', 'privateKey', 'secretKeys', 'privateKeys', 'curveSecretKey']);
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function parseSecurity(raw: unknown, source: string, hosts: readonly HostConfig[]): SecurityConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad(source, 'security', 'must be an object like { "curve": { ... } }');
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o)) if (k !== 'curve') throw bad(source, `security.${k}`, 'is not a known key (known: curve)');
  if (o.curve === undefined) return {};
  const c = o.curve;
  if (typeof c !== 'object' || c === null || Array.isArray(c)) throw bad(source, 'security.curve', 'must be an object { publicKeys, secretKeyFile | secretKeyEnv }');
  const cc = c as Record<string, unknown>;
  for (const k of Object.keys(cc)) {
    if (SECRET_KEY_NAMES.has(k)) {
      throw bad(source, `security.curve.${k}`, 'must not be in the config: a secret key never goes in cluster.config.json (it is copied to every host). Put it in a file readable only by its owner and name the file with "secretKeyFile", or in an environment variable named by "secretKeyEnv" (`zcoll keys` writes both)');
    }
    if (!['publicKeys', 'secretKeyFile', 'secretKeyEnv'].includes(k)) throw bad(source, `security.curve.${k}`, 'is not a known key (known: publicKeys, secretKeyFile, secretKeyEnv)');
  }
  const pk = cc.publicKeys;
  if (typeof pk !== 'object' || pk === null || Array.isArray(pk)) throw bad(source, 'security.curve.publicKeys', 'must be an object mapping every host name to its Z85 public key (40 characters, from `zcoll keys`)');
  const keys = pk as Record<string, unknown>;
  const names = new Set(hosts.map((h) => h.name));
  for (const [name, key] of Object.entries(keys)) {
    if (!names.has(name)) throw bad(source, `security.curve.publicKeys.${name}`, `names no host of "hosts" (hosts: ${[...names].join(', ')})`);
    if (!isCurveKey(key)) throw bad(source, `security.curve.publicKeys.${name}`, `must be a Z85 CURVE public key (40 characters, from \`zcoll keys\`), got ${typeof key === 'string' ? `${key.length} characters` : JSON.stringify(key)}`);
  }
  for (const h of hosts) if (keys[h.name] === undefined) throw bad(source, `security.curve.publicKeys.${h.name}`, `is missing: every host needs its public key (host "${h.name}" would be refused by every other host)`);
  const file = cc.secretKeyFile;
  const envName = cc.secretKeyEnv;
  if ((file === undefined) === (envName === undefined)) throw bad(source, 'security.curve', 'needs exactly one of "secretKeyFile" (a path) or "secretKeyEnv" (an environment variable name) to tell each host where its secret key is');
  if (file !== undefined) {
    if (typeof file !== 'string' || file === '') throw bad(source, 'security.curve.secretKeyFile', 'must be a file path');
    if (isCurveKey(file)) throw bad(source, 'security.curve.secretKeyFile', 'looks like a key itself, not a path: never put a secret key in the config; store it in a file (mode 600) and give its path (prefix ./ if the file name really is 40 Z85 characters)');
  }
  if (envName !== undefined) {
    if (typeof envName !== 'string' || isCurveKey(envName)) throw bad(source, 'security.curve.secretKeyEnv', 'must be the NAME of an environment variable holding the secret key, not the key itself');
    if (!ENV_NAME.test(envName)) throw bad(source, 'security.curve.secretKeyEnv', `must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*), got ${JSON.stringify(envName)}`);
  }
  return {
    curve: {
      publicKeys: { ...(keys as Record<string, string>) },
      ...(file !== undefined ? { secretKeyFile: file as string } : {}),
      ...(envName !== undefined ? { secretKeyEnv: envName as string } : {}),
    },
  };
}

/** Loads a config file; `path` undefined means ZCOLL_CONFIG, then ./cluster.config.json, then the embedded default. */
export function loadConfig(path?: string, env: NodeJS.ProcessEnv = process.env): ClusterConfig {
  const chosen = path ?? env.ZCOLL_CONFIG ?? (existsSync('cluster.config.json') ? 'cluster.config.json' : DEFAULT_CONFIG_PATH);
  const abs = resolve(chosen);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (e) {
    throw new ZcollError('ECONFIG', `cannot read config file ${abs}: ${(e as Error).message}`, { details: { file: abs } });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ZcollError('ECONFIG', `${abs}: not valid JSON: ${(e as Error).message}`, { details: { file: abs } });
  }
  return parseConfig(raw, abs);
}

export function totalRanks(c: ClusterConfig): number {
  return c.hosts.reduce((acc, h) => acc + h.ranks, 0);
}

/** First global rank of host `name`, and the host itself. */
export function hostSlot(c: ClusterConfig, name: string): { host: HostConfig; firstRank: number } {
  let first = 0;
  for (const h of c.hosts) {
    if (h.name === name) return { host: h, firstRank: first };
    first += h.ranks;
  }
  throw new ZcollError('ECONFIG', `${c.source}: no host named "${name}" (hosts: ${c.hosts.map((h) => h.name).join(', ')})`);
}

/** Hash of what every rank must agree on: the validated config without its file path. */
export function configHash(c: ClusterConfig): string {
  const { source: _source, ...rest } = c;
  void _source;
  return createHash('sha256').update(canonicalJson(rest)).digest('hex').slice(0, 16);
}

export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/**
 * This host's CURVE key pair and the cluster's allowlist, read as the config's security.curve says:
 * the secret from an environment variable (secretKeyEnv) or from a file (secretKeyFile, '{host}'
 * filled with this host's name, relative to the config file, and refused when others may read it),
 * checked against publicKeys. The result is the plain input of transport/curve.ts's CurveContext,
 * so the transport never reads a config, a file or the environment.
 */
import { readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { ZcollError } from '../errors.js';
import { CurveContext, publicKeyOf, type CurveKeys } from '../transport/curve.js';
import { isCurveKey } from '../transport/z85.js';
import type { ClusterConfig } from './config.js';

/**
 * Loads this host's key pair as the config says (secretKeyFile or secretKeyEnv) and checks that its
 * public key is the one publicKeys lists for this host; undefined when the config has no
 * security.curve. `hostName` fills '{host}' in secretKeyFile. Throws ECONFIG naming the file or
 * variable and the config key.
 */
export function loadCurveKeys(config: ClusterConfig, hostName: string, env: NodeJS.ProcessEnv = process.env): CurveKeys | undefined {
  const curve = config.security?.curve;
  if (curve === undefined) return undefined;
  const src = config.source;
  let secret: string;
  let from: string;
  if (curve.secretKeyEnv !== undefined) {
    const name = curve.secretKeyEnv;
    from = `environment variable ${name} (security.curve.secretKeyEnv in ${src})`;
    const v = env[name];
    if (v === undefined || v.trim() === '') throw new ZcollError('ECONFIG', `${from} is not set: export this host's CURVE secret key in it (\`zcoll keys\` makes one)`, { details: { file: src, key: 'security.curve.secretKeyEnv', variable: name } });
    secret = v.trim();
  } else {
    const pattern = curve.secretKeyFile!;
    const base = isAbsolute(src) ? dirname(src) : process.cwd();
    const path = resolve(base, pattern.split('{host}').join(hostName));
    from = `secret key file ${path} (security.curve.secretKeyFile in ${src})`;
    let mode: number;
    try {
      mode = statSync(path).mode;
    } catch (e) {
      throw new ZcollError('ECONFIG', `cannot read the ${from}: ${(e as Error).message}`, { details: { file: src, key: 'security.curve.secretKeyFile', path } });
    }
    // ssh's rule: a secret others can read is not a secret.
    if ((mode & 0o077) !== 0) throw new ZcollError('ECONFIG', `the ${from} is readable by other users (mode ${(mode & 0o777).toString(8)}): run chmod 600 ${path}`, { details: { file: src, key: 'security.curve.secretKeyFile', path } });
    const lines = readFileSync(path, 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    secret = lines[0] ?? '';
  }
  if (!isCurveKey(secret)) throw new ZcollError('ECONFIG', `the ${from} does not hold a Z85 CURVE secret key (40 characters; \`zcoll keys\` makes one)`, { details: { file: src, key: curve.secretKeyEnv !== undefined ? 'security.curve.secretKeyEnv' : 'security.curve.secretKeyFile' } });
  const publicKey = publicKeyOf(secret);
  const owner = Object.entries(curve.publicKeys).find(([, k]) => k === publicKey)?.[0];
  if (owner === undefined) {
    const expected = curve.publicKeys[hostName];
    throw new ZcollError('ECONFIG', `the ${from} belongs to public key ${publicKey}, which security.curve.publicKeys in ${src} does not list${expected !== undefined ? ` (host "${hostName}" is listed with ${expected}: wrong secret key file?)` : ''}`, { details: { file: src, key: 'security.curve.publicKeys' } });
  }
  if (owner !== hostName && curve.publicKeys[hostName] !== undefined) {
    throw new ZcollError('ECONFIG', `the ${from} holds host "${owner}"'s key, but this is host "${hostName}" (listed with ${curve.publicKeys[hostName]}): wrong secret key file?`, { details: { file: src, key: `security.curve.publicKeys.${hostName}` } });
  }
  return {
    publicKey,
    secretKey: secret,
    hostName: owner,
    publicKeys: { ...curve.publicKeys },
    hosts: config.hosts.map((h) => ({ name: h.name, address: h.address })),
    source: src,
  };
}

/** The CurveContext of this process as the config says; undefined when the config has no security.curve. */
export function loadCurveContext(config: ClusterConfig, hostName: string, env: NodeJS.ProcessEnv = process.env): CurveContext | undefined {
  const keys = loadCurveKeys(config, hostName, env);
  return keys === undefined ? undefined : new CurveContext(keys);
}

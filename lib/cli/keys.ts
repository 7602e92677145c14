/**
 * `zcoll keys`: CURVE key pairs for security.curve (libzmq's curve keygen, one pair per host).
 *   zcoll keys                              print one key pair
 *   zcoll keys --hosts node0,node1 --out DIR  write DIR/<host>.key (secret, mode 600) and DIR/<host>.pub
 *                                           for each host and print the "security" block for the config
 * Secrets go to files readable only by their owner (or to stdout when asked), never into the config.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as zmq from 'zeromq';
import { ZcollError } from '../errors.js';

export interface KeyPair {
  /** Z85, 40 characters: goes into security.curve.publicKeys. */
  readonly publicKey: string;
  /** Z85, 40 characters: stays on its host, in a file (mode 600) or an environment variable. */
  readonly secretKey: string;
}

export function generateKeys(): KeyPair {
  const { publicKey, secretKey } = zmq.curveKeyPair();
  return { publicKey, secretKey };
}

export interface KeysIO {
  /** Where the report goes (default: process.stdout). */
  write(text: string): void;
}

const USAGE = 'usage: zcoll keys [--hosts NAME,NAME... --out DIR [--force]]';

/**
 * Runs `zcoll keys ARGS`; returns the exit code. Throws EINVAL (with the usage) on bad arguments
 * and ECONFIG when a key file exists already (without --force) or cannot be written.
 */
export function keysCommand(args: readonly string[], io: KeysIO = { write: (t) => void process.stdout.write(t) }): number {
  let hosts: string[] | undefined;
  let out: string | undefined;
  let force = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const value = (): string => {
      const v = args[++i];
      if (v === undefined || v.startsWith('--')) throw new ZcollError('EINVAL', `zcoll keys: ${a} needs a value (${USAGE})`);
      return v;
    };
    if (a === '--hosts' || a === '--host') hosts = [...(hosts ?? []), ...value().split(',')];
    else if (a.startsWith('--hosts=')) hosts = [...(hosts ?? []), ...a.slice(8).split(',')];
    else if (a === '--out') out = value();
    else if (a.startsWith('--out=')) out = a.slice(6);
    else if (a === '--force') force = true;
    else throw new ZcollError('EINVAL', `zcoll keys: unknown argument ${JSON.stringify(a)} (${USAGE})`);
  }
  if (hosts !== undefined) {
    for (const h of hosts) if (!/^[A-Za-z0-9._-]+$/.test(h)) throw new ZcollError('EINVAL', `zcoll keys: host name ${JSON.stringify(h)} must be letters, digits, '.', '_' or '-' (it names a file)`);
    if (new Set(hosts).size !== hosts.length) throw new ZcollError('EINVAL', `zcoll keys: a host is named twice in --hosts ${hosts.join(',')}`);
  }
  if (hosts !== undefined && out === undefined) throw new ZcollError('EINVAL', `zcoll keys: --hosts needs --out DIR (secret keys go to files, not to the terminal) (${USAGE})`);
  if (out === undefined) {
    const kp = generateKeys();
    io.write(`public-key ${kp.publicKey}\nsecret-key ${kp.secretKey}\n# put the public key in security.curve.publicKeys; keep the secret key in a file (chmod 600) or an environment variable\n`);
    return 0;
  }
  const dir = resolve(out);
  const names = hosts ?? ['host'];
  for (const h of names) {
    const file = join(dir, `${h}.key`);
    if (existsSync(file) && !force) throw new ZcollError('ECONFIG', `zcoll keys: ${file} exists; refusing to overwrite a secret key (pass --force to replace it)`);
  }
  const publicKeys: Record<string, string> = {};
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const h of names) {
      const kp = generateKeys();
      writeFileSync(join(dir, `${h}.key`), `${kp.secretKey}\n`, { mode: 0o600 });
      writeFileSync(join(dir, `${h}.pub`), `${kp.publicKey}\n`, { mode: 0o644 });
      publicKeys[h] = kp.publicKey;
    }
  } catch (e) {
    throw new ZcollError('ECONFIG', `zcoll keys: cannot write the keys to ${dir}: ${(e as Error).message}`, {}, { cause: e });
  }
  const block = { security: { curve: { publicKeys, secretKeyFile: join(dir, '{host}.key') } } };
  io.write(`# wrote ${names.map((h) => `${h}.key (secret, mode 600) and ${h}.pub`).join(', ')} in ${dir}\n`);
  io.write(`# copy each <host>.key to its host only; add this to cluster.config.json on every host:\n${JSON.stringify(block, null, 2)}\n`);
  return 0;
}

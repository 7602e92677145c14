// CURVE with an allowlist, on real sockets in one process: the ZAP handler admits only listed keys,
// a link to a server holding another key fails with EAUTH naming the peer, plaintext clients are
// refused, the bytes on the wire carry no plaintext, and the config never holds a secret.
import t, { type Test as Tap } from 'tap';
import { chmodSync, mkdtempSync, readFileSync, statSync, rmSync } from 'node:fs';
import { createServer, connect as tcpConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as zmq from 'zeromq';
import { parseConfig, type ClusterConfig } from '../../lib/cluster/config.js';
import { isZcollError, ZcollError } from '../../lib/errors.js';
import { loadCurveContext } from '../../lib/cluster/curve-keys.js';
import { acquireZap, publicKeyOf, rendezvousCurveOptions, type CurveContext } from '../../lib/transport/curve.js';
import { isCurveKey, z85Decode, z85Encode } from '../../lib/transport/z85.js';
import type { LinkHello } from '../../lib/transport/wire.js';
import { ZmqEndpoint } from '../../lib/transport/zmq-endpoint.js';
import { generateKeys, keysCommand } from '../../lib/cli/keys.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function configWith(keys: Record<string, string>, extra: Record<string, unknown> = { secretKeyEnv: 'ZC_SECRET' }, source = '/tmp/x/cluster.config.json'): ClusterConfig {
  return parseConfig(
    {
      hosts: Object.keys(keys).map((name) => ({ name, address: '127.0.0.1', ranks: 1 })),
      security: { curve: { publicKeys: keys, ...extra } },
    },
    source,
  );
}

/** Asserts that fn throws an error satisfying `want` (a predicate or a regular expression on the message). */
function throwsWhere(t: Tap, fn: () => unknown, want: RegExp | ((e: unknown) => boolean), msg?: string): void {
  try {
    fn();
  } catch (e) {
    const ok = want instanceof RegExp ? want.test((e as Error).message) : want(e);
    t.ok(ok, msg ?? `throws ${String(want)}`, { error: (e as Error).message });
    return;
  }
  t.fail(`${msg ?? 'expected a throw'}: nothing was thrown`);
}

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await sleep(20);
  }
  return cond();
}

t.test('z85 matches libzmq and the public key is derived from the secret', async (t) => {
  for (let i = 0; i < 20; i++) {
    const kp = zmq.curveKeyPair();
    t.ok(isCurveKey(kp.publicKey) && isCurveKey(kp.secretKey));
    t.equal(z85Encode(z85Decode(kp.secretKey)!), kp.secretKey, 'round trip');
    t.equal(publicKeyOf(kp.secretKey), kp.publicKey, 'X25519 public key of the secret = libzmq pair');
  }
  t.equal(z85Decode('abc'), undefined, 'wrong length');
  t.equal(z85Decode('~~~~~'), undefined, 'foreign character');
  t.equal(z85Decode('#####'), undefined, 'overflow of 2^32');
  t.notOk(isCurveKey('x'.repeat(39)));
});

t.test('config: secrets are refused, keys and locations validated, each error names key and file', async (t) => {
  const a = generateKeys();
  const b = generateKeys();
  const src = '/etc/zcoll/cluster.config.json';
  const cases: [string, Record<string, unknown>, string][] = [
    ['secret in config', { publicKeys: { a: a.publicKey }, secretKey: a.secretKey }, 'security.curve.secretKey'],
    ['privateKey in config', { publicKeys: { a: a.publicKey }, privateKey: a.secretKey, secretKeyEnv: 'X' }, 'security.curve.privateKey'],
    ['env holds the key itself', { publicKeys: { a: a.publicKey }, secretKeyEnv: a.secretKey }, 'security.curve.secretKeyEnv'],
    ['file holds the key itself', { publicKeys: { a: a.publicKey }, secretKeyFile: a.secretKey }, 'security.curve.secretKeyFile'],
    ['env not a variable name', { publicKeys: { a: a.publicKey }, secretKeyEnv: 'MY-KEY' }, 'security.curve.secretKeyEnv'],
    ['neither file nor env', { publicKeys: { a: a.publicKey } }, 'security.curve'],
    ['both file and env', { publicKeys: { a: a.publicKey }, secretKeyEnv: 'X', secretKeyFile: '/k' }, 'security.curve'],
    ['bad public key', { publicKeys: { a: 'not-a-key' }, secretKeyEnv: 'X' }, 'security.curve.publicKeys.a'],
    ['unknown host', { publicKeys: { a: a.publicKey, zz: b.publicKey }, secretKeyEnv: 'X' }, 'security.curve.publicKeys.zz'],
    ['unknown key', { publicKeys: { a: a.publicKey }, secretKeyEnv: 'X', allow: [] }, 'security.curve.allow'],
    ['publicKeys not an object', { publicKeys: [a.publicKey], secretKeyEnv: 'X' }, 'security.curve.publicKeys'],
  ];
  for (const [name, curve, key] of cases) {
    throwsWhere(t, () => parseConfig({ hosts: [{ name: 'a', address: '127.0.0.1', ranks: 2 }], security: { curve } }, src), (e: unknown) => isZcollError(e, 'ECONFIG') && e.message.includes(`"${key}"`) && e.message.includes(src), name);
  }
  throwsWhere(t, () => parseConfig({ hosts: [{ name: 'a', address: 'x', ranks: 1 }, { name: 'b', address: 'y', ranks: 1 }], security: { curve: { publicKeys: { a: a.publicKey }, secretKeyEnv: 'X' } } }, src), /"security.curve.publicKeys.b" is missing/, 'every host needs a key');
  throwsWhere(t, () => parseConfig({ hosts: [{ name: 'a', address: 'x', ranks: 1 }], security: { tls: true } }, src), /"security.tls" is not a known key/);
  throwsWhere(t, () => parseConfig({ hosts: [{ name: 'a', address: 'x', ranks: 1 }], security: 'on' }, src), /"security" must be an object/);
  const ok = configWith({ a: a.publicKey, b: b.publicKey });
  t.same(ok.security?.curve?.publicKeys, { a: a.publicKey, b: b.publicKey });
});

t.test('the secret comes from the named variable or a private file, and must match a listed key', async (t) => {
  const a = generateKeys();
  const b = generateKeys();
  const stranger = generateKeys();
  const cfg = configWith({ a: a.publicKey, b: b.publicKey });
  const ctx = loadCurveContext(cfg, 'b', { ZC_SECRET: `${b.secretKey}\n` })!;
  t.equal(ctx.publicKey, b.publicKey);
  t.equal(ctx.hostName, 'b', 'the host is found by its key');
  throwsWhere(t, () => loadCurveContext(cfg, 'a', {}), (e: unknown) => isZcollError(e, 'ECONFIG') && /ZC_SECRET .*is not set/.test(e.message));
  throwsWhere(t, () => loadCurveContext(cfg, 'a', { ZC_SECRET: 'short' }), /does not hold a Z85 CURVE secret key/);
  throwsWhere(t, () => loadCurveContext(cfg, 'a', { ZC_SECRET: stranger.secretKey }), (e: unknown) => isZcollError(e, 'ECONFIG') && e.message.includes(stranger.publicKey) && e.message.includes('does not list'));
  throwsWhere(t, () => loadCurveContext(cfg, 'a', { ZC_SECRET: b.secretKey }), /holds host "b"'s key, but this is host "a"/, 'a copied key file of another host');
  t.equal(loadCurveContext(parseConfig({ hosts: [{ name: 'a', address: 'x', ranks: 1 }] }, 'f'), 'a', {}), undefined, 'no security: no CURVE');

  const dir = mkdtempSync(join(tmpdir(), 'zcoll-keys-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const missingCfg = configWith({ a: a.publicKey, b: b.publicKey }, { secretKeyFile: 'keys/{host}.key' }, join(dir, 'cluster.config.json'));
  throwsWhere(t, () => loadCurveContext(missingCfg, 'a', {}), (e: unknown) => isZcollError(e, 'ECONFIG') && e.message.includes(join(dir, 'keys', 'a.key')), 'missing file named');
  t.equal(keysCommand(['--hosts', 'a,b', '--out', join(dir, 'keys')], { write: () => undefined }), 0);
  const pub = (h: string): string => readFileSync(join(dir, 'keys', `${h}.pub`), 'utf8').trim();
  const fileCfg = configWith({ a: pub('a'), b: pub('b') }, { secretKeyFile: 'keys/{host}.key' }, join(dir, 'cluster.config.json'));
  const fromFile = loadCurveContext(fileCfg, 'a', {});
  t.equal(fromFile?.publicKey, pub('a'), 'zcoll keys files load (relative to the config file, {host} filled)');
  t.equal(statSync(join(dir, 'keys', 'a.key')).mode & 0o777, 0o600, 'the secret file is private');
  chmodSync(join(dir, 'keys', 'a.key'), 0o644);
  throwsWhere(t, () => loadCurveContext(fileCfg, 'a', {}), /readable by other users \(mode 644\): run chmod 600/);
});

t.test('zcoll keys: prints a pair, writes private files, refuses to overwrite', async (t) => {
  let text = '';
  t.equal(keysCommand([], { write: (s) => (text += s) }), 0);
  const pub = /public-key (\S+)/.exec(text)?.[1] ?? '';
  const sec = /secret-key (\S+)/.exec(text)?.[1] ?? '';
  t.equal(publicKeyOf(sec), pub, 'the printed pair belongs together');
  const keysParent = mkdtempSync(join(tmpdir(), 'zcoll-keys-'));
  t.teardown(() => rmSync(keysParent, { recursive: true, force: true }));
  const dir = join(keysParent, 'k');
  text = '';
  keysCommand(['--hosts', 'n0,n1', '--out', dir], { write: (s) => (text += s) });
  const block = JSON.parse(text.slice(text.indexOf('{'))) as { security: { curve: Record<string, unknown> } };
  const cfg = parseConfig({ hosts: [{ name: 'n0', address: 'a', ranks: 1 }, { name: 'n1', address: 'b', ranks: 1 }], ...block }, join(dir, 'c.json'));
  t.equal(loadCurveContext(cfg, 'n1', {})?.hostName, 'n1', 'the printed block is a valid config');
  throwsWhere(t, () => keysCommand(['--hosts', 'n0', '--out', dir]), (e: unknown) => isZcollError(e, 'ECONFIG') && /refusing to overwrite/.test(e.message));
  throwsWhere(t, () => keysCommand(['--hosts', 'n0']), (e: unknown) => isZcollError(e, 'EINVAL'));
  throwsWhere(t, () => keysCommand(['--bogus']), (e: unknown) => isZcollError(e, 'EINVAL') && /unknown argument/.test(e.message));
  throwsWhere(t, () => keysCommand(['--hosts', '../x', '--out', dir]), /host name/);
});

interface Pair {
  server: ZmqEndpoint;
  serverCtx: CurveContext;
  clientCtx: CurveContext;
  keys: { a: { publicKey: string; secretKey: string }; b: { publicKey: string; secretKey: string } };
  got: Buffer[][];
}

async function securedServer(): Promise<Pair> {
  const a = generateKeys();
  const b = generateKeys();
  const cfg = configWith({ a: a.publicKey, b: b.publicKey });
  const serverCtx = loadCurveContext(cfg, 'a', { ZC_SECRET: a.secretKey })!;
  const clientCtx = loadCurveContext(cfg, 'b', { ZC_SECRET: b.secretKey })!;
  const server = await ZmqEndpoint.open({ rank: 0, ipc: false, tcpAddress: '127.0.0.1', maxMessageBytes: 1 << 20, sendTimeoutMs: 2000, lingerMs: 0, curve: serverCtx });
  const got: Buffer[][] = [];
  acceptHellos(server, got);
  return { server, serverCtx, clientCtx, keys: { a, b }, got };
}

/** These tests are about CURVE, not the link hello: any hello is accepted, and the messages after it are kept. */
function acceptHellos(server: ZmqEndpoint, got: Buffer[][]): void {
  server.checkHello = () => true;
  server.onMessage = (_src, f) => got.push(f);
}

function hello(src: number): LinkHello {
  return { epoch: 1, src, proof: Buffer.alloc(32) };
}

async function attack(endpoint: string, opts: ConstructorParameters<typeof zmq.Dealer>[0]): Promise<string[]> {
  const sock = new zmq.Dealer({ linger: 0, ...opts });
  const seen: string[] = [];
  for (const e of ['handshake', 'handshake:error:auth', 'handshake:error:protocol', 'handshake:error:other'] as const) sock.events.on(e, () => seen.push(e));
  sock.connect(endpoint);
  await sock.send([Buffer.from('INTRUDER'), Buffer.alloc(8)]).catch(() => undefined);
  await waitFor(() => seen.length > 0, 2000);
  sock.close();
  return seen;
}

t.test('listed client admitted; unlisted key, wrong server key and plaintext refused', async (t) => {
  const p = await securedServer();
  const tcp = p.server.bound.tcp!;
  const ok = await ZmqEndpoint.open({ rank: 1, ipc: false, maxMessageBytes: 1 << 20, sendTimeoutMs: 2000, lingerMs: 0, curve: p.clientCtx });
  const link = ok.connect(0, tcp, hello(1), p.serverCtx.publicKey);
  await link.send([Buffer.from('hello')]);
  t.ok(await waitFor(() => p.got.length === 1, 3000), 'a listed client gets through');
  t.equal(p.got[0][0].toString(), 'hello');
  t.equal(p.server.security?.admitted, 1);

  const stranger = generateKeys();
  t.ok((await attack(tcp, { curveServerKey: p.serverCtx.publicKey, curvePublicKey: stranger.publicKey, curveSecretKey: stranger.secretKey })).includes('handshake:error:auth'), 'unlisted client key: ZAP says no');
  t.equal(p.server.security?.refused, 1, 'the refusal is counted on the accepting side');
  t.match(p.server.security?.lastRefusal ?? '', new RegExp(`127\\.0\\.0\\.1 with public key ${stranger.publicKey.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`), 'and names the client address and key');
  const wrongServer = await attack(tcp, { curveServerKey: stranger.publicKey, curvePublicKey: p.keys.b.publicKey, curveSecretKey: p.keys.b.secretKey });
  t.ok(wrongServer.some((e) => e.startsWith('handshake:error')) && !wrongServer.includes('handshake'), `wrong server key: handshake fails (${wrongServer.join(', ')})`);
  const plain = await attack(tcp, {});
  t.ok(plain.includes('handshake:error:protocol'), 'plaintext client: protocol error');
  t.ok(await waitFor(() => (p.server.security?.handshakeFailures ?? 0) >= 2, 2000), 'failed handshakes counted');
  await sleep(200);
  t.equal(p.got.length, 1, 'no intruder message was delivered');
  // The listed client still works after the attacks.
  await link.send([Buffer.from('again')]);
  t.ok(await waitFor(() => p.got.length === 2, 3000));
  ok.close();
  p.server.close();
});

t.test('a link to a server that does not hold the expected key fails with EAUTH naming the peer', async (t) => {
  const p = await securedServer();
  const client = await ZmqEndpoint.open({ rank: 3, ipc: false, maxMessageBytes: 1 << 20, sendTimeoutMs: 2000, lingerMs: 0, curve: p.clientCtx });
  const errors: ZcollError[] = [];
  client.onPeerError = (_peer, e) => errors.push(e);
  // Expects host b's key at rank 0's inbox, which proves host a's.
  const link = client.connect(0, p.server.bound.tcp!, hello(3), p.keys.b.publicKey);
  await link.send([Buffer.from('x')]).catch(() => undefined);
  t.ok(await waitFor(() => errors.length > 0, 3000), 'reported at once');
  t.equal(errors[0].code, 'EAUTH');
  t.equal(errors[0].peer, 0);
  t.match(errors[0].message, /rank 3.*CURVE handshake with rank 0 at tcp:\/\/127\.0\.0\.1:\d+ failed/);
  await t.rejects(link.send([Buffer.from('y')]), { code: 'EAUTH' }, 'later sends fail with it');
  t.equal(errors.length, 1, 'once per peer');
  t.equal(p.got.length, 0);
  client.close();
  p.server.close();
});

t.test('the rendezvous sockets get CURVE through rendezvousCurveOptions', async (t) => {
  const p = await securedServer();
  t.same(rendezvousCurveOptions({ masterAddr: '127.0.0.1' }, 'server'), {}, 'no CURVE: no options');
  const router = new zmq.Router({ linger: 0, ...rendezvousCurveOptions({ masterAddr: '127.0.0.1', curve: p.serverCtx }, 'server') });
  await router.bind('tcp://127.0.0.1:*');
  const dealer = new zmq.Dealer({ linger: 0, receiveTimeout: 3000, ...rendezvousCurveOptions({ masterAddr: '127.0.0.1', curve: p.clientCtx }, 'client') });
  dealer.connect(router.lastEndpoint!);
  await dealer.send('hello');
  const [id, msg] = await router.receive();
  t.equal(msg.toString(), 'hello');
  await router.send([id, 'table']);
  t.equal((await dealer.receive())[0].toString(), 'table', 'the master key is the first host\'s');
  const plain = await attack(router.lastEndpoint!, {});
  t.ok(plain.includes('handshake:error:protocol'), 'a plaintext client cannot reach the rendezvous');
  dealer.close();
  router.close();
  p.server.close();
});

t.test('traffic is not readable on the wire (a loopback relay records the bytes)', async (t) => {
  const MARKER = 'ZCOLL-PLAINTEXT-MARKER-0123456789';
  // Forwards every byte between the client and the server inbox, keeping a copy of what the client sent.
  async function relayTo(target: string): Promise<{ url: string; seen: () => Buffer; close: () => void }> {
    const [host, port] = target.replace('tcp://', '').split(':');
    const chunks: Buffer[] = [];
    const sockets: Socket[] = [];
    const srv = createServer((c) => {
      const up = tcpConnect(Number(port), host);
      sockets.push(c, up);
      c.on('data', (d: Buffer) => {
        chunks.push(Buffer.from(d));
        up.write(d);
      });
      up.on('data', (d: Buffer) => c.write(d));
      c.on('error', () => up.destroy());
      up.on('error', () => c.destroy());
      c.on('close', () => up.destroy());
      up.on('close', () => c.destroy());
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const addr = srv.address();
    return {
      url: `tcp://127.0.0.1:${typeof addr === 'object' && addr !== null ? addr.port : 0}`,
      seen: () => Buffer.concat(chunks),
      close: () => {
        for (const s of sockets) s.destroy();
        srv.close();
      },
    };
  }
  const payload = Buffer.from(MARKER.repeat(50));
  for (const secured of [true, false]) {
    const p = await securedServer();
    const server = secured ? p.server : await ZmqEndpoint.open({ rank: 0, ipc: false, tcpAddress: '127.0.0.1', maxMessageBytes: 1 << 20, sendTimeoutMs: 2000, lingerMs: 0 });
    const got: Buffer[][] = [];
    acceptHellos(server, got);
    const relay = await relayTo(server.bound.tcp!);
    const client = await ZmqEndpoint.open({ rank: 1, ipc: false, maxMessageBytes: 1 << 20, sendTimeoutMs: 2000, lingerMs: 0, ...(secured ? { curve: p.clientCtx } : {}) });
    const link = client.connect(0, relay.url, hello(1), secured ? p.serverCtx.publicKey : undefined);
    await link.send([Buffer.from(`header ${MARKER}`), payload]);
    t.ok(await waitFor(() => got.length === 1, 3000), `${secured ? 'CURVE' : 'plaintext'}: delivered through the relay`);
    t.ok(got[0]?.[1]?.equals(payload), 'intact at the receiver');
    const wire = relay.seen();
    t.ok(wire.length > payload.length, `the relay saw the bytes (${wire.length})`);
    if (secured) t.equal(wire.indexOf(MARKER), -1, 'CURVE: no plaintext marker on the wire');
    else t.ok(wire.indexOf(MARKER) >= 0, 'control: without CURVE the marker is on the wire (the check can see it)');
    client.close();
    relay.close();
    if (server !== p.server) server.close();
    p.server.close();
  }
});

t.test('the ZAP handler is shared, per-domain, and closes with its last user', async (t) => {
  const p = await securedServer();
  const q = await securedServer();
  // Each context admits only its own cluster's keys, although both use the one handler.
  const crossClient = await ZmqEndpoint.open({ rank: 1, ipc: false, maxMessageBytes: 1 << 20, sendTimeoutMs: 2000, lingerMs: 0, curve: q.clientCtx });
  const errs: ZcollError[] = [];
  crossClient.onPeerError = (_p, e) => errs.push(e);
  crossClient.connect(0, p.server.bound.tcp!, hello(1), p.serverCtx.publicKey);
  t.ok(await waitFor(() => errs.length === 1, 3000), 'a key listed by another communicator is refused here');
  t.equal(errs[0]?.code, 'EAUTH');
  crossClient.close();
  p.server.close();
  q.server.close();
  // With every user gone the inproc endpoint is free again: a new handler can bind it. libzmq
  // closes sockets on its reaper thread, so on a busy machine the unbind lands a little later:
  // retry for a bounded time rather than racing it.
  const probe = new zmq.Router({ linger: 0 });
  t.teardown(() => probe.close());
  let bound = false;
  for (const until = Date.now() + 5000; !bound && Date.now() < until; ) {
    bound = await probe.bind('inproc://zeromq.zap.01').then(() => true, async () => {
      await new Promise((r) => setTimeout(r, 20));
      return false;
    });
  }
  t.ok(bound, 'released: a new handler can bind the ZAP endpoint');
  if (!bound) return; // acquireZap below would start a handler of its own and keep the process alive
  const ctx = p.serverCtx;
  // Released at once if it wrongly succeeds: a running handler would keep this process alive.
  const outcome = await acquireZap(ctx).then((release) => (release(), 'acquired'), (e: unknown) => e);
  t.match(outcome, { code: 'ECONFIG' }, 'a foreign ZAP handler is reported, not silently shared');
});

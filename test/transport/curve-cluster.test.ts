// CURVE on a real cluster: 3 rank processes on two "hosts" of one machine (ZCOLL_HOST a and b, each
// with its own key pair from an environment variable), running checked collectives while this test
// process attacks their tcp inboxes with an unlisted key, a wrong server key and plaintext. The
// attackers are refused, their frames never reach a communicator, every result stays right. A
// client holding a listed key is the control: its garbage frames do reach the rank (and are dropped
// there), so the "never reached" count is able to see a frame that got through.
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as zmq from 'zeromq';
import { runRanks } from '../helpers/ranks.js';
import { generateKeys } from '../../lib/cli/keys.js';

interface Published {
  rank: number;
  tcp?: string;
  ipc?: string;
}
interface Serve {
  unauthenticated?: number;
  kind: string;
  collectives: number;
  wrong: number;
  dropped: number;
  security: { admitted: number; refused: number; handshakeFailures: number; lastRefusal: string } | null;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function attack(endpoint: string, opts: ConstructorParameters<typeof zmq.Dealer>[0], frames: number): Promise<string[]> {
  const sock = new zmq.Dealer({ linger: 0, sendTimeout: 500, ...opts });
  const seen: string[] = [];
  for (const e of ['handshake', 'handshake:error:auth', 'handshake:error:protocol', 'handshake:error:other'] as const) sock.events.on(e, () => seen.push(e));
  sock.connect(endpoint);
  for (let i = 0; i < frames; i++) await sock.send([Buffer.from(`not a zcoll header ${i}`)]).catch(() => undefined);
  const end = Date.now() + 3000;
  while (seen.length === 0 && Date.now() < end) await sleep(20);
  await sleep(100);
  sock.close();
  return seen;
}

t.test('CURVE cluster: attackers refused while collectives run and stay right', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'zcoll-curve-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const a = generateKeys();
  const b = generateKeys();
  const config = {
    hosts: [
      { name: 'a', address: '127.0.0.1', ranks: 2 },
      { name: 'b', address: '127.0.0.1', ranks: 1 },
    ],
    timeoutMs: 20000,
    security: { curve: { publicKeys: { a: a.publicKey, b: b.publicKey }, secretKeyEnv: 'ZCOLL_TEST_SECRET' } },
  };
  writeFileSync(join(dir, 'cluster.config.json'), JSON.stringify(config));
  const hostOf = (rank: number): 'a' | 'b' => (rank < 2 ? 'a' : 'b');
  const run = runRanks(3, {
    script: 'test/fixtures/reliability-worker.js',
    args: ['serve', '20000'],
    env: { ZCOLL_CONFIG: join(dir, 'cluster.config.json'), ZCOLL_TEST_DIR: dir },
    rankEnv: (rank) => ({ ZCOLL_HOST: hostOf(rank), ZCOLL_TEST_SECRET: hostOf(rank) === 'a' ? a.secretKey : b.secretKey }),
    killAfterMs: 90_000,
  });
  const published: Published[] = [];
  const deadline = Date.now() + 30_000;
  for (let r = 0; r < 3; r++) {
    const f = join(dir, `rank-${r}.json`);
    while (!existsSync(f) && Date.now() < deadline) await sleep(50);
    published.push(existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as Published) : { rank: r });
  }
  t.ok(published.every((p) => p.tcp?.startsWith('tcp://127.0.0.1:')), 'every rank has a tcp inbox');
  const stranger = generateKeys();
  const targets = [0, 2];
  const seen: Record<string, string[]> = {};
  for (const r of targets) {
    const tcp = published[r].tcp;
    if (tcp === undefined) continue;
    const serverKey = hostOf(r) === 'a' ? a.publicKey : b.publicKey;
    seen[`unlisted@${r}`] = await attack(tcp, { curveServerKey: serverKey, curvePublicKey: stranger.publicKey, curveSecretKey: stranger.secretKey }, 20);
    seen[`wrongServer@${r}`] = await attack(tcp, { curveServerKey: stranger.publicKey, curvePublicKey: b.publicKey, curveSecretKey: b.secretKey }, 20);
    seen[`plain@${r}`] = await attack(tcp, {}, 20);
  }
  // Control: a client with host a's (listed) key gets its 5 frames delivered to rank 2, which drops them.
  seen.control = await attack(published[2].tcp ?? 'tcp://127.0.0.1:1', { curveServerKey: b.publicKey, curvePublicKey: a.publicKey, curveSecretKey: a.secretKey }, 5);
  await sleep(300);
  writeFileSync(join(dir, 'stop'), '');
  const outs = await run;

  for (const r of targets) {
    t.ok(seen[`unlisted@${r}`]?.includes('handshake:error:auth'), `rank ${r}: an unlisted client key is refused by ZAP (${seen[`unlisted@${r}`]?.join(',')})`);
    t.ok(seen[`wrongServer@${r}`]?.some((e) => e.startsWith('handshake:error')) && !seen[`wrongServer@${r}`].includes('handshake'), `rank ${r}: a client expecting another server key fails its handshake`);
    t.ok(seen[`plain@${r}`]?.some((e) => e.startsWith('handshake:error')) && !seen[`plain@${r}`].includes('handshake'), `rank ${r}: a plaintext client is refused (${seen[`plain@${r}`]?.join(',')})`);
  }
  t.ok(seen.control.includes('handshake'), 'control: a listed key completes the handshake');
  for (const o of outs) {
    const res = o.results.find((x) => (x as Serve).kind === 'serve') as Serve | undefined;
    t.equal(o.code, 0, `rank ${o.rank} exits 0 ${o.stderr.slice(-800)} ${JSON.stringify(o.results).slice(0, 400)}`);
    if (res === undefined) continue;
    t.ok(res.collectives > 8, `rank ${o.rank} ran ${res.collectives} collectives during the attacks`);
    t.equal(res.wrong, 0, `rank ${o.rank}: every result is right`);
    t.ok(res.security !== null, `rank ${o.rank} runs CURVE`);
    if (targets.includes(o.rank)) {
      t.ok((res.security?.refused ?? 0) >= 1, `rank ${o.rank} counted the refused key (${res.security?.lastRefusal})`);
      t.match(res.security?.lastRefusal ?? '', stranger.publicKey.slice(0, 10), 'naming the refused key');
      t.ok((res.security?.handshakeFailures ?? 0) >= 2, `rank ${o.rank} counted ${res.security?.handshakeFailures} failed handshakes`);
    }
    // CURVE admits the listed key, but its connection never proves a rank: its 5 frames stop there.
    t.equal(res.dropped, 0, `rank ${o.rank}: no attacker frame reached the communicator`);
    t.equal(res.unauthenticated, o.rank === 2 ? 5 : 0, `rank ${o.rank}: ${o.rank === 2 ? "the control's 5 frames were refused before decoding (a listed host key, but no rank's hello)" : 'no frame on an unproven connection'}`);
  }
});

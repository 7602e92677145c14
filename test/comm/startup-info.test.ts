// ZCOLL_DEBUG=info prints NCCL_DEBUG=INFO-style start-up lines once per communicator on stderr
// (issue 18 item 12): version, kernels, poll mode, segment size, the transport to every peer, CURVE
// and link auth; nothing at the default level. Real ranks (zcoll bench starts them), real transports.
import t from 'tap';
import { ZCOLL_VERSION } from '../../lib/version.js';
import { quietPort } from '../helpers/ranks.js';
import { runCli, type CliRun } from '../helpers/cli.js';

async function twoRanks(env: NodeJS.ProcessEnv): Promise<CliRun> {
  const args = ['bench', '--ranks', '2', '--port', String(await quietPort()), '-b', '4K', '-e', '4K', '-n', '1', '-w', '0', '-q'];
  return runCli(args, { env: { ZCOLL_TIMEOUT_MS: '20000', ...env }, killAfterMs: 60_000 });
}

/** The INFO lines of one rank (zcoll launch prefixes each rank's stderr with [rank]). */
function infoLines(stderr: string, rank: number): string[] {
  return stderr.split('\n').filter((l) => l.startsWith(`[${rank}] zcoll: INFO [rank ${rank}/2 `));
}

t.test('ZCOLL_DEBUG=info over ipc: three lines per rank', async (t) => {
  const r = await twoRanks({ ZCOLL_DEBUG: 'info', ZCOLL_TRANSPORT: 'ipc', ZCOLL_POLL: '' });
  t.equal(r.code, 0, r.stderr);
  for (const rank of [0, 1]) {
    const lines = infoLines(r.stderr, rank);
    t.equal(lines.length, 3, `rank ${rank}: once per communicator\n${r.stderr}`);
    t.match(lines[0], new RegExp(`zcoll ${ZCOLL_VERSION.replace(/\./g, '\\.')}, node v\\d+.*, kernels (native|js).*, poll auto \\((spins|spins, yielding its core|sleeps)\\), segment \\d+ B$`));
    t.match(lines[1], new RegExp(`peers: ${1 - rank} ipc \\(1 ipc\\)$`));
    t.match(lines[2], /CURVE off, link auth on \(X25519 pair keys, HMAC hello per link\)$/);
  }
});

t.test('ZCOLL_DEBUG=info over tcp names tcp, and the default transport says what it chose', async (t) => {
  const tcp = await twoRanks({ ZCOLL_DEBUG: 'info', ZCOLL_TRANSPORT: 'tcp', ZCOLL_POLL: 'sleep' });
  t.equal(tcp.code, 0, tcp.stderr);
  t.match(infoLines(tcp.stderr, 0)[1] ?? '', /peers: 1 tcp \(1 tcp\)$/);
  t.match(infoLines(tcp.stderr, 1)[0] ?? '', /poll sleep \(sleeps\)/);
  const auto = await twoRanks({ ZCOLL_DEBUG: 'info' });
  t.equal(auto.code, 0, auto.stderr);
  t.match(infoLines(auto.stderr, 0)[1] ?? '', /peers: 1 (shm|ipc) \(1 (shm|ipc)\)$/);
});

t.test('silent by default', async (t) => {
  const r = await twoRanks({ ZCOLL_DEBUG: '' });
  t.equal(r.code, 0, r.stderr);
  t.notMatch(r.stderr, /INFO/);
});

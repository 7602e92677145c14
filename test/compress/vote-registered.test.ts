// signVote with a SignVoteScratch registered with the communicator (its sent buffers are
// registered buffers that same-host peers read in place), on real rank processes over shared
// memory: in every mode, round after round, the vote is bit for bit the vote through a plain
// scratch and the local majorityVote of all ranks' signs (M = 2..7, tie rules 'plus', 'random' and
// 'keep' in turn), whether the signs were packed into the
// scratch's registered buffer or passed from elsewhere, and the modes that send from it do send by
// reference. Its regions exist in /dev/shm while it lives and are gone after release() (refused
// with EINVAL while a vote is in flight; a released scratch is refused by signVote) and, for one
// never released, after the communicator closes: /dev/shm holds nothing of the world once its
// ranks exited. With a /dev/shm too small for the buffers (a mount namespace with a small tmpfs,
// as Docker's 64 MB default), the scratch falls back to plain memory and the votes are still right.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { runRanks, DIST, quietPort, REPO } from '../helpers/ranks.js';
import { runCli } from '../helpers/cli.js';
import { shmSupported } from '../../lib/transport/shm-region.js';
import { SIGN_VOTE_MODES } from '../../lib/compress/wire-bytes.js';

const SCRIPT = 'test/compress/vote-registered-worker.js';
// 33: one partial word. 4,000,037: a partial last word, W = 125,002 words (a multiple of M = 3,
// not of 4: 'reduce' sends the signs as they lie at M = 3 and padded at M = 4), and 'reduce''s
// chunks (d/(8M) bytes) over the mailbox's 64 KiB, below which a payload is copied into the
// mailbox, never sent by reference.
const DS = [33, 4_000_037];

interface Compare {
  d: number;
  mode: string;
  round: number;
  tie: string;
  packedThere: boolean;
  isScratch: boolean;
  equalsPlain: boolean;
  equalsReference: boolean;
  sharedBytes: number;
}

for (const m of [2, 3, 4, 5, 6, 7]) {
  t.test(`M = ${m}: a registered scratch votes as a plain one, and leaves /dev/shm clean`, { skip: shmSupported() ? false : 'no shared memory (native addon not built)' }, async (t) => {
    const outs = await runRanks(m, { script: SCRIPT, args: ['compare', String(m * 13), DS.join(',')], killAfterMs: 120_000 });
    for (const o of outs) t.equal(o.code, 0, `rank ${o.rank} exits 0 ${o.stderr.slice(-1500)}`);
    if (outs.some((o) => o.code !== 0)) return;
    const epoch = (outs[0].results.find((x) => (x as { scenario: string }).scenario === 'world') as { epoch: number }).epoch;
    for (const o of outs) {
      const r = o.rank;
      const rows = o.results as Array<Record<string, unknown>>;
      t.equal(rows.find((x) => x.scenario === 'world')?.sharedMemory, true, `rank ${r} uses shared memory`);
      const votes = rows.filter((x) => x.scenario === 'compare') as unknown as Compare[];
      t.equal(votes.length, DS.length * SIGN_VOTE_MODES.length * 3, `rank ${r}: every case ran`);
      for (const v of votes) {
        const name = `rank ${r} d=${v.d} ${v.mode} round ${v.round} tie ${v.tie} (signs ${v.packedThere ? 'in the registered buffer' : 'elsewhere'})`;
        t.equal(v.isScratch, true, `${name}: the vote is the scratch's array`);
        t.equal(v.equalsPlain, true, `${name}: equals the plain scratch's vote`);
        t.equal(v.equalsReference, true, `${name}: equals majorityVote of all ranks' signs`);
        // What must go by reference: 'allgather' sends the signs from the registered buffer (copied
        // in when packed elsewhere and M - 1 >= 2 peers; at M = 2 a copy would just replace the slot copy); the server sends the vote from it; 'reduce'
        // sends its chunk vote from the registered vote (and its sign chunks from the registered
        // signs when packed there). Messages under the mailbox size (d = 33) go through the mailbox
        // either way.
        if (v.d < 100_000) continue;
        const sends = (v.mode === 'allgather' && (m >= 3 || v.packedThere)) || v.mode === 'reduce' || (v.mode === 'server' && (r === m - 1 || v.packedThere));
        if (sends) t.ok(v.sharedBytes > 0, `${name}: sent by reference (${v.sharedBytes} bytes)`);
        else t.equal(v.sharedBytes, 0, `${name}: signs packed elsewhere and sent to one peer are copied (${v.sharedBytes} bytes by reference)`);
      }
      const life = rows.find((x) => x.scenario === 'lifecycle') as Record<string, unknown>;
      t.ok((life.withScratch as number) >= (life.before as number) + 2, `rank ${r}: signs and vote in /dev/shm while the scratch lives (${String(life.before)} -> ${String(life.withScratch)})`);
      t.equal(life.sameAsBefore, true, `rank ${r}: release() removed exactly the scratch's regions`);
      t.equal(life.whileInFlight, 'EINVAL', `rank ${r}: release() refused while a vote is in flight`);
      t.equal(life.inFlightRight, true, `rank ${r}: that vote is still right`);
      t.equal(life.usableAfterRelease, false);
      t.equal(life.voteDetached, true, `rank ${r}: the released vote is detached, not silently stale`);
      t.equal(life.reuse, 'EINVAL', `rank ${r}: a released scratch is refused`);
      t.ok((life.keptArenas as number) > (life.before as number), `rank ${r}: the scratch kept for close() is in /dev/shm`);
      const closed = rows.find((x) => x.scenario === 'closed') as Record<string, unknown>;
      t.equal(closed.arenasAfterClose, 0, `rank ${r}: close() freed the unreleased scratch's regions`);
      t.equal(closed.usable, false);
      t.equal(closed.afterClose, 'ECLOSED', `rank ${r}: its scratch is refused after close`);
    }
    const left = readdirSync('/dev/shm').filter((n) => n.startsWith(`zcoll-${epoch}-`));
    t.same(left, [], `/dev/shm holds nothing of epoch ${epoch} after the ranks exited`);
  });
}

function canUnshare(): string | false {
  if (!shmSupported()) return 'the native addon (shared memory) is not built';
  if (process.getuid?.() !== 0) return 'needs root (mount in a new mount namespace)';
  const r = spawnSync('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', 'mount -t tmpfs -o size=1m tmpfs /dev/shm'], { stdio: 'ignore' });
  return r.status === 0 ? false : 'unshare --mount with a tmpfs is not possible here';
}

// 48 MiB of /dev/shm: the two ranks' main regions (17 MiB each) leave 14 MiB. At d = 2^26 + 5 the
// vote (8 MiB) fits, the signs (another 8 MiB) do not: a scratch partly registered. Transport 'shm' makes allocBuffer throw ECONFIG (ENOSPC), which the scratch
// must take as "use plain memory"; under 'auto' the transport falls back itself (one warning).
for (const transport of ['shm', 'auto']) {
  t.test(`/dev/shm too small for the buffers, transport ${transport}: plain memory, right votes`, { skip: canUnshare() }, async (t) => {
    const port = await quietPort();
    const d = 2 ** 26 + 5;
    const script = `mount -t tmpfs -o size=48m tmpfs /dev/shm && exec "$0" "$@"`;
    const r = await runCli(
      ['--mount', '--propagation', 'private', '--', 'sh', '-c', script, process.execPath, join(REPO, 'bin', 'zcoll.js'), 'launch', '-n', '2', '--port', String(port), '--', process.execPath, join(DIST, SCRIPT), 'fallback', '7', String(d)],
      { command: 'unshare', env: { ZCOLL_TIMEOUT_MS: '60000', ZCOLL_TRANSPORT: transport }, killAfterMs: 180_000 },
    );
    t.equal(r.code, 0, r.stderr.slice(-2000));
    t.notMatch(r.stderr, /SIGBUS/);
    const rows = [...r.stdout.matchAll(/^\[(\d+)\] RESULT (.*)$/gm)].map((x) => ({ rank: Number(x[1]), ...(JSON.parse(x[2]) as { mode: string; sharedMemory: boolean; arenas: number; equalsReference: boolean }) }));
    t.equal(rows.length, 2 * SIGN_VOTE_MODES.length, r.stdout);
    for (const x of rows) {
      t.equal(x.sharedMemory, true, `rank ${x.rank}: the ranks share memory`);
      t.equal(x.equalsReference, true, `rank ${x.rank} ${x.mode}: the vote equals majorityVote`);
      t.ok(x.arenas < 2, `rank ${x.rank} ${x.mode}: not both buffers (signs, vote) are registered (${x.arenas} regions)`);
    }
  });
}

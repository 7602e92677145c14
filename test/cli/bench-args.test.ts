// zcoll bench's argument errors: each is clear (names the flag and the bad value), exits 2, and
// comes before any rank starts (so it is fast).
import t from 'tap';
import { ALLREDUCE_ALGORITHMS } from '../../lib/comm/communicator.js';
import { runCli, type CliRun } from '../helpers/cli.js';


function run(args: string[]): Promise<CliRun> {
  return runCli(args, { env: { ZCOLL_TIMEOUT_MS: '5000' }, killAfterMs: 30_000 });
}

const CASES: Array<[string, string[], RegExp]> = [
  ['unknown algorithm', ['bench', '-a', 'butterfly'], new RegExp(`-a/--algorithm: unknown algorithm 'butterfly' \\(one of ${ALLREDUCE_ALGORITHMS.join(', ')}\\)`)],
  ['size range reversed', ['bench', '-b', '8M', '-e', '4K'], /--min-bytes \(8388608\) is larger than --max-bytes \(4096\)/],
  ['not a size', ['bench', '-b', 'lots'], /-b\/--min-bytes: "lots" is not a size/],
  ['config missing', ['bench', '--config', '/nonexistent/zcoll-cluster.json'], /\/nonexistent\/zcoll-cluster\.json/],
  ['unknown collective', ['bench', 'alltoall'], /unknown collective 'alltoall' \(one of allreduce, reducescatter, allgather, broadcast, signsgd, robust, coded, latency\)/],
  ['algorithm of another collective', ['bench', 'broadcast', '-a', 'ring'], /applies to allreduce only/],
  ['all-reduce algorithm on reducescatter', ['bench', 'reducescatter', '-a', 'tree'], /-a\/--algorithm tree applies to allreduce \(reducescatter: auto, ring, hierarchical\), not reducescatter/],
  ['bad byzantine field', ['bench', 'robust', '--byzantine', 'alie:ranks=2,tau=x'], /field 'tau'/],
  ['bad straggler field', ['bench', '--stragglers', 'ge:p=0.1,slow=3'], /field 'q' is required/],
  ['bad kill step', ['bench', '--kill', 'rank=1,at=later'], /field 'at'/],
  ['missing fault file', ['bench', '--faults', '/nonexistent/faults.json'], /--faults: cannot read '\/nonexistent\/faults\.json'/],
  ['robust needs float32', ['bench', 'robust', '-d', 'int32'], /float32 gradients, got -d int32/],
  ['unknown coded scheme', ['bench', 'coded', '--scheme', 'lt'], /unknown scheme 'lt'/],
  ['report of a missing file', ['report', '/nonexistent/results.json'], /cannot read '\/nonexistent\/results\.json'/],
];

// Two at a time (the machine has 2 cores); the assertions follow in order.
const results = new Map<string, ReturnType<typeof run>>();
const pending = [...CASES];
const lane = async (): Promise<void> => {
  for (let c = pending.shift(); c !== undefined; c = pending.shift()) {
    const p = run(c[1]);
    results.set(c[0], p);
    await p;
  }
};
const lanes = Promise.all([lane(), lane()]);

for (const [what, , message] of CASES) {
  t.test(what, async (t) => {
    while (!results.has(what)) await new Promise((r) => setTimeout(r, 20));
    const r = await results.get(what)!;
    t.equal(r.code, 2, `exit code 2 (stderr: ${r.stderr.trim()})`);
    t.match(r.stderr, message);
    t.notMatch(r.stderr, /^\s+at /m, 'a message, not a stack trace');
    t.equal(r.stdout, '', 'no table: no rank started');
  });
}
t.teardown(() => lanes);

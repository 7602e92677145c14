/**
 * bench/hosts-netns: all-reduce across emulated hosts whose NICs are the bottleneck (issue 19).
 *
 * H network namespaces are H hosts with G ranks each (uneven: --ranks 3,1); each host has one veth
 * into a switch namespace (a bridge), shaped with `tc tbf` on both ends (default 200 Mbit/s), so a
 * host's link, shared by its ranks, is the bottleneck and same-host traffic (ipc) is not. Addresses
 * only in 198.18.0.0/15, no route out, nothing attached to the machine's interfaces; everything is
 * removed at the end, pass or fail. Every algorithm and 'auto' runs as `zcoll bench --host hK` in
 * each namespace (results checked: #wrong must be 0). Prints busbw per size, the bound, and the bytes
 * each host's link carried per direction (`ip -s link`, TCP/IP headers and acks included) per byte
 * of all-reduce (D), next to what the schedule itself sends (1 D for hierarchical at 2 hosts).
 *   bound = R * H(n-1) / ((H-1) n) busbw: each NIC must carry 2(H-1)/H * D each way; R = the rate,
 *   also given after TCP/IP headers (1448 payload bytes per 1514-byte frame).
 * The config gives no topology unless --tell: the hosts come from where the ranks run (rendezvous).
 * Needs root and iproute2 (ip, tc); says so and exits 0 otherwise.
 *
 *   node dist/bench/hosts-netns.js [--hosts 2] [--ranks 2 | --ranks 3,1] [--rate 200mbit]
 *     [--sizes 1M,16M,64M] [--iters 3] [--algorithms ring,tree,multitree,hierarchical,auto]
 *     [--tell] [--segment BYTES] [--peers gloo,mpi] [--json FILE] [--out bench/results/hosts-netns.md]
 *     [--collective allreduce | reducescatter | allgather | broadcast]
 * --collective times another collective (`zcoll bench <collective>`; algorithms: reducescatter and
 * allgather ring, hierarchical, auto; broadcast auto only, its chain/binomial rule); D is then the
 * whole buffer (a reduce-scatter's input, an all-gather's result, the broadcast message) and the
 * bound is R * (n-1) / max_h max(n - G_h, (H-1) G_h) busbw for reduce-scatter and all-gather (host h
 * must send its partials of the chunks it does not own and take in (H-1) partials of those it owns,
 * or the reverse), R for broadcast (every other host must take in D). No peer columns for those.
 * --collective signsgd times one majority vote of a float32 gradient of D bytes (`zcoll bench signsgd`,
 * the library's signVote); the algorithms are its modes (allgather, server, reduce) and the bound
 * column is the fp32 all-reduce's it replaces (busbw as that all-reduce's, so a vote can pass it):
 * bytes per direction show what each mode puts on a host's link per byte of gradient.
 * --peers adds columns for torch.distributed's gloo (Debian python3-torch, /usr/bin/python3) and
 * OpenMPI (mpirun in host 0's namespace, its rsh agent starting each other host's daemon with
 * `ip netns exec`), with the scripts in bench/peers-hosts/ (same method: fill, barrier, time, check
 * every element; median over iterations of the slowest rank's time). Every program runs --warmup
 * untimed iterations first (5, as nccl-tests: the first iterations measure TCP's ramp-up, not the library).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildTopology, hostTopologySpec } from '../lib/cluster/topology.js';
import { autoAlgorithm, autoRsAgAlgorithm } from '../lib/schedule/choose.js';
import { parseBytes } from '../lib/cli/sizes.js';
import { ip, Namespaces, requireNetnsTools, steerReceive, tbf } from './netns.js';
import { benchArgs } from './args.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '..', '..');
const parsed = benchArgs({
  name: 'hosts-netns',
  summary: 'All-reduce across H emulated hosts (network namespaces, tbf-shaped links; root): busbw of every algorithm and auto, the bound, bytes per direction on each host link.',
  options: {
    hosts: { type: 'string', value: '2', describe: 'hosts (namespaces), 2..16' },
    ranks: { type: 'string', value: '2', describe: 'ranks per host, one count or one per host (3,1)' },
    rate: { type: 'string', value: '200mbit', describe: 'each host link (tc tbf)' },
    sizes: { type: 'string', value: '1M,16M,64M', describe: 'all-reduce sizes' },
    iters: { type: 'string', value: '3', describe: 'timed iterations per size' },
    warmup: { type: 'string', value: '5', describe: 'untimed iterations per size before them, every program' },
    algorithms: { type: 'string', value: 'ring,tree,multitree,hierarchical,auto', describe: 'zcoll algorithms to run' },
    collective: { type: 'string', value: 'allreduce', describe: 'allreduce, reducescatter, allgather, broadcast or signsgd' },
    root: { type: 'string', value: '0', describe: 'broadcast root rank' },
    tell: { type: 'boolean', describe: 'give the config the link rates (a hierarchical topology)' },
    segment: { type: 'string', value: 'BYTES', describe: 'segment size of the runs' },
    peers: { type: 'string', value: 'gloo,mpi', describe: 'peer columns to add' },
    json: { type: 'string', value: 'FILE', describe: 'also write the rows as JSON' },
    trace: { type: 'string', value: 'FILE', describe: 'Chrome trace of every rank (zcoll bench --trace), one file per algorithm: FILE.<algorithm>.json' },
    out: { type: 'string', value: 'FILE', describe: 'write the markdown report here too' },
  },
});
const arg = (name: keyof typeof parsed, dflt: string): string => {
  const v = parsed[name];
  return typeof v === 'string' ? v : dflt;
};
const H = Number(arg('hosts', '2'));
const ranksArg = arg('ranks', '2').split(',').map(Number);
const G = ranksArg.length === 1 ? new Array<number>(H).fill(ranksArg[0]) : ranksArg;
const rate = arg('rate', '200mbit');
const sizes = arg('sizes', '1M,16M,64M').split(',');
const iters = Number(arg('iters', '3'));
const warmup = Number(arg('warmup', '5'));
const collective = arg('collective', 'allreduce');
const algorithms = arg('algorithms', collective === 'signsgd' ? 'allgather,server,reduce' : 'ring,tree,multitree,hierarchical,auto').split(',');
const tell = parsed.tell;
const root = arg('root', '0');
if (!['allreduce', 'reducescatter', 'allgather', 'broadcast', 'signsgd'].includes(collective)) {
  process.stderr.write(`hosts-netns: --collective must be allreduce, reducescatter, allgather, broadcast or signsgd, got ${collective}\n`);
  process.exit(2);
}
const segment = arg('segment', '');
if (!(Number.isInteger(iters) && iters >= 1) || !(Number.isInteger(warmup) && warmup >= 0)) {
  process.stderr.write(`hosts-netns: --iters must be an integer >= 1 and --warmup >= 0, got ${arg('iters', '3')} and ${arg('warmup', '5')}\n`);
  process.exit(2);
}
const peers = arg('peers', '').split(',').filter((p) => p !== '');
if (!peers.every((p) => p === 'gloo' || p === 'mpi') || (peers.length > 0 && collective !== 'allreduce')) {
  process.stderr.write(`hosts-netns: --peers takes gloo and/or mpi, got ${peers.join(',')}\n`);
  process.exit(2);
}
const PEER_DIR = join(REPO, 'bench', 'peers-hosts');
const jsonOut = arg('json', '');
const traceOut = arg('trace', '');
const out = arg('out', '');
if (!(Number.isInteger(H) && H >= 2 && H <= 16) || G.length !== H || !G.every((g) => Number.isInteger(g) && g >= 1 && g <= 8)) {
  process.stderr.write(`hosts-netns: --hosts must be 2..16 and --ranks one count (1..8) or one per host, got --hosts ${H} --ranks ${ranksArg.join(',')}\n`);
  process.exit(2);
}
const rateMatch = /^(\d+(?:\.\d+)?)(k|m|g)bit$/i.exec(rate);
if (rateMatch === null) {
  process.stderr.write(`hosts-netns: --rate must look like 200mbit, got ${rate}\n`);
  process.exit(2);
}
/** Link rate in bytes per second. */
const R = (Number(rateMatch[1]) * { k: 1e3, m: 1e6, g: 1e9 }[rateMatch[2].toLowerCase() as 'k' | 'm' | 'g']) / 8;
const n = G.reduce((a, b) => a + b, 0);
const bound =
  collective === 'allreduce' || collective === 'signsgd' ? (R * H * (n - 1)) / ((H - 1) * n) : collective === 'broadcast' ? R : (R * (n - 1)) / Math.max(...G.map((g) => Math.max(n - g, (H - 1) * g)));
const TCP_PAYLOAD = 1448 / 1514;

requireNetnsTools('hosts-netns');

const id = (process.pid % 900) + 100; // interface names stay <= 15 characters
const hostNs = (k: number): string => `zh${id}n${k}`;
const switchNs = `zh${id}sw`;
const inner = (k: number): string => `zh${id}h${k}`;
const outer = (k: number): string => `zh${id}s${k}`;
const addr = (k: number): string => `198.18.${100 + (id % 100)}.${k + 1}`;
const spaces = new Namespaces();

/** Counters of host k so far: bytes and packets on its link (seen from inside the host), TCP segments it retransmitted. */
interface LinkCounters {
  tx: number;
  rx: number;
  txPackets: number;
  retransmits: number;
}
function linkBytes(k: number): LinkCounters {
  const j = JSON.parse(ip(['-n', hostNs(k), '-s', '-j', 'link', 'show', 'dev', inner(k)])) as Array<{ stats64: { tx: { bytes: number; packets: number }; rx: { bytes: number } } }>;
  // Retransmissions say whether a schedule overruns the shaper's queue (each one is bytes on the link twice).
  const snmp = spawnSync('ip', ['netns', 'exec', hostNs(k), 'cat', '/proc/net/snmp'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.startsWith('Tcp:'));
  const at = snmp.length === 2 ? snmp[0].split(/\s+/).indexOf('RetransSegs') : -1;
  return { tx: j[0].stats64.tx.bytes, rx: j[0].stats64.rx.bytes, txPackets: j[0].stats64.tx.packets, retransmits: at > 0 ? Number(snmp[1].split(/\s+/)[at]) : NaN };
}

interface BenchRow {
  size: number;
  busbw: number;
  time_us: number;
  wrong: number;
}
interface Row {
  algorithm: string;
  /** What 'auto' runs at this size (the communicator's rule on the topology the rendezvous gives). */
  picks: string;
  size: number;
  busbwMBs: number;
  wrong: number;
}
interface LinkRow {
  algorithm: string;
  /** Per host: bytes sent and received on its link over the run, per byte of all-reduce run. */
  txPerD: number[];
  rxPerD: number[];
  /** Per host: mean bytes per packet it sent, and TCP segments it retransmitted over the run. */
  bytesPerPacket: number[];
  retransmits: number[];
}

function linkRow(algorithm: string, before: LinkCounters[], after: LinkCounters[], allReducedBytes: number): LinkRow {
  return {
    algorithm,
    txPerD: after.map((a, k) => (a.tx - before[k].tx) / allReducedBytes),
    rxPerD: after.map((a, k) => (a.rx - before[k].rx) / allReducedBytes),
    bytesPerPacket: after.map((a, k) => (a.tx - before[k].tx) / Math.max(1, a.txPackets - before[k].txPackets)),
    retransmits: after.map((a, k) => a.retransmits - before[k].retransmits),
  };
}

const work = mkdtempSync(join(tmpdir(), 'zcoll-hosts-'));
const rows: Row[] = [];
const linkRows: LinkRow[] = [];
/** Per link end, why receive steering failed ('' when it took). */
const steered: string[] = [];
const configTopology = tell ? { kind: 'hierarchical', intraBandwidth: 4e9, interBandwidth: R } : undefined;
const hostOf = G.flatMap((g, k) => new Array<number>(g).fill(k));
const modelled = buildTopology(hostTopologySpec(configTopology, hostOf), n);
let failure: Error | undefined;
try {
  spaces.add(switchNs);
  ip(['-n', switchNs, 'link', 'add', 'br0', 'type', 'bridge']);
  ip(['-n', switchNs, 'link', 'set', 'br0', 'up']);
  for (let k = 0; k < H; k++) {
    spaces.add(hostNs(k));
    ip(['-n', hostNs(k), 'link', 'set', 'lo', 'up']);
    ip(['link', 'add', inner(k), 'type', 'veth', 'peer', 'name', outer(k)]);
    ip(['link', 'set', inner(k), 'netns', hostNs(k)]);
    ip(['link', 'set', outer(k), 'netns', switchNs]);
    ip(['-n', switchNs, 'link', 'set', outer(k), 'master', 'br0']);
    ip(['-n', switchNs, 'link', 'set', outer(k), 'up']);
    ip(['-n', hostNs(k), 'addr', 'add', `${addr(k)}/24`, 'dev', inner(k)]);
    ip(['-n', hostNs(k), 'link', 'set', inner(k), 'up']);
    tbf(hostNs(k), inner(k), rate); // what the host sends
    tbf(switchNs, outer(k), rate); // what it receives
    // Each end of the link delivers on one CPU (receive packet steering), host k's on CPU k mod cores.
    // Without it the emulation reorders a flow, which no NIC does (RSS keeps a flow on one queue): a
    // veth hands a packet to the receive backlog of whichever CPU dequeued it from the shaper, and the
    // two CPUs' backlogs run concurrently. Measured at 1 Gbit/s, 2 x 2, host-aware all-reduce: 16-25k
    // segments retransmitted per host per run (SACK reordering, confirmed spurious by DSACK), 1.12 D
    // per direction instead of 1.05, 129 MB/s busbw at 64 MiB instead of 160; gloo 6-9k, 98 vs 109.
    steered.push(steerReceive(hostNs(k), inner(k), k % availableParallelism()), steerReceive(switchNs, outer(k), k % availableParallelism()));
    if (/default/.test(ip(['-n', hostNs(k), 'route']))) throw new Error(`namespace ${hostNs(k)} has a default route`);
  }
  const config = join(work, 'hosts.json');
  writeFileSync(
    config,
    JSON.stringify({ hosts: G.map((g, k) => ({ name: `h${k}`, address: addr(k), ranks: g })), port: 29000 + id, timeoutMs: 300000, ...(segment !== '' ? { segmentBytes: parseBytes(segment, '--segment') } : {}), ...(configTopology !== undefined ? { topology: configTopology } : {}) }, null, 2),
  );
  const sizeBytes = sizes.map((s) => parseBytes(s, '--sizes'));
  /** Runs processes to completion (each bounded), returning rank 0's stdout; throws naming the failed one. */
  const runAll = async (what: string, commands: string[][]): Promise<string> => {
    const results = await Promise.all(
      commands.map(
        (argv) =>
          new Promise<{ code: number | null; stdout: string; stderr: string }>((done) => {
            const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
            let stdout = '';
            let stderr = '';
            child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
            child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
            const killer = setTimeout(() => child.kill('SIGKILL'), 900_000);
            child.on('close', (code) => (clearTimeout(killer), done({ code, stdout, stderr })));
          }),
      ),
    );
    const failed = results.findIndex((r) => r.code !== 0);
    if (failed >= 0) throw new Error(`${what}: process ${failed} failed (${results[failed].code}): ${results[failed].stderr.slice(-800)}`);
    return results[0].stdout;
  };
  const record = (name: string, before: LinkCounters[], got: BenchRow[]): void => {
    const after = Array.from({ length: H }, (_, k) => linkBytes(k));
    let allReducedBytes = 0;
    for (const r of got) {
      allReducedBytes += r.size * (iters + warmup); // timed and warm-up iterations
      rows.push({ algorithm: name, picks: name, size: r.size, busbwMBs: r.busbw / 1e6, wrong: r.wrong });
    }
    linkRows.push(linkRow(name, before, after, allReducedBytes));
  };
  const jsonLines = (text: string): BenchRow[] => text.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as BenchRow);
  const offset = G.map((_, k) => G.slice(0, k).reduce((a, b) => a + b, 0));
  if (peers.includes('gloo')) {
    const before = Array.from({ length: H }, (_, k) => linkBytes(k));
    const commands = G.flatMap((g, k) =>
      Array.from({ length: g }, (_, j) => ['ip', 'netns', 'exec', hostNs(k), 'env', `RANK=${offset[k] + j}`, `WORLD_SIZE=${n}`, `MASTER_ADDR=${addr(0)}`, `MASTER_PORT=${29500 + id}`, `GLOO_SOCKET_IFNAME=${inner(k)}`, '/usr/bin/python3', join(PEER_DIR, 'gloo_allreduce.py'), sizeBytes.join(','), String(iters), String(warmup)]),
    );
    record('gloo', before, jsonLines(await runAll('gloo', commands)));
  }
  if (peers.includes('mpi')) {
    const bin = join(work, 'mpi_allreduce');
    execFileSync('mpicc', ['-O2', '-o', bin, join(PEER_DIR, 'mpi_allreduce.c')]);
    // mpirun's rsh agent: the daemon of the host at address A starts in that host's namespace.
    const agent = join(work, 'netns-rsh.sh');
    writeFileSync(agent, `#!/bin/sh\nhost="$1"; shift\ncase "$host" in\n${G.map((_, k) => `  ${addr(k)}) ns=${hostNs(k)} ;;\n`).join('')}  *) echo "netns-rsh: unknown host $host" >&2; exit 1 ;;\nesac\nexec ip netns exec "$ns" sh -c "$*"\n`);
    chmodSync(agent, 0o755);
    const subnet = `${addr(0).replace(/\.\d+$/, '.0')}/24`;
    const before = Array.from({ length: H }, (_, k) => linkBytes(k));
    const mpirun = ['ip', 'netns', 'exec', hostNs(0), 'mpirun', '--allow-run-as-root', '-np', String(n), '-H', G.map((g, k) => `${addr(k)}:${g}`).join(','), '--mca', 'plm_rsh_agent', agent, '--mca', 'pml', 'ob1', '--mca', 'btl', 'tcp,self', '--mca', 'btl_tcp_if_include', subnet, '--mca', 'oob_tcp_if_include', subnet, bin, sizeBytes.join(','), String(iters), String(warmup)];
    record('OpenMPI', before, jsonLines(await runAll('OpenMPI', [mpirun])));
  }
  for (const algorithm of algorithms) {
    const json = join(work, `${algorithm}.json`);
    const before = Array.from({ length: H }, (_, k) => linkBytes(k));
    const runs = Array.from(
      { length: H },
      (_, k) =>
        new Promise<{ code: number | null; stderr: string }>((done) => {
          const args = ['netns', 'exec', hostNs(k), process.execPath, join(REPO, 'bin', 'zcoll.js'), 'bench', collective, ...(collective === 'broadcast' ? ['--root', root] : []), '--config', config, '--host', `h${k}`, ...(collective === 'signsgd' ? ['--mode', algorithm] : ['-a', algorithm]), '-b', sizes[0], '-e', sizes[sizes.length - 1], '-f', String(sizeBytes.length > 1 ? sizeBytes[1] / sizeBytes[0] : 2), '-n', String(iters), '-w', String(warmup), '-q', ...(k === 0 ? ['--json', json] : []), ...(traceOut !== '' ? ['--trace', resolve(`${traceOut}.${algorithm}.json`)] : [])];
          const child = spawn('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
          let stderr = '';
          child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
          const killer = setTimeout(() => child.kill('SIGKILL'), 900_000);
          child.on('close', (code) => (clearTimeout(killer), done({ code, stderr })));
        }),
    );
    const results = await Promise.all(runs);
    const failed = results.findIndex((r) => r.code !== 0);
    if (failed >= 0) throw new Error(`${algorithm}: host h${failed} failed: ${results[failed].stderr.slice(-800)}`);
    const after = Array.from({ length: H }, (_, k) => linkBytes(k));
    const benchRows = JSON.parse(readFileSync(json, 'utf8')) as BenchRow[];
    let allReducedBytes = 0;
    for (const r of benchRows) {
      allReducedBytes += r.size * (iters + warmup); // timed and warm-up iterations
      const picks = algorithm !== 'auto' ? algorithm : collective === 'allreduce' ? autoAlgorithm(modelled, r.size) : collective === 'broadcast' ? 'chain/binomial' : autoRsAgAlgorithm(modelled, collective as 'reducescatter' | 'allgather', r.size);
      rows.push({ algorithm, picks, size: r.size, busbwMBs: r.busbw * 1000, wrong: r.wrong });
    }
    linkRows.push(linkRow(algorithm, before, after, allReducedBytes));
  }
} catch (e) {
  failure = e as Error;
} finally {
  spaces.removeAll();
  rmSync(work, { recursive: true, force: true });
}

const mb = (x: number): string => (x / 1e6).toFixed(1);
const usedSizes = [...new Set(rows.map((r) => r.size))].sort((a, b) => a - b);
const columns = [...algorithms, ...(peers.includes('gloo') ? ['gloo'] : []), ...(peers.includes('mpi') ? ['OpenMPI'] : [])];
const lines = [
  `# ${{ allreduce: 'All-reduce', reducescatter: 'Reduce-scatter', allgather: 'All-gather', broadcast: 'Broadcast', signsgd: 'signSGD majority vote' }[collective]} across ${H} emulated hosts (${G.join('+')} ranks), host links at ${rate}`,
  '',
  `Command (root): \`node dist/bench/hosts-netns.js --hosts ${H} --ranks ${G.join(',')} --rate ${rate} --sizes ${sizes.join(',')} --iters ${iters}${warmup !== 5 ? ` --warmup ${warmup}` : ''} --algorithms ${algorithms.join(',')}${collective !== 'allreduce' ? ` --collective ${collective}` : ''}${collective === 'broadcast' ? ` --root ${root}` : ''}${tell ? ' --tell' : ''}${segment !== '' ? ` --segment ${segment}` : ''}${peers.length > 0 ? ` --peers ${peers.join(',')}` : ''}\`, ${new Date().toISOString()}.`,
  '',
  `${H} network namespaces (hosts), each with one veth into a bridge namespace, tbf ${rate} on both ends; addresses in 198.18.0.0/15; no route out; removed afterwards.`,
  steered.every((e) => e === '') ? 'Each link end receives on one CPU (host k on CPU k mod cores, receive packet steering), so the emulation delivers a flow in order as a NIC does.' : `Receive steering failed (${steered.filter((e) => e !== '').join('; ')}): the emulation may reorder packets (see the retransmitted column).`,
  `Every program: ${warmup} warm-up iterations, then ${iters} timed; the median iteration of the slowest rank.`,
  `Topology: ${tell ? 'config `{kind: hierarchical, intraBandwidth: 4e9, interBandwidth: R}`, hosts from the rendezvous' : 'none in the config: hosts from the rendezvous, default bandwidths'}. busbw = algbw * ${collective === 'allreduce' || collective === 'signsgd' ? '2(n-1)/n' : collective === 'broadcast' ? '1' : '(n-1)/n'}, MB/s; #wrong must be 0.`,
  `Bound: ${collective === 'signsgd' ? "the fp32 all-reduce's, R * H(n-1)/((H-1)n)" : collective === 'allreduce' ? 'R * H(n-1)/((H-1)n)' : collective === 'broadcast' ? 'R' : 'R (n-1) / max_h max(n-G_h, (H-1)G_h)'} = ${mb(bound)} MB/s, ${mb(bound * TCP_PAYLOAD)} after TCP/IP headers.`,
  '',
  `| size | ${columns.map((a) => (a === 'auto' ? 'auto (picks)' : a)).join(' | ')} | bound |`,
  `|---|${columns.map(() => '---').join('|')}|---|`,
];
for (const size of usedSizes) {
  const cells = columns.map((a) => {
    const r = rows.find((x) => x.algorithm === a && x.size === size);
    if (r === undefined) return '-';
    return `${mb(r.busbwMBs * 1e6)}${a === 'auto' ? ` (${r.picks})` : ''}${r.wrong !== 0 ? ` WRONG ${r.wrong}` : ''}`;
  });
  lines.push(`| ${size >= 2 ** 20 ? `${Number((size / 2 ** 20).toFixed(2))} MiB` : `${size / 1024} KiB`} | ${cells.join(' | ')} | ${mb(bound * TCP_PAYLOAD)} |`);
}
lines.push('', `Bytes on each host's link per byte ${collective === 'allreduce' ? 'all-reduced' : collective === 'signsgd' ? 'of float32 gradient' : 'of the buffer'} (D), sent / received, whole run (sizes, warmup and timed iterations; TCP/IP headers and acks included):`, '');
lines.push(`| algorithm | ${Array.from({ length: H }, (_, k) => `host ${k} tx / rx`).join(' | ')} | bytes per packet sent, as the device counts them (hosts) | TCP segments retransmitted (hosts) |`, `|---|${Array.from({ length: H }, () => '---').join('|')}|---|---|`);
for (const l of linkRows) lines.push(`| ${l.algorithm} | ${l.txPerD.map((tx, k) => `${tx.toFixed(2)} / ${l.rxPerD[k].toFixed(2)}`).join(' | ')} | ${l.bytesPerPacket.map((b) => b.toFixed(0)).join(' / ')} | ${l.retransmits.join(' / ')} |`);
const text = `${lines.join('\n')}\n`;
process.stdout.write(text);
if (out !== '') writeFileSync(resolve(out), text);
if (jsonOut !== '') writeFileSync(resolve(jsonOut), JSON.stringify({ hosts: H, ranks: G, rate, iters, warmup, steeringFailures: steered.filter((e) => e !== ''), bound, boundAfterHeaders: bound * TCP_PAYLOAD, rows, links: linkRows }, null, 2));
if (failure !== undefined) {
  process.stderr.write(`hosts-netns: ${failure.message}\n`);
  process.exit(1);
}
if (rows.some((r) => r.wrong !== 0)) {
  process.stderr.write('hosts-netns: some results were wrong\n');
  process.exit(1);
}

/**
 * What the network-namespace benches (hosts-netns.ts, torus-netns.ts) share: the root/iproute2 check,
 * `ip` and `tc tbf` calls that fail loudly, and the namespaces made, removed at the end or on
 * SIGINT/SIGTERM (deleting a namespace deletes the veth ends inside it, and with them the pairs).
 * Addresses are the caller's, always inside 198.18.0.0/15.
 */
import { spawnSync } from 'node:child_process';

function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/** Exits 0 with a 'skipped' line unless this runs as root with ip and tc. */
export function requireNetnsTools(script: string): void {
  if (process.getuid?.() !== 0 || !have('ip') || !have('tc')) {
    process.stdout.write(`${script}: skipped: needs root and iproute2 (ip, tc)\n`);
    process.exit(0);
  }
}

/** `ip args...`; its stdout, or throws with its stderr. */
export function ip(args: readonly string[]): string {
  const r = spawnSync('ip', [...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** Shapes `dev` in namespace `ns` to `rate` (tc tbf). */
export function tbf(ns: string, dev: string, rate: string): void {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'tc', 'qdisc', 'add', 'dev', dev, 'root', 'tbf', 'rate', rate, 'burst', '64kb', 'latency', '400ms'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tc on ${ns}/${dev}: ${r.stderr.trim()}`);
}

/**
 * Steers what `dev` (in `ns`) receives to one CPU (receive packet steering); returns why it could
 * not ('' when the mask reads back). Why: a veth hands each packet to the receive backlog of the
 * CPU that dequeued it from the shaper, and two CPUs' backlogs run at once, so an emulated link
 * reorders a flow, which no NIC does (RSS keeps a flow on one queue); TCP then retransmits
 * thousands of segments per run (bench/results/hosts-netns.md, sittings U-Z).
 */
export function steerReceive(ns: string, dev: string, cpu: number): string {
  const file = `/sys/class/net/${dev}/queues/rx-0/rps_cpus`;
  const mask = 2 ** cpu;
  const r = spawnSync('ip', ['netns', 'exec', ns, 'sh', '-c', `echo ${mask.toString(16)} > ${file} && cat ${file}`], { encoding: 'utf8' });
  return r.status === 0 && parseInt(r.stdout.trim().replace(/,/g, ''), 16) === mask ? '' : `${dev}: ${r.stderr.trim() || r.stdout.trim() || 'no rps_cpus'}`;
}

/** The namespaces a bench made: `add` makes one; `removeAll` deletes them, newest first. */
export class Namespaces {
  private readonly made: string[] = [];

  constructor() {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => (this.removeAll(), process.exit(130)));
  }

  add(name: string): void {
    ip(['netns', 'add', name]);
    this.made.push(name);
  }

  removeAll(): void {
    for (const ns of this.made.reverse()) spawnSync('ip', ['netns', 'del', ns]);
    this.made.length = 0;
  }
}

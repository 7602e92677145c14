/**
 * Network topology: the resource model MULTITREE builds on and the simulator costs against, as in
 * the authors' simulator (Huang et al., ISCA 2021): end nodes (ranks) attached
 * to switches, per-rank per-step send and receive budgets (ports), and directed switch-to-switch
 * links with a multiplicity (parallel links, each usable once per step) and an optional bandwidth.
 *
 * Built from the `"topology"` key of cluster.config.json:
 *   {kind:'switch', ports?, bandwidth?}                       one non-blocking switch (default)
 *   {kind:'hierarchical', hosts, ranksPerHost, nics?, intraBandwidth?, interBandwidth?}
 *                                                             a fast switch per host, one NIC per host
 *                                                             (nics parallel links) to a core switch;
 *                                                             hostOf:[host of each rank] instead of
 *                                                             hosts x ranksPerHost for uneven hosts, and
 *                                                             neither: hosts from the rendezvous
 *                                                             (hostTopologySpec)
 *   {kind:'torus'|'mesh', dims:[a,b,...], ports?, bandwidth?} one router per rank, k-ary n-cube
 *   {kind:'fattree', k, levels?, bandwidth?}                  k-ary n-tree (k^levels ranks)
 *   {kind:'links', links:[{a,b,multiplicity?,bandwidth?}], ports?}  explicit rank-to-rank links
 * Bandwidths are bytes per second; absent means "the simulator's default beta".
 * Every check throws ZcollError('ECONFIG') naming the key; a disconnected topology is refused here,
 * so no builder can loop looking for a rank it cannot reach. Building is O(ranks + links).
 */
import { createHash } from 'node:crypto';
import { ZcollError } from '../errors.js';
import { totalRanks, type ClusterConfig } from './config.js';

export type TopologyKind = 'switch' | 'hierarchical' | 'torus' | 'mesh' | 'fattree' | 'links';

export interface SwitchSpec {
  readonly kind: 'switch';
  readonly ports?: number;
  readonly bandwidth?: number;
}
export interface HierarchicalSpec {
  readonly kind: 'hierarchical';
  readonly hosts: number;
  /** Ranks on each host; with `hostOf`, the most on any host. */
  readonly ranksPerHost: number;
  /**
   * The host of every rank (0..hosts-1), for hosts of different sizes or ranks not numbered by host:
   * what the rendezvous learns from where the ranks run (hostTopologySpec). Absent: rank r is on
   * host floor(r / ranksPerHost).
   */
  readonly hostOf?: readonly number[];
  readonly nics?: number;
  readonly intraBandwidth?: number;
  readonly interBandwidth?: number;
}
export interface CubeSpec {
  readonly kind: 'torus' | 'mesh';
  readonly dims: readonly number[];
  readonly ports?: number;
  readonly bandwidth?: number;
}
export interface FatTreeSpec {
  readonly kind: 'fattree';
  readonly k: number;
  readonly levels?: number;
  readonly bandwidth?: number;
}
export interface LinkSpec {
  readonly a: number;
  readonly b: number;
  readonly multiplicity?: number;
  readonly bandwidth?: number;
  /**
   * The addresses of rank a and rank b on this link (their two ends of a point-to-point wire): when
   * given, the ranks' ZeroMQ link runs over it, so each link's traffic goes on its own wire.
   */
  readonly addresses?: readonly [string, string];
}
export interface LinksSpec {
  readonly kind: 'links';
  readonly links: readonly LinkSpec[];
  readonly ports?: number;
}
export type TopologySpec = SwitchSpec | HierarchicalSpec | CubeSpec | FatTreeSpec | LinksSpec;

/** One directed switch-to-switch link; `multiplicity` parallel copies, each usable once per step. */
export interface TopologyLink {
  readonly from: number;
  readonly to: number;
  readonly multiplicity: number;
  /** Bytes per second of one copy; undefined: the simulator's default. */
  readonly bandwidth?: number;
}

export interface Topology {
  readonly kind: TopologyKind;
  /** The validated spec, with defaults filled in (what topologyHash covers). */
  readonly spec: TopologySpec;
  readonly nranks: number;
  readonly nswitches: number;
  /** attach[rank] = the switch the rank hangs off. */
  readonly attach: readonly number[];
  /** Transfers a rank may send / receive in one step (its ports), summed over all trees. */
  readonly sendCap: readonly number[];
  readonly recvCap: readonly number[];
  /** Bytes per second of one port of each rank; undefined: the simulator's default. */
  readonly portBandwidth?: readonly number[];
  /** Ranks attached to each switch, ascending (the builder's local-first order). */
  readonly switchRanks: readonly (readonly number[])[];
  readonly links: readonly TopologyLink[];
  /** outLinks[s] = ids of links leaving switch s, in neighbour order (the builder's search order). */
  readonly outLinks: readonly (readonly number[])[];
  /** A rank order whose cyclic neighbours are adjacent where a Hamiltonian cycle is known (for ring). */
  readonly ringOrder: readonly number[];
}

function bad(key: string, what: string): ZcollError {
  return new ZcollError('ECONFIG', `"${key}" ${what}`, { details: { key } });
}

function readInt(o: Record<string, unknown>, field: string, key: string, min: number, max: number, dflt?: number): number {
  const v = o[field];
  if (v === undefined && dflt !== undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw bad(`${key}.${field}`, `must be an integer in [${min}, ${max}], got ${JSON.stringify(v)}`);
  }
  return v;
}

function readBandwidth(o: Record<string, unknown>, field: string, key: string): number | undefined {
  const v = o[field];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw bad(`${key}.${field}`, `must be a positive number of bytes per second, got ${JSON.stringify(v)}`);
  return v;
}

function onlyKeys(o: Record<string, unknown>, allowed: readonly string[], key: string): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) throw bad(`${key}.${k}`, `is not a known key for kind "${String(o.kind)}" (known: ${allowed.join(', ')})`);
}

const MAX_RANKS = 1 << 16;

/** Mutable accumulator used while building: switches, attachments and links in insertion order. */
class Wiring {
  readonly links: TopologyLink[] = [];
  readonly outLinks: number[][];
  private readonly index = new Map<number, number>();
  constructor(readonly nswitches: number) {
    this.outLinks = Array.from({ length: nswitches }, () => []);
  }
  /** Adds a -> b (and b -> a when both) with the given multiplicity, in neighbour order. */
  link(a: number, b: number, multiplicity: number, bandwidth: number | undefined, key: string): void {
    const id = a * this.nswitches + b;
    if (this.index.has(id)) throw bad(key, `links switches ${a} -> ${b} twice (use "multiplicity" for parallel links)`);
    this.index.set(id, this.links.length);
    this.outLinks[a].push(this.links.length);
    this.links.push(bandwidth === undefined ? { from: a, to: b, multiplicity } : { from: a, to: b, multiplicity, bandwidth });
  }
  has(a: number, b: number): boolean {
    return this.index.has(a * this.nswitches + b);
  }
}

/**
 * Validates the `"topology"` value of cluster.config.json (a TopologySpec, or the raw parsed JSON;
 * undefined means `{kind:'switch'}`) and builds the model for `nranks` ranks.
 */
export function buildTopology(spec: TopologySpec | unknown, nranks: number): Topology {
  if (!Number.isInteger(nranks) || nranks < 1 || nranks > MAX_RANKS) throw new ZcollError('ECONFIG', `topology needs 1..${MAX_RANKS} ranks, got ${nranks}`, { details: { key: 'topology' } });
  const raw: unknown = spec === undefined ? { kind: 'switch' } : spec;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad('topology', `must be an object with a "kind", got ${JSON.stringify(raw)}`);
  const o = raw as Record<string, unknown>;
  switch (o.kind) {
    case 'switch':
      return buildSwitch(o, nranks);
    case 'hierarchical':
      return buildHierarchical(o, nranks);
    case 'torus':
    case 'mesh':
      return buildCube(o, nranks, o.kind);
    case 'fattree':
      return buildFatTree(o, nranks);
    case 'links':
      return buildLinks(o, nranks);
    default:
      throw bad('topology.kind', `must be one of switch, hierarchical, torus, mesh, fattree, links, got ${JSON.stringify(o.kind)}`);
  }
}

/** The topology of a loaded cluster config: its `"topology"` key over all the ranks it lists. */
export function topologyOfConfig(config: ClusterConfig): Topology {
  try {
    return buildTopology(config.topology, totalRanks(config));
  } catch (e) {
    if (e instanceof ZcollError && e.code === 'ECONFIG') {
      throw new ZcollError('ECONFIG', `${config.source}: ${e.message.replace(/^ECONFIG: /, '')}`, { details: { ...(e.details ?? {}), file: config.source } }, { cause: e });
    }
    throw e;
  }
}

function finish(
  kind: TopologyKind,
  specOut: TopologySpec,
  nranks: number,
  wiring: Wiring,
  attach: number[],
  sendCap: number[],
  recvCap: number[],
  portBandwidth: number[] | undefined,
  ringOrder: number[],
): Topology {
  const switchRanks: number[][] = Array.from({ length: wiring.nswitches }, () => []);
  for (let r = 0; r < nranks; r++) switchRanks[attach[r]].push(r);
  const t: Topology = {
    kind,
    spec: specOut,
    nranks,
    nswitches: wiring.nswitches,
    attach,
    sendCap,
    recvCap,
    ...(portBandwidth !== undefined ? { portBandwidth } : {}),
    switchRanks,
    links: wiring.links,
    outLinks: wiring.outLinks,
    ringOrder,
  };
  checkConnected(t);
  return t;
}

/** Every rank's switch must reach every other rank's switch along directed links (both ways). */
function checkConnected(t: Topology): void {
  const reach = (forward: boolean): Uint8Array => {
    const seen = new Uint8Array(t.nswitches);
    const inLinks: number[][] = Array.from({ length: t.nswitches }, () => []);
    if (!forward) t.links.forEach((l, id) => inLinks[l.to].push(id));
    const start = t.attach[0];
    seen[start] = 1;
    const queue = [start];
    for (let i = 0; i < queue.length; i++) {
      const s = queue[i];
      for (const id of forward ? t.outLinks[s] : inLinks[s]) {
        const next = forward ? t.links[id].to : t.links[id].from;
        if (!seen[next]) {
          seen[next] = 1;
          queue.push(next);
        }
      }
    }
    return seen;
  };
  for (const seen of [reach(true), reach(false)]) {
    for (let r = 0; r < t.nranks; r++) {
      if (!seen[t.attach[r]]) {
        throw new ZcollError('ECONFIG', `"topology" is disconnected: rank ${r} cannot reach rank 0 (or back) over the links given`, { details: { key: 'topology', rank: r } });
      }
    }
  }
}

function buildSwitch(o: Record<string, unknown>, nranks: number): Topology {
  onlyKeys(o, ['kind', 'ports', 'bandwidth'], 'topology');
  const ports = readInt(o, 'ports', 'topology', 1, 1024, 1);
  const bandwidth = readBandwidth(o, 'bandwidth', 'topology');
  const wiring = new Wiring(1);
  const identity = Array.from({ length: nranks }, (_, r) => r);
  return finish(
    'switch',
    { kind: 'switch', ports, ...(bandwidth !== undefined ? { bandwidth } : {}) },
    nranks,
    wiring,
    new Array<number>(nranks).fill(0),
    new Array<number>(nranks).fill(ports),
    new Array<number>(nranks).fill(ports),
    bandwidth !== undefined ? new Array<number>(nranks).fill(bandwidth) : undefined,
    identity,
  );
}

function buildHierarchical(o: Record<string, unknown>, nranks: number): Topology {
  onlyKeys(o, ['kind', 'hosts', 'ranksPerHost', 'hostOf', 'nics', 'intraBandwidth', 'interBandwidth'], 'topology');
  const nics = readInt(o, 'nics', 'topology', 1, 1024, 1);
  const intra = readBandwidth(o, 'intraBandwidth', 'topology');
  const inter = readBandwidth(o, 'interBandwidth', 'topology');
  let attach: number[];
  let hosts: number;
  let ranksPerHost: number;
  if (o.hostOf !== undefined) {
    attach = readHostOf(o.hostOf, nranks);
    hosts = Math.max(...attach) + 1;
    const sizes = new Array<number>(hosts).fill(0);
    for (const h of attach) sizes[h]++;
    ranksPerHost = Math.max(...sizes);
    if (o.hosts !== undefined && o.hosts !== hosts) throw bad('topology.hosts', `is ${JSON.stringify(o.hosts)}, but "topology.hostOf" puts the ranks on ${hosts} hosts`);
  } else {
    if (o.hosts === undefined && o.ranksPerHost === undefined) {
      throw bad('topology', 'of kind "hierarchical" needs "hosts" and "ranksPerHost" (or "hostOf"); without them the hosts come from where the ranks run, which only init() knows (hostTopologySpec)');
    }
    hosts = readInt(o, 'hosts', 'topology', 1, MAX_RANKS);
    ranksPerHost = readInt(o, 'ranksPerHost', 'topology', 1, MAX_RANKS);
    if (hosts * ranksPerHost !== nranks) throw bad('topology.hosts', `x "topology.ranksPerHost" = ${hosts} x ${ranksPerHost} = ${hosts * ranksPerHost}, but the cluster has ${nranks} ranks`);
    attach = Array.from({ length: nranks }, (_, r) => Math.floor(r / ranksPerHost));
  }
  // Host switches 0..hosts-1; the core switch `hosts` only exists with more than one host.
  const wiring = new Wiring(hosts > 1 ? hosts + 1 : 1);
  if (hosts > 1) {
    for (let h = 0; h < hosts; h++) wiring.link(h, hosts, nics, inter, 'topology');
    for (let h = 0; h < hosts; h++) wiring.link(hosts, h, nics, inter, 'topology');
  }
  // The ring visits each host's ranks in a row, so it crosses each NIC once per direction.
  const ringOrder = Array.from({ length: nranks }, (_, r) => r).sort((a, b) => attach[a] - attach[b] || a - b);
  return finish(
    'hierarchical',
    {
      kind: 'hierarchical',
      hosts,
      ranksPerHost,
      ...(o.hostOf !== undefined ? { hostOf: attach } : {}),
      nics,
      ...(intra !== undefined ? { intraBandwidth: intra } : {}),
      ...(inter !== undefined ? { interBandwidth: inter } : {}),
    },
    nranks,
    wiring,
    attach,
    new Array<number>(nranks).fill(1),
    new Array<number>(nranks).fill(1),
    intra !== undefined ? new Array<number>(nranks).fill(intra) : undefined,
    ringOrder,
  );
}

/** `hostOf`: one host index per rank, every host 0..max holding at least one rank. */
function readHostOf(v: unknown, nranks: number): number[] {
  if (!Array.isArray(v) || v.length !== nranks) throw bad('topology.hostOf', `must be an array of one host index per rank (${nranks}), got ${JSON.stringify(v)?.slice(0, 80)}`);
  const seen = new Set<number>();
  v.forEach((h: unknown, r: number) => {
    if (typeof h !== 'number' || !Number.isInteger(h) || h < 0 || h >= nranks) throw bad(`topology.hostOf[${r}]`, `must be a host index in [0, ${nranks - 1}], got ${JSON.stringify(h)}`);
    seen.add(h);
  });
  for (let h = 0; h < seen.size; h++) if (!seen.has(h)) throw bad('topology.hostOf', `names hosts up to ${Math.max(...seen)} but no rank is on host ${h}`);
  return v as number[];
}

/**
 * Bandwidths assumed for hosts learned at the rendezvous when the config gives none: a same-host
 * link (shared memory or ipc between processes) at 4 GB/s, a host's NIC at 10 Gbit/s. Only their
 * ratio matters to 'auto': same-host copies are cheap next to the NIC, which all of a host's ranks share.
 */
export const DEFAULT_INTRA_HOST_BANDWIDTH = 4e9;
export const DEFAULT_INTER_HOST_BANDWIDTH = 1.25e9;

/** True for a config "topology" whose hosts come from the rendezvous: kind hierarchical without hosts. */
export function topologyNeedsHosts(spec: unknown): boolean {
  if (typeof spec !== 'object' || spec === null) return false;
  const o = spec as Record<string, unknown>;
  return o.kind === 'hierarchical' && o.hosts === undefined && o.ranksPerHost === undefined && o.hostOf === undefined;
}

/**
 * The topology spec a communicator runs with, given where its ranks run (`hostOf`, from the
 * rendezvous's host keys): the config's own when it says where ranks are; a hierarchical one over
 * those hosts when it does not and the ranks span more than one host (bandwidths from the config's
 * hierarchical key, else the defaults above); otherwise the config's (undefined: one switch).
 */
export function hostTopologySpec(spec: unknown, hostOf: readonly number[]): unknown {
  const hosts = new Set(hostOf).size;
  if (topologyNeedsHosts(spec)) {
    const o = spec as Record<string, unknown>;
    return { ...o, hostOf: [...hostOf] };
  }
  if (spec === undefined && hosts > 1) {
    return { kind: 'hierarchical', hostOf: [...hostOf], intraBandwidth: DEFAULT_INTRA_HOST_BANDWIDTH, interBandwidth: DEFAULT_INTER_HOST_BANDWIDTH };
  }
  return spec;
}

function buildCube(o: Record<string, unknown>, nranks: number, kind: 'torus' | 'mesh'): Topology {
  onlyKeys(o, ['kind', 'dims', 'ports', 'bandwidth'], 'topology');
  const dimsRaw = o.dims;
  if (!Array.isArray(dimsRaw) || dimsRaw.length === 0 || dimsRaw.length > 4) throw bad('topology.dims', `must be an array of 1 to 4 side lengths, got ${JSON.stringify(dimsRaw)}`);
  const dims = dimsRaw.map((v: unknown, i: number) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw bad(`topology.dims[${i}]`, `must be a positive integer, got ${JSON.stringify(v)}`);
    return v;
  });
  const product = dims.reduce((a, b) => a * b, 1);
  if (product !== nranks) throw bad('topology.dims', `${dims.join('x')} = ${product} ranks, but the cluster has ${nranks} ranks`);
  const ports = readInt(o, 'ports', 'topology', 1, 1024, 2 * dims.length);
  const bandwidth = readBandwidth(o, 'bandwidth', 'topology');
  const wiring = new Wiring(nranks);
  // Row-major ids (the last dimension varies fastest); per dimension the minus then the plus
  // neighbour, which for 2D is the artifact's N, S, W, E order. Wrap only when the side exceeds 2
  // (a side of 2 has one neighbour), as kncube.py does.
  const stride: number[] = [];
  for (let d = dims.length - 1, s = 1; d >= 0; d--) {
    stride[d] = s;
    s *= dims[d];
  }
  for (let r = 0; r < nranks; r++) {
    for (let d = 0; d < dims.length; d++) {
      const side = dims[d];
      const x = Math.floor(r / stride[d]) % side;
      const wrap = kind === 'torus' && side > 2;
      if (x > 0) wiring.link(r, r - stride[d], 1, bandwidth, 'topology');
      else if (wrap) wiring.link(r, r + (side - 1) * stride[d], 1, bandwidth, 'topology');
      if (x < side - 1) wiring.link(r, r + stride[d], 1, bandwidth, 'topology');
      else if (wrap) wiring.link(r, r - (side - 1) * stride[d], 1, bandwidth, 'topology');
    }
  }
  return finish(
    kind,
    { kind, dims, ports, ...(bandwidth !== undefined ? { bandwidth } : {}) },
    nranks,
    wiring,
    Array.from({ length: nranks }, (_, r) => r),
    new Array<number>(nranks).fill(ports),
    new Array<number>(nranks).fill(ports),
    bandwidth !== undefined ? new Array<number>(nranks).fill(bandwidth) : undefined,
    cubeRingOrder(dims, kind, wiring),
  );
}

/**
 * A Hamiltonian cycle of a 1D/2D cube when an easy one exists: the boustrophedon over the rows,
 * closed by the wrap (torus, even row count) or by reserving column 0 for the way back (mesh or
 * torus with an even number of rows). Otherwise the snake as a path: the ring's closing hop is
 * then routed over a couple of links, which the simulator charges as contention.
 */
function cubeRingOrder(dims: readonly number[], kind: 'torus' | 'mesh', wiring: Wiring): number[] {
  const n = dims.reduce((a, b) => a * b, 1);
  if (dims.length !== 2 || dims[0] < 2 || dims[1] < 2) return Array.from({ length: n }, (_, r) => r);
  const transpose = dims[0] % 2 !== 0 && dims[1] % 2 === 0;
  const rows = transpose ? dims[1] : dims[0];
  const cols = transpose ? dims[0] : dims[1];
  const id = (row: number, col: number): number => (transpose ? col * dims[1] + row : row * cols + col);
  const order: number[] = [];
  if (rows % 2 === 0 && (kind === 'mesh' || rows === 2)) {
    // Column 0 is the way back: rows go right over columns 1.., then column 0 bottom-up.
    for (let row = 0; row < rows; row++) {
      if (row === 0) for (let col = 0; col < cols; col++) order.push(id(row, col));
      else if (row % 2 === 1) for (let col = cols - 1; col >= 1; col--) order.push(id(row, col));
      else for (let col = 1; col < cols; col++) order.push(id(row, col));
    }
    for (let row = rows - 1; row >= 1; row--) order.push(id(row, 0));
  } else {
    for (let row = 0; row < rows; row++) {
      if (row % 2 === 0) for (let col = 0; col < cols; col++) order.push(id(row, col));
      else for (let col = cols - 1; col >= 0; col--) order.push(id(row, col));
    }
  }
  // Sanity: every hop but possibly the closing one is a link (a wrong order would only cost time).
  for (let i = 0; i + 1 < order.length; i++) if (!wiring.has(order[i], order[i + 1])) return Array.from({ length: n }, (_, r) => r);
  return order;
}

/**
 * k-ary n-tree (Petrini & Vanneschi): `levels` levels of k^(levels-1) switches, level 0 on top,
 * ranks on the bottom level, k per leaf. Switch <w, l> (w a base-k word of levels-1 digits) links
 * to <w', l+1> when w and w' differ at most in digit l. Neighbour order: up links, then down.
 * One port per rank, as the artifact's fattree.py.
 */
function buildFatTree(o: Record<string, unknown>, nranks: number): Topology {
  onlyKeys(o, ['kind', 'k', 'levels', 'bandwidth'], 'topology');
  const k = readInt(o, 'k', 'topology', 1, 1024);
  const levels = readInt(o, 'levels', 'topology', 1, 8, 2);
  const bandwidth = readBandwidth(o, 'bandwidth', 'topology');
  const expected = k ** levels;
  if (expected !== nranks) throw bad('topology.k', `${k}^${levels} = ${expected} ranks, but the cluster has ${nranks} ranks`);
  const perLevel = k ** (levels - 1);
  const wiring = new Wiring(levels * perLevel);
  const digitWeight = (d: number): number => k ** (levels - 2 - d);
  const withDigit = (w: number, d: number, v: number): number => {
    const weight = digitWeight(d);
    const old = Math.floor(w / weight) % k;
    return w + (v - old) * weight;
  };
  for (let l = 0; l < levels; l++) {
    for (let w = 0; w < perLevel; w++) {
      const sw = l * perLevel + w;
      if (l > 0) for (let v = 0; v < k; v++) wiring.link(sw, (l - 1) * perLevel + withDigit(w, l - 1, v), 1, bandwidth, 'topology');
      if (l < levels - 1) for (let v = 0; v < k; v++) wiring.link(sw, (l + 1) * perLevel + withDigit(w, l, v), 1, bandwidth, 'topology');
    }
  }
  const leafBase = (levels - 1) * perLevel;
  return finish(
    'fattree',
    { kind: 'fattree', k, levels, ...(bandwidth !== undefined ? { bandwidth } : {}) },
    nranks,
    wiring,
    Array.from({ length: nranks }, (_, r) => leafBase + Math.floor(r / k)),
    new Array<number>(nranks).fill(1),
    new Array<number>(nranks).fill(1),
    bandwidth !== undefined ? new Array<number>(nranks).fill(bandwidth) : undefined,
    Array.from({ length: nranks }, (_, r) => r),
  );
}

/**
 * Where rank `self` reaches `peer` over their own link, when the topology names link addresses
 * (`{ kind: 'links', links: [{ a, b, addresses: [addrA, addrB] }] }`); undefined otherwise.
 */
export function linkAddress(spec: unknown, self: number, peer: number): string | undefined {
  if (typeof spec !== 'object' || spec === null || (spec as { kind?: unknown }).kind !== 'links') return undefined;
  const links = (spec as { links?: unknown }).links;
  if (!Array.isArray(links)) return undefined;
  for (const l of links as LinkSpec[]) {
    if (l.addresses === undefined) continue;
    if (l.a === self && l.b === peer) return l.addresses[1];
    if (l.b === self && l.a === peer) return l.addresses[0];
  }
  return undefined;
}

/** True when the topology puts links on addresses of their own (a rank then listens on every interface). */
export function hasLinkAddresses(spec: unknown): boolean {
  if (typeof spec !== 'object' || spec === null || (spec as { kind?: unknown }).kind !== 'links') return false;
  const links = (spec as { links?: unknown }).links;
  return Array.isArray(links) && (links as LinkSpec[]).some((l) => l.addresses !== undefined);
}

/** Explicit undirected rank-to-rank links; every rank is its own router, as on a torus. */
function buildLinks(o: Record<string, unknown>, nranks: number): Topology {
  onlyKeys(o, ['kind', 'links', 'ports'], 'topology');
  if (!Array.isArray(o.links)) throw bad('topology.links', 'must be an array of { a, b, multiplicity?, bandwidth? }');
  const wiring = new Wiring(nranks);
  const degree = new Array<number>(nranks).fill(0);
  const linksOut: LinkSpec[] = [];
  o.links.forEach((l: unknown, i: number) => {
    const key = `topology.links[${i}]`;
    if (typeof l !== 'object' || l === null || Array.isArray(l)) throw bad(key, 'must be an object { a, b, multiplicity?, bandwidth? }');
    const lo = l as Record<string, unknown>;
    for (const f of Object.keys(lo)) if (!['a', 'b', 'multiplicity', 'bandwidth', 'addresses'].includes(f)) throw bad(`${key}.${f}`, 'is not a known key (a, b, multiplicity, bandwidth, addresses)');
    const addresses = lo.addresses;
    if (addresses !== undefined && !(Array.isArray(addresses) && addresses.length === 2 && addresses.every((x) => typeof x === 'string' && x !== ''))) {
      throw bad(`${key}.addresses`, 'must be [address of a, address of b] on this link');
    }
    const a = readInt(lo, 'a', key, 0, nranks - 1);
    const b = readInt(lo, 'b', key, 0, nranks - 1);
    if (a === b) throw bad(key, `links rank ${a} to itself`);
    const multiplicity = readInt(lo, 'multiplicity', key, 1, 1024, 1);
    const bandwidth = readBandwidth(lo, 'bandwidth', key);
    wiring.link(a, b, multiplicity, bandwidth, key);
    wiring.link(b, a, multiplicity, bandwidth, key);
    degree[a] += multiplicity;
    degree[b] += multiplicity;
    linksOut.push({ a, b, multiplicity, ...(bandwidth !== undefined ? { bandwidth } : {}), ...(addresses !== undefined ? { addresses: addresses as [string, string] } : {}) });
  });
  const portsGiven = o.ports === undefined ? undefined : readInt(o, 'ports', 'topology', 1, 1024);
  // Default budget: one transfer per link copy, so every link can be busy in every step.
  const caps = degree.map((d) => portsGiven ?? Math.max(1, d));
  return finish(
    'links',
    { kind: 'links', links: linksOut, ...(portsGiven !== undefined ? { ports: portsGiven } : {}) },
    nranks,
    wiring,
    Array.from({ length: nranks }, (_, r) => r),
    caps,
    [...caps],
    undefined,
    hamiltonianCycle(nranks, linksOut) ?? Array.from({ length: nranks }, (_, r) => r),
  );
}

/**
 * A Hamiltonian cycle of the link graph (so a ring laid along it uses one link per hop), found by
 * depth-first search with neighbours in ascending order (deterministic: every rank finds the same)
 * and a bounded number of steps; undefined when none is found within the budget.
 */
function hamiltonianCycle(n: number, links: readonly LinkSpec[]): number[] | undefined {
  if (n < 3) return undefined;
  const adj: number[][] = Array.from({ length: n }, () => []);
  for (const l of links) {
    if (!adj[l.a].includes(l.b)) adj[l.a].push(l.b);
    if (!adj[l.b].includes(l.a)) adj[l.b].push(l.a);
  }
  for (const a of adj) a.sort((x, y) => x - y);
  const path = [0];
  const used = new Uint8Array(n);
  used[0] = 1;
  let budget = 200_000;
  const extend = (): boolean => {
    if (--budget < 0) return false;
    const last = path[path.length - 1];
    if (path.length === n) return adj[last].includes(0);
    for (const next of adj[last]) {
      if (used[next]) continue;
      used[next] = 1;
      path.push(next);
      if (extend()) return true;
      path.pop();
      used[next] = 0;
    }
    return false;
  };
  return extend() ? path : undefined;
}

/**
 * sha256 (hex) of the model itself (not of the spec's spelling): ranks, attachments, budgets, port
 * bandwidths and links in order. Two specs that build the same model hash the same.
 */
export function topologyHash(t: Topology): string {
  const h = createHash('sha256');
  const ints = (tag: string, xs: readonly number[]): void => {
    h.update(`${tag}:${xs.length}:`);
    h.update(xs.join(','));
    h.update(';');
  };
  h.update(`zcoll-topology-v1;kind=${t.kind};n=${t.nranks};s=${t.nswitches};`);
  ints('attach', t.attach);
  ints('send', t.sendCap);
  ints('recv', t.recvCap);
  ints('portbw', t.portBandwidth ?? []);
  ints('ring', t.ringOrder);
  h.update(`links:${t.links.length}:`);
  for (const l of t.links) h.update(`${l.from}>${l.to}x${l.multiplicity}@${l.bandwidth ?? ''};`);
  for (const out of t.outLinks) ints('out', out);
  return h.digest('hex');
}

/** One-line description for reports: "torus 4x4, 16 ranks, 4 ports". */
export function describeTopology(t: Topology): string {
  const s = t.spec;
  switch (s.kind) {
    case 'switch':
      return `switch, ${t.nranks} ranks, ${s.ports ?? 1} port(s)`;
    case 'hierarchical': {
      if (s.hostOf === undefined) return `hierarchical ${s.hosts} hosts x ${s.ranksPerHost} ranks, ${s.nics ?? 1} NIC(s) per host`;
      const sizes = new Array<number>(s.hosts).fill(0);
      for (const h of s.hostOf) sizes[h]++;
      return `hierarchical ${s.hosts} hosts (${sizes.join('+')} ranks), ${s.nics ?? 1} NIC(s) per host`;
    }
    case 'torus':
    case 'mesh':
      return `${s.kind} ${s.dims.join('x')}, ${t.nranks} ranks, ${s.ports} port(s)`;
    case 'fattree':
      return `fat tree k=${s.k} levels=${s.levels}, ${t.nranks} ranks, ${t.nswitches} switches`;
    case 'links':
      return `explicit links (${s.links.length}), ${t.nranks} ranks`;
  }
}

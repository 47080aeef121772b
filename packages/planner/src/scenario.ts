/**
 * The planning scenario: topology, data centres, prices, power figures, VM classes, where the VMs start,
 * and (for the rolling mode) a timeline of arrivals and price updates. `parseScenario` checks a parsed
 * JSON document field by field; every error names the field's path, e.g. `datacenters[1].node`.
 */
import { Check } from './check.js';

export interface Link { readonly a: number; readonly b: number; readonly km: number; readonly gbps: number }
export interface DataCenter {
  readonly name: string;
  readonly node: number;
  readonly maxVMs: number;
  /** What one of this DC's servers draws (its server generation), in place of `power.serverWatts`. */
  readonly serverWatts?: number;
  /** Where ferry agents listen, for `--emit migrations`. */
  readonly sourceUrl?: string;
  readonly targetUrl?: string;
}
export interface Power {
  /** Watts a switched-on rack draws besides its servers (P_R). */
  readonly rackWatts: number;
  /** Watts a switched-on server draws (P_S). */
  readonly serverWatts: number;
  /** Servers per rack (beta). */
  readonly serversPerRack: number;
  /** Energy a core router spends per bit it forwards, in joules. */
  readonly routerJoulesPerBit: number;
}
export interface VmClass {
  readonly name: string;
  readonly memoryGiB: number;
  readonly vmsPerServer: number;
  /** Memory the guest dirties while it migrates, MB/s (pre-copy model only). */
  readonly dirtyMBps: number;
  /** What a server running this class draws on the reference generation (`power.serverWatts`). */
  readonly serverWatts?: number;
}
export interface Placement {
  readonly dc: string;
  readonly vmClass: string;
  readonly count: number;
  /** Hours the VMs run once served; they leave after that (undefined: they stay past the horizon). */
  readonly lifetime?: number;
}
/** Requests that find no room wait; `dollarsPerVmHour` charges each VM-hour of waiting (0: reported only). */
export interface Queue { readonly dollarsPerVmHour: number }
/** A VM `--emit migrations` can name; `image` is its memory image path on the source host. */
export interface InventoryVm { readonly name: string; readonly vmClass: string; readonly dc: string; readonly image: string }
export interface TimelineEvent {
  readonly hour: number;
  readonly arrive: readonly Placement[];
  /** Replacement prices for zones, from `hour` on (index 0 is `hour`). */
  readonly prices: Readonly<Record<string, readonly number[]>>;
}
export interface Scenario {
  readonly name: string;
  readonly hours: number;
  readonly nodes: number;
  readonly links: readonly Link[];
  /** Price zone of each node, index node - 1. */
  readonly nodeZones: readonly string[];
  /** $/kWh per hour per zone. */
  readonly prices: Readonly<Record<string, readonly number[]>>;
  readonly datacenters: readonly DataCenter[];
  readonly power: Power;
  readonly classes: readonly VmClass[];
  readonly placement: readonly Placement[];
  readonly inventory: readonly InventoryVm[];
  readonly timeline: readonly TimelineEvent[];
  /** Without a queue every arrival must find room where it arrives, or there is no plan. */
  readonly queue?: Queue;
}

/** The longest horizon: a 31-day month. The model grows linearly with it (and so do memory and time). */
export const MAX_HOURS = 24 * 31;

/** Validates a parsed scenario document; `hours` overrides the file's horizon (--hours), same limits. */
export function parseScenario(raw: unknown, hours?: number): Scenario {
  const c = new Check();
  const doc = c.object(raw, 'scenario');
  const horizon = hours === undefined ? c.integer(doc['hours'], 'hours', 1, MAX_HOURS) : c.integer(hours, '--hours', 1, MAX_HOURS);
  const topology = c.object(doc['topology'], 'topology');
  const nodes = c.integer(topology['nodes'], 'topology.nodes', 1, 10_000);
  const links = c.array(topology['links'], 'topology.links').map((l, i) => parseLink(c, l, `topology.links[${i}]`, nodes));
  const zones = c.array(topology['zones'], 'topology.zones').map((z, i) => c.string(z, `topology.zones[${i}]`));
  if (zones.length !== nodes) c.fail('topology.zones', `expected one price zone per node (${nodes}), got ${zones.length}`);
  const prices = parsePrices(c, doc['prices'], 'prices', horizon);
  zones.forEach((z, i) => { if (!(z in prices)) c.fail(`topology.zones[${i}]`, `zone "${z}" has no price curve in prices`); });
  const datacenters = c.array(doc['datacenters'], 'datacenters').map((d, i) => parseDataCenter(c, d, `datacenters[${i}]`, nodes));
  if (datacenters.length === 0) c.fail('datacenters', 'expected at least one data centre');
  c.unique(datacenters.map((d) => d.name), 'datacenters', 'name');
  const power = parsePower(c, doc['power']);
  const classes = c.array(doc['classes'], 'classes').map((k, i) => parseClass(c, k, `classes[${i}]`));
  if (classes.length === 0) c.fail('classes', 'expected at least one VM class');
  c.unique(classes.map((k) => k.name), 'classes', 'name');
  checkConnected(c, nodes, links, datacenters);
  const known = { dcs: new Set(datacenters.map((d) => d.name)), classes: new Set(classes.map((k) => k.name)) };
  const placement = c.array(doc['placement'], 'placement').map((p, i) => parsePlacement(c, p, `placement[${i}]`, known));
  const inventory = doc['inventory'] === undefined ? [] : c.array(doc['inventory'], 'inventory').map((v, i) => parseInventoryVm(c, v, `inventory[${i}]`, known));
  c.unique(inventory.map((v) => v.name), 'inventory', 'name');
  const timeline = doc['timeline'] === undefined ? [] : c.array(doc['timeline'], 'timeline').map((e, i) => parseEvent(c, e, `timeline[${i}]`, horizon, known, prices));
  const queue = doc['queue'] === undefined ? undefined : parseQueue(c, doc['queue']);
  c.done();
  const scenario = { name: typeof doc['name'] === 'string' ? doc['name'] : 'scenario', hours: horizon, nodes, links, nodeZones: zones, prices, datacenters, power, classes, placement, inventory, timeline };
  return queue ? { ...scenario, queue } : scenario;
}

function parseLink(c: Check, raw: unknown, path: string, nodes: number): Link {
  const o = c.object(raw, path);
  const a = c.integer(o['a'], `${path}.a`, 1, nodes);
  const b = c.integer(o['b'], `${path}.b`, 1, nodes);
  if (a === b) c.fail(path, `a link joins two different nodes, got ${a}-${b}`);
  return { a, b, km: c.number(o['km'], `${path}.km`, 0), gbps: c.number(o['gbps'], `${path}.gbps`, 0) };
}

function parsePrices(c: Check, raw: unknown, path: string, hours: number): Record<string, number[]> {
  const o = c.object(raw, path);
  const out: Record<string, number[]> = {};
  for (const [zone, curve] of Object.entries(o)) {
    const values = c.array(curve, `${path}.${zone}`).map((p, h) => c.number(p, `${path}.${zone}[${h}]`, 0));
    if (values.length < hours) c.fail(`${path}.${zone}`, `expected a price for each of the ${hours} hours, got ${values.length}`);
    out[zone] = values;
  }
  return out;
}

function parseDataCenter(c: Check, raw: unknown, path: string, nodes: number): DataCenter {
  const o = c.object(raw, path);
  const dc: DataCenter = { name: c.string(o['name'], `${path}.name`), node: c.integer(o['node'], `${path}.node`, 1, nodes), maxVMs: c.integer(o['maxVMs'], `${path}.maxVMs`, 0, 10_000_000) };
  const urls = { sourceUrl: c.optionalUrl(o['sourceUrl'], `${path}.sourceUrl`, /^https?:\/\//), targetUrl: c.optionalUrl(o['targetUrl'], `${path}.targetUrl`, /^wss?:\/\//) };
  const watts = o['serverWatts'] === undefined ? {} : { serverWatts: c.number(o['serverWatts'], `${path}.serverWatts`, 0) };
  return { ...dc, ...watts, ...(urls.sourceUrl ? { sourceUrl: urls.sourceUrl } : {}), ...(urls.targetUrl ? { targetUrl: urls.targetUrl } : {}) };
}

function parsePower(c: Check, raw: unknown): Power {
  const o = c.object(raw, 'power');
  return {
    rackWatts: c.number(o['rackWatts'], 'power.rackWatts', 0),
    serverWatts: c.number(o['serverWatts'], 'power.serverWatts', 0),
    serversPerRack: c.integer(o['serversPerRack'], 'power.serversPerRack', 1, 10_000),
    routerJoulesPerBit: c.number(o['routerJoulesPerBit'], 'power.routerJoulesPerBit', 0),
  };
}

function parseClass(c: Check, raw: unknown, path: string): VmClass {
  const o = c.object(raw, path);
  return {
    name: c.string(o['name'], `${path}.name`),
    memoryGiB: c.positive(o['memoryGiB'], `${path}.memoryGiB`),
    vmsPerServer: c.integer(o['vmsPerServer'], `${path}.vmsPerServer`, 1, 10_000),
    dirtyMBps: o['dirtyMBps'] === undefined ? 0 : c.number(o['dirtyMBps'], `${path}.dirtyMBps`, 0),
    ...(o['serverWatts'] === undefined ? {} : { serverWatts: c.number(o['serverWatts'], `${path}.serverWatts`, 0) }),
  };
}

interface Known { readonly dcs: ReadonlySet<string>; readonly classes: ReadonlySet<string> }

function parsePlacement(c: Check, raw: unknown, path: string, known: Known): Placement {
  const o = c.object(raw, path);
  const placement = { dc: c.member(o['dc'], `${path}.dc`, known.dcs), vmClass: c.member(o['class'], `${path}.class`, known.classes), count: c.integer(o['count'], `${path}.count`, 0, 10_000_000) };
  return o['lifetime'] === undefined ? placement : { ...placement, lifetime: c.integer(o['lifetime'], `${path}.lifetime`, 1, MAX_HOURS) };
}

function parseInventoryVm(c: Check, raw: unknown, path: string, known: Known): InventoryVm {
  const o = c.object(raw, path);
  return { name: c.string(o['name'], `${path}.name`), vmClass: c.member(o['class'], `${path}.class`, known.classes), dc: c.member(o['dc'], `${path}.dc`, known.dcs), image: c.string(o['image'], `${path}.image`) };
}

function parseEvent(c: Check, raw: unknown, path: string, hours: number, known: Known, prices: Record<string, number[]>): TimelineEvent {
  const o = c.object(raw, path);
  const hour = c.integer(o['hour'], `${path}.hour`, 0, hours - 1);
  const arrive = o['arrive'] === undefined ? [] : c.array(o['arrive'], `${path}.arrive`).map((p, i) => parsePlacement(c, p, `${path}.arrive[${i}]`, known));
  const updates = o['prices'] === undefined ? {} : parsePrices(c, o['prices'], `${path}.prices`, hours - hour);
  for (const zone of Object.keys(updates)) if (!(zone in prices)) c.fail(`${path}.prices.${zone}`, `unknown zone "${zone}"`);
  return { hour, arrive, prices: updates };
}

function parseQueue(c: Check, raw: unknown): Queue {
  const o = c.object(raw, 'queue');
  return { dollarsPerVmHour: o['dollarsPerVmHour'] === undefined ? 0 : c.number(o['dollarsPerVmHour'], 'queue.dollarsPerVmHour', 0) };
}

/** Data centres that no route joins cannot exchange VMs: a plan would silently never migrate. */
function checkConnected(c: Check, nodes: number, links: readonly Link[], dcs: readonly DataCenter[]): void {
  const group = Array.from({ length: nodes + 1 }, (_, n) => n);
  const root = (n: number): number => (group[n] === n ? n : (group[n] = root(group[n]!)));
  for (const l of links) group[root(l.a)] = root(l.b);
  const parts = new Map<number, string[]>();
  for (const dc of dcs) if (dc.node >= 1 && dc.node <= nodes) parts.set(root(dc.node), [...(parts.get(root(dc.node)) ?? []), dc.name]);
  if (parts.size > 1) {
    c.fail('topology.links', `the data centres are not all connected by a route: ${[...parts.values()].map((names) => `{${names.join(', ')}}`).join(' and ')} cannot reach each other`);
  }
}

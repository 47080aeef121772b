/**
 * The numbers the MILP is built from, derived once from a scenario: routes between DC pairs, what one
 * migration of each class costs in bits on each route, hourly prices, where VMs start and arrive.
 * A `Window` is a run of hours starting at `start` (the rolling mode plans shorter and shorter windows).
 */
import { migrationCost, type ChargeModel } from './migration-model.js';
import type { DataCenter, Link, Placement, Power, Queue, Scenario, VmClass } from './scenario.js';
import { shortestRoute, type Route } from './topology.js';

/**
 * VMs of one class that leave at the same hour are interchangeable, so the model counts them together:
 * a group is a class and the absolute hour its VMs leave at (`Infinity`: not within the horizon).
 */
export interface Group { readonly vmClass: number; readonly end: number }
/** Queued requests of one class and lifetime wait together; admitted at hour h they join group (class, h + lifetime). */
export interface RequestKind { readonly vmClass: number; readonly lifetime: number }

export interface Window {
  readonly start: number;
  readonly hours: number;
  readonly dcs: readonly DataCenter[];
  readonly classes: readonly VmClass[];
  readonly links: readonly Link[];
  readonly power: Power;
  /** routes[i][j] between DC i and DC j; undefined on the diagonal or when not connected. */
  readonly routes: ReadonlyArray<ReadonlyArray<Route | undefined>>;
  /** bits[k][i][j]: bits on the wire for one class-k VM moving from DC i to DC j. */
  readonly bits: ReadonlyArray<ReadonlyArray<readonly number[]>>;
  /** Price zone of each node, index node - 1. */
  readonly nodeZones: readonly string[];
  /** $/kWh per zone, index 0 is hour `start`. */
  readonly prices: Readonly<Record<string, readonly number[]>>;
  readonly groups: readonly Group[];
  /** Kinds of queued request; empty without a queue. */
  readonly kinds: readonly RequestKind[];
  readonly queue?: Queue;
  /** VMs per DC and group before the window's first hour. */
  readonly initial: ReadonlyArray<readonly number[]>;
  /** arrivals[t][d][g]: VMs placed at DC d at the start of window hour t (no queue). */
  readonly arrivals: ReadonlyArray<ReadonlyArray<readonly number[]>>;
  /** waiting[d][r]: requests queued at DC d before the window's first hour. */
  readonly waiting: ReadonlyArray<readonly number[]>;
  /** requests[t][d][r]: VMs requested at DC d at the start of window hour t (with a queue). */
  readonly requests: ReadonlyArray<ReadonlyArray<readonly number[]>>;
}

/** Routes and migration bits of a scenario under a charge model; shared by every window. */
export interface Network {
  readonly routes: Window['routes'];
  readonly bits: Window['bits'];
}

export function network(s: Scenario, charge: ChargeModel): Network {
  const routes = s.datacenters.map((a) => s.datacenters.map((b) => (a === b ? undefined : shortestRoute(s.nodes, s.links, a.node, b.node))));
  const bits = s.classes.map((k) => routes.map((row) => row.map((route) => {
    if (!route) return 0;
    const bottleneckGbps = Math.min(...route.links.map((l) => s.links[l]!.gbps));
    return migrationCost(k, (bottleneckGbps * 1e9) / 8, charge).bytes * 8;
  })));
  return { routes, bits };
}

/** Prices as known at hour `asOf` (updates of the timeline up to then applied); `Infinity` = all. */
export function pricesAsOf(s: Scenario, asOf: number): Record<string, number[]> {
  const prices: Record<string, number[]> = Object.fromEntries(Object.entries(s.prices).map(([z, p]) => [z, p.slice(0, s.hours)]));
  for (const event of s.timeline) {
    if (event.hour > asOf) continue;
    for (const [zone, update] of Object.entries(event.prices)) update.forEach((p, i) => { if (event.hour + i < s.hours) prices[zone]![event.hour + i] = p; });
  }
  return prices;
}

/** The groups and request kinds of a scenario; the same for every window, so state carries over. */
export function groupsOf(s: Scenario): { groups: Group[]; kinds: RequestKind[] } {
  const ends = s.classes.map(() => new Set<number>([Infinity]));
  const kinds: RequestKind[] = [];
  const endOf = (hour: number, lifetime: number | undefined): number => (lifetime === undefined || hour + lifetime >= s.hours ? Infinity : hour + lifetime);
  for (const p of s.placement) ends[classIndex(s, p.vmClass)]!.add(endOf(0, p.lifetime));
  for (const event of s.timeline) {
    for (const p of event.arrive) {
      const k = classIndex(s, p.vmClass);
      if (!s.queue) ends[k]!.add(endOf(event.hour, p.lifetime));
      else if (!kinds.some((r) => r.vmClass === k && r.lifetime === (p.lifetime ?? Infinity))) {
        kinds.push({ vmClass: k, lifetime: p.lifetime ?? Infinity });
        for (let h = event.hour; h < s.hours; h++) ends[k]!.add(endOf(h, p.lifetime));
      }
    }
  }
  const groups = ends.flatMap((set, k) => [...set].sort((a, b) => a - b).map((end) => ({ vmClass: k, end })));
  return { groups, kinds };
}

/** The group VMs of `vmClass` join when they start at `hour` and run `lifetime` hours. */
export function groupIndex(s: { hours: number }, groups: readonly Group[], vmClass: number, hour: number, lifetime: number | undefined): number {
  const end = lifetime === undefined || hour + lifetime >= s.hours ? Infinity : hour + lifetime;
  return groups.findIndex((g) => g.vmClass === vmClass && g.end === end);
}

/** VMs per DC and group as the scenario places them, before hour 0. */
export function initialPlacement(s: Scenario): number[][] {
  const { groups } = groupsOf(s);
  const counts = s.datacenters.map(() => groups.map(() => 0));
  for (const p of s.placement) counts[dcIndex(s, p.dc)]![groupIndex(s, groups, classIndex(s, p.vmClass), 0, p.lifetime)]! += p.count;
  return counts;
}

/** Nobody waits before hour 0. */
export function initialWaiting(s: Scenario): number[][] {
  const { kinds } = groupsOf(s);
  return s.datacenters.map(() => kinds.map(() => 0));
}

/** VMs that appear each hour: placed (arrivals[h][d][g]) or queued (requests[h][d][r]); `asOf` hides those not yet known. */
export function arrivalsAsOf(s: Scenario, asOf: number): { arrivals: number[][][]; requests: number[][][] } {
  const { groups, kinds } = groupsOf(s);
  const arrivals = Array.from({ length: s.hours }, () => s.datacenters.map(() => groups.map(() => 0)));
  const requests = Array.from({ length: s.hours }, () => s.datacenters.map(() => kinds.map(() => 0)));
  for (const event of s.timeline) {
    if (event.hour > asOf) continue;
    for (const p of event.arrive) add(s, event.hour, p, s.queue ? requests : arrivals, s.queue ? kindIndex(kinds, s, p) : groupIndex(s, groups, classIndex(s, p.vmClass), event.hour, p.lifetime));
  }
  return { arrivals, requests };
}

function add(s: Scenario, hour: number, p: Placement, into: number[][][], column: number): void {
  into[hour]![dcIndex(s, p.dc)]![column]! += p.count;
}

function kindIndex(kinds: readonly RequestKind[], s: Scenario, p: Placement): number {
  return kinds.findIndex((r) => r.vmClass === classIndex(s, p.vmClass) && r.lifetime === (p.lifetime ?? Infinity));
}

/** The window of hours start..end-1 planned from `initial` (and `waiting`), with what is known at `asOf`. */
export function windowOf(s: Scenario, net: Network, start: number, initial: number[][], asOf: number, waiting: number[][] = initialWaiting(s)): Window {
  const prices = pricesAsOf(s, asOf);
  const { groups, kinds } = groupsOf(s);
  const { arrivals, requests } = arrivalsAsOf(s, asOf);
  return {
    start, hours: s.hours - start, dcs: s.datacenters, classes: s.classes, links: s.links, power: s.power,
    routes: net.routes, bits: net.bits, nodeZones: s.nodeZones,
    prices: Object.fromEntries(Object.entries(prices).map(([z, p]) => [z, p.slice(start)])),
    groups, kinds, ...(s.queue ? { queue: s.queue } : {}),
    initial, arrivals: arrivals.slice(start), waiting, requests: requests.slice(start),
  };
}

/** Whether group g's VMs are still there in window hour t. */
export function alive(w: Window, g: number, t: number): boolean {
  return w.start + t < w.groups[g]!.end;
}

/** Watts one switched-on server draws at DC d running class k: the class's draw on the DC's generation. */
export function serverWatts(w: Pick<Window, 'dcs' | 'classes' | 'power'>, d: number, k: number): number {
  const reference = w.power.serverWatts;
  const classWatts = w.classes[k]!.serverWatts ?? reference;
  const dcWatts = w.dcs[d]!.serverWatts ?? reference;
  return reference > 0 ? (classWatts * dcWatts) / reference : classWatts;
}

export function dcIndex(s: { datacenters: readonly DataCenter[] }, name: string): number {
  return s.datacenters.findIndex((d) => d.name === name);
}

export function classIndex(s: { classes: readonly VmClass[] }, name: string): number {
  return s.classes.findIndex((k) => k.name === name);
}

/** $ per hour of one switched-on rack, one server, at DC d in window hour t. */
export function priceAt(w: Window, node: number, t: number): number {
  return w.prices[w.nodeZones[node - 1]!]![t]!;
}

/** $ of one class-k migration from DC i to DC j in window hour t: bits x J/bit x price, per router. */
export function migrationDollars(w: Window, k: number, i: number, j: number, t: number): number {
  const route = w.routes[i]![j];
  if (!route) return Infinity;
  const dollarsPerJoule = route.nodes.reduce((sum, node) => sum + priceAt(w, node, t), 0) / 3.6e6;
  return w.bits[k]![i]![j]! * w.power.routerJoulesPerBit * dollarsPerJoule;
}

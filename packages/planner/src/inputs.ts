/**
 * The numbers the MILP is built from, derived once from a scenario: routes between DC pairs, what one
 * migration of each class costs in bits on each route, hourly prices, where VMs start and arrive.
 * A `Window` is a run of hours starting at `start` (the rolling mode plans shorter and shorter windows).
 */
import { migrationCost, type ChargeModel } from './migration-model.js';
import type { DataCenter, Link, Power, Scenario, VmClass } from './scenario.js';
import { shortestRoute, type Route } from './topology.js';

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
  /** VMs per DC and class before the window's first hour. */
  readonly initial: ReadonlyArray<readonly number[]>;
  /** arrivals[t][d][k]: VMs that appear at DC d at the start of window hour t. */
  readonly arrivals: ReadonlyArray<ReadonlyArray<readonly number[]>>;
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

/** VMs per DC and class as the scenario places them, before hour 0. */
export function initialPlacement(s: Scenario): number[][] {
  const counts = s.datacenters.map(() => s.classes.map(() => 0));
  for (const p of s.placement) counts[dcIndex(s, p.dc)]![classIndex(s, p.vmClass)]! += p.count;
  return counts;
}

/** arrivals[h][d][k] over the whole horizon; `asOf` hides requests not yet known (rolling mode). */
export function arrivalsAsOf(s: Scenario, asOf: number): number[][][] {
  const arrivals = Array.from({ length: s.hours }, () => s.datacenters.map(() => s.classes.map(() => 0)));
  for (const event of s.timeline) {
    if (event.hour > asOf) continue;
    for (const p of event.arrive) arrivals[event.hour]![dcIndex(s, p.dc)]![classIndex(s, p.vmClass)]! += p.count;
  }
  return arrivals;
}

/** The window of hours start..end-1 planned from `initial`, with what is known at `asOf`. */
export function windowOf(s: Scenario, net: Network, start: number, initial: number[][], asOf: number): Window {
  const prices = pricesAsOf(s, asOf);
  return {
    start, hours: s.hours - start, dcs: s.datacenters, classes: s.classes, links: s.links, power: s.power,
    routes: net.routes, bits: net.bits, nodeZones: s.nodeZones,
    prices: Object.fromEntries(Object.entries(prices).map(([z, p]) => [z, p.slice(start)])),
    initial, arrivals: arrivalsAsOf(s, asOf).slice(start),
  };
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

/** VMs per server packed on one server as a common integer: class k takes slots[k] of `perServer`. */
export function serverSlots(classes: readonly VmClass[]): { slots: number[]; perServer: number } {
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  const perServer = classes.reduce((l, k) => (l * k.vmsPerServer) / gcd(l, k.vmsPerServer), 1);
  return { slots: classes.map((k) => perServer / k.vmsPerServer), perServer };
}

/**
 * A plan read back from solver columns: per hour the VMs each DC hosts, racks and servers on, the
 * migrations that start the hour, and the cost split into DC energy and migration energy. Also the
 * no-migration baseline (every VM stays where it starts or arrives), computed in closed form.
 */
import { migrationDollars, priceAt, serverSlots, type Window } from './inputs.js';
import { movablePairs, name } from './model.js';

export interface Move { readonly from: number; readonly to: number; readonly vmClass: number; readonly count: number; readonly bits: number }
export interface Hour {
  readonly hour: number;
  /** vms[d][k] hosted during the hour. */
  readonly vms: ReadonlyArray<readonly number[]>;
  readonly servers: readonly number[];
  readonly racks: readonly number[];
  readonly moves: readonly Move[];
  readonly dcDollars: number;
  readonly migrationDollars: number;
}

/** The values of integer columns, rounded (the solver returns them within its tolerance). */
export type Columns = Readonly<Record<string, number>>;

export function readSchedule(w: Window, columns: Columns): Hour[] {
  const value = (column: string): number => Math.round(columns[column] ?? 0);
  return Array.from({ length: w.hours }, (_, t) => {
    const vms = w.dcs.map((_, d) => w.classes.map((__, k) => value(name.vms(d, k, t))));
    const moves: Move[] = [];
    for (const [i, j] of movablePairs(w)) {
      w.classes.forEach((_, k) => {
        const count = value(name.moves(i, j, k, t));
        if (count > 0) moves.push({ from: i, to: j, vmClass: k, count, bits: count * w.bits[k]![i]![j]! });
      });
    }
    return hourOf(w, t, vms, moves);
  });
}

/** The hour's cost with the fewest servers and racks that hold `vms` (what the MILP picks too). */
export function hourOf(w: Window, t: number, vms: number[][], moves: Move[]): Hour {
  const { slots, perServer } = serverSlots(w.classes);
  const servers = vms.map((row) => Math.ceil(row.reduce((sum, n, k) => sum + n * slots[k]!, 0) / perServer));
  const racks = servers.map((s) => Math.ceil(s / w.power.serversPerRack));
  const dcDollars = w.dcs.reduce((sum, dc, d) => sum + ((racks[d]! * w.power.rackWatts + servers[d]! * w.power.serverWatts) * priceAt(w, dc.node, t)) / 1000, 0);
  const moveDollars = moves.reduce((sum, m) => sum + m.count * migrationDollars(w, m.vmClass, m.from, m.to, t), 0);
  return { hour: w.start + t, vms, servers, racks, moves, dcDollars, migrationDollars: moveDollars };
}

/** Every VM stays where it starts or arrives. */
export function baseline(w: Window): Hour[] {
  let vms = w.initial.map((row) => [...row]);
  return Array.from({ length: w.hours }, (_, t) => {
    vms = vms.map((row, d) => row.map((n, k) => n + w.arrivals[t]![d]![k]!));
    return hourOf(w, t, vms, []);
  });
}

/**
 * What a schedule breaks, if anything: DC capacity, VM conservation, moves out of what is there, link
 * capacity per hour. The CLI checks every plan with it before printing; tests check it independently.
 */
export function violations(w: Window, hours: readonly Hour[]): string[] {
  const found: string[] = [];
  let before = w.initial;
  hours.forEach((h, t) => {
    w.dcs.forEach((dc, d) => {
      const total = h.vms[d]!.reduce((a, b) => a + b, 0);
      if (total > dc.maxVMs) found.push(`hour ${h.hour}: DC capacity: ${dc.name} hosts ${total} VMs, holds ${dc.maxVMs}`);
      w.classes.forEach((k, c) => {
        const arrived = before[d]![c]! + w.arrivals[t]![d]![c]!;
        const out = h.moves.filter((m) => m.from === d && m.vmClass === c).reduce((s, m) => s + m.count, 0);
        const into = h.moves.filter((m) => m.to === d && m.vmClass === c).reduce((s, m) => s + m.count, 0);
        if (out > arrived) found.push(`hour ${h.hour}: ${dc.name} sends ${out} ${k.name} VMs but has ${arrived}`);
        if (arrived - out + into !== h.vms[d]![c]) found.push(`hour ${h.hour}: VM conservation: ${dc.name} ${k.name} ${arrived} - ${out} + ${into} != ${h.vms[d]![c]}`);
      });
    });
    w.links.forEach((link, l) => {
      const bits = h.moves.filter((m) => w.routes[m.from]![m.to]!.links.includes(l)).reduce((s, m) => s + m.bits, 0);
      if (bits > link.gbps * 1e9 * 3600 * (1 + 1e-9)) found.push(`hour ${h.hour}: link capacity: ${link.a}-${link.b} carries ${(bits / 1e12).toFixed(2)} Tb, holds ${(link.gbps * 3.6e-3).toFixed(2)} Tb`);
    });
    before = h.vms;
  });
  return found;
}

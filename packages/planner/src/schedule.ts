/**
 * A plan read back from solver columns: per hour the VMs each DC hosts, servers and racks on, the
 * migrations that start the hour, requests still waiting, and the cost split into DC energy, migration
 * energy and waiting. Also the no-migration baseline (every VM stays where it starts or is admitted, a
 * queued request is admitted at its DC as soon as there is room), computed in closed form.
 */
import { alive, migrationDollars, priceAt, serverWatts, type Window } from './inputs.js';
import { kindsInto, liveGroups, movablePairs, name } from './model.js';

export interface Move { readonly from: number; readonly to: number; readonly vmClass: number; readonly group: number; readonly count: number; readonly bits: number }
export interface Hour {
  readonly hour: number;
  /** vms[d][k] hosted during the hour, per class. */
  readonly vms: ReadonlyArray<readonly number[]>;
  /** held[d][g]: the same per group (class and leaving hour); what the next hour starts from. */
  readonly held: ReadonlyArray<readonly number[]>;
  /** waiting[d][r]: queued requests not yet admitted during the hour. */
  readonly waiting: ReadonlyArray<readonly number[]>;
  /** classServers[d][k]: servers on for class k. */
  readonly classServers: ReadonlyArray<readonly number[]>;
  readonly servers: readonly number[];
  readonly racks: readonly number[];
  readonly moves: readonly Move[];
  /** VMs whose lifetime ended at the start of the hour. */
  readonly departed: number;
  readonly dcDollars: number;
  readonly migrationDollars: number;
  /** What the scenario's queue price charges for the hour's waiting. */
  readonly waitingDollars: number;
}

/** The values of integer columns, rounded (the solver returns them within its tolerance). */
export type Columns = Readonly<Record<string, number>>;

export function readSchedule(w: Window, columns: Columns): Hour[] {
  const value = (column: string): number => Math.round(columns[column] ?? 0);
  let before = w.initial;
  return Array.from({ length: w.hours }, (_, t) => {
    const held = w.dcs.map((_, d) => w.groups.map((__, g) => value(name.vms(d, g, t))));
    const waiting = w.dcs.map((_, d) => w.kinds.map((__, r) => value(name.waiting(d, r, t))));
    const moves: Move[] = [];
    for (const [i, j] of movablePairs(w)) {
      for (const g of liveGroups(w, t)) {
        const count = value(name.moves(i, j, g, t));
        const vmClass = w.groups[g]!.vmClass;
        if (count > 0) moves.push({ from: i, to: j, vmClass, group: g, count, bits: count * w.bits[vmClass]![i]![j]! });
      }
    }
    const hour = hourOf(w, t, held, moves, waiting, before);
    before = held;
    return hour;
  });
}

/** The hour's cost with the fewest servers and racks that hold `held` (what the MILP picks too). */
export function hourOf(w: Window, t: number, held: number[][], moves: Move[], waiting: number[][], before: ReadonlyArray<readonly number[]>): Hour {
  const vms = held.map((row) => w.classes.map((_, k) => row.reduce((sum, n, g) => sum + (w.groups[g]!.vmClass === k ? n : 0), 0)));
  const classServers = vms.map((row) => row.map((n, k) => Math.ceil(n / w.classes[k]!.vmsPerServer)));
  const servers = classServers.map((row) => row.reduce((a, b) => a + b, 0));
  const racks = servers.map((s) => Math.ceil(s / w.power.serversPerRack));
  const dcDollars = w.dcs.reduce((sum, dc, d) => {
    const watts = racks[d]! * w.power.rackWatts + classServers[d]!.reduce((s, n, k) => s + n * serverWatts(w, d, k), 0);
    return sum + (watts * priceAt(w, dc.node, t)) / 1000;
  }, 0);
  const moveDollars = moves.reduce((sum, m) => sum + m.count * migrationDollars(w, m.vmClass, m.from, m.to, t), 0);
  const departed = before.reduce((sum, row) => sum + row.reduce((s, n, g) => s + (alive(w, g, t) ? 0 : n), 0), 0);
  const waitingVms = waiting.reduce((sum, row) => sum + row.reduce((a, b) => a + b, 0), 0);
  return { hour: w.start + t, vms, held, waiting, classServers, servers, racks, moves, departed, dcDollars, migrationDollars: moveDollars, waitingDollars: waitingVms * (w.queue?.dollarsPerVmHour ?? 0) };
}

/** Every VM stays where it starts or is admitted; queued requests are admitted at their DC when it has room. */
export function baseline(w: Window): Hour[] {
  let held = w.initial.map((row) => [...row]);
  let waiting = w.waiting.map((row) => [...row]);
  return Array.from({ length: w.hours }, (_, t) => {
    const before = held;
    held = held.map((row, d) => row.map((n, g) => (alive(w, g, t) ? n + w.arrivals[t]![d]![g]! : 0)));
    waiting = waiting.map((row, d) => row.map((n, r) => n + w.requests[t]![d]![r]!));
    admitWhereRoom(w, t, held, waiting);
    return hourOf(w, t, held, [], waiting, before);
  });
}

/** Admits waiting requests at their own DC, in request-kind order, up to its free room. */
function admitWhereRoom(w: Window, t: number, held: number[][], waiting: number[][]): void {
  w.dcs.forEach((dc, d) => {
    let room = dc.maxVMs - held[d]!.reduce((a, b) => a + b, 0);
    w.kinds.forEach((_, r) => {
      const admit = Math.max(0, Math.min(room, waiting[d]![r]!));
      if (admit === 0) return;
      const g = w.groups.findIndex((__, i) => kindsInto(w, i, t).includes(r));
      held[d]![g]! += admit;
      waiting[d]![r]! -= admit;
      room -= admit;
    });
  });
}

/** A schedule as solver columns: the solver's start (a plan it need only improve on). */
export function scheduleColumns(w: Window, hours: readonly Hour[]): Record<string, number> {
  const columns: Record<string, number> = {};
  let waitingBefore = w.waiting;
  hours.forEach((h, t) => {
    w.dcs.forEach((_, d) => {
      columns[name.racks(d, t)] = h.racks[d]!;
      w.classes.forEach((__, k) => { columns[name.servers(d, k, t)] = h.classServers[d]![k]!; });
      for (const g of liveGroups(w, t)) columns[name.vms(d, g, t)] = h.held[d]![g]!;
      w.kinds.forEach((__, r) => {
        columns[name.waiting(d, r, t)] = h.waiting[d]![r]!;
        columns[name.admitted(d, r, t)] = waitingBefore[d]![r]! + w.requests[t]![d]![r]! - h.waiting[d]![r]!;
      });
    });
    for (const [i, j] of movablePairs(w)) for (const g of liveGroups(w, t)) columns[name.moves(i, j, g, t)] = 0;
    for (const m of h.moves) columns[name.moves(m.from, m.to, m.group, t)] = m.count;
    waitingBefore = h.waiting;
  });
  return columns;
}

/**
 * What a schedule breaks, if anything: DC capacity, VM conservation, moves out of what is there, link
 * capacity per hour. The CLI checks every plan with it before printing; tests check it independently.
 */
export function violations(w: Window, hours: readonly Hour[]): string[] {
  const found: string[] = [];
  let before = w.initial;
  let waitingBefore = w.waiting;
  hours.forEach((h, t) => {
    w.dcs.forEach((dc, d) => {
      const total = h.held[d]!.reduce((a, b) => a + b, 0);
      if (total > dc.maxVMs) found.push(`hour ${h.hour}: DC capacity: ${dc.name} hosts ${total} VMs, holds ${dc.maxVMs}`);
      w.groups.forEach((group, g) => {
        const className = w.classes[group.vmClass]!.name;
        const admitted = kindsInto(w, g, t).reduce((s, r) => s + waitingBefore[d]![r]! + w.requests[t]![d]![r]! - h.waiting[d]![r]!, 0);
        const arrived = (alive(w, g, t) ? before[d]![g]! + w.arrivals[t]![d]![g]! : 0) + admitted;
        const out = h.moves.filter((m) => m.from === d && m.group === g).reduce((s, m) => s + m.count, 0);
        const into = h.moves.filter((m) => m.to === d && m.group === g).reduce((s, m) => s + m.count, 0);
        if (out > arrived) found.push(`hour ${h.hour}: ${dc.name} sends ${out} ${className} VMs but has ${arrived}`);
        if (arrived - out + into !== h.held[d]![g]) found.push(`hour ${h.hour}: VM conservation: ${dc.name} ${className} ${arrived} - ${out} + ${into} != ${h.held[d]![g]}`);
      });
      w.kinds.forEach((_, r) => { if (h.waiting[d]![r]! < 0 || h.waiting[d]![r]! > waitingBefore[d]![r]! + w.requests[t]![d]![r]!) found.push(`hour ${h.hour}: queue: ${dc.name} has ${h.waiting[d]![r]} waiting`); });
    });
    w.links.forEach((link, l) => {
      const bits = h.moves.filter((m) => w.routes[m.from]![m.to]!.links.includes(l)).reduce((s, m) => s + m.bits, 0);
      if (bits > link.gbps * 1e9 * 3600 * (1 + 1e-9)) found.push(`hour ${h.hour}: link capacity: ${link.a}-${link.b} carries ${(bits / 1e12).toFixed(2)} Tb, holds ${(link.gbps * 3.6e-3).toFixed(2)} Tb`);
    });
    before = h.held;
    waitingBefore = h.waiting;
  });
  return found;
}

/**
 * A quick plan to start the solver from, better than staying put: hour by hour, the fleet is poured
 * into the DCs that are cheapest per VM that hour (price x the watts of a VM's share of a server and a
 * rack), moving VMs from the dearest DCs first when the hour's saving beats the migration, as far as each
 * link's hourly capacity allows. It looks
 * no further than the hour and covers one group without a queue (the common case); otherwise the solver
 * starts from staying put. Whatever it builds is checked like any plan before it is used.
 */
import { migrationDollars, priceAt, serverWatts, type Window } from './inputs.js';
import { hourOf, violations, type Hour, type Move } from './schedule.js';

export function greedyPlan(w: Window): Hour[] | undefined {
  if (w.groups.length !== 1 || w.kinds.length > 0) return undefined;
  const vmClass = w.classes[0]!;
  let held = w.initial.map((row) => [...row]);
  const hours: Hour[] = [];
  for (let t = 0; t < w.hours; t++) {
    const before = held;
    const counts = held.map((row, d) => row[0]! + w.arrivals[t]![d]![0]!);
    const perVm = (d: number): number => priceAt(w, w.dcs[d]!.node, t) * (serverWatts(w, d, 0) + w.power.rackWatts / w.power.serversPerRack) / vmClass.vmsPerServer;
    const target = fill(w, counts.reduce((a, b) => a + b, 0), perVm);
    const moves = movesToward(w, t, counts, target, perVm);
    held = counts.map((n) => [n]);
    hours.push(hourOf(w, t, held.map((row) => [...row]), moves, [], before));
  }
  return violations(w, hours).length === 0 ? hours : undefined;
}

/**
 * VMs per DC, cheapest DCs first: whole racks first (a DC's last, part-filled rack costs a rack's power
 * for a few VMs), then the rest up to each DC's capacity, cheapest first again.
 */
function fill(w: Window, total: number, perVm: (d: number) => number): number[] {
  const rackVms = w.classes[0]!.vmsPerServer * w.power.serversPerRack;
  const order = w.dcs.map((_, i) => i).sort((a, b) => perVm(a) - perVm(b));
  const target = w.dcs.map(() => 0);
  let left = total;
  for (const limit of [(d: number) => Math.floor(w.dcs[d]!.maxVMs / rackVms) * rackVms, (d: number) => w.dcs[d]!.maxVMs]) {
    for (const d of order) {
      const add = Math.min(limit(d) - target[d]!, left);
      if (add > 0) target[d]! += add;
      left -= Math.max(0, add);
    }
  }
  return target;
}

/** Moves from DCs over their target (dearest first) to DCs under it (cheapest first), within link capacity. */
function movesToward(w: Window, t: number, counts: number[], target: number[], perVm: (d: number) => number): Move[] {
  const headroom = w.links.map((l) => l.gbps * 3600e9);
  const moves: Move[] = [];
  const sources = counts.map((_, d) => d).filter((d) => counts[d]! > target[d]!).sort((a, b) => perVm(b) - perVm(a));
  const sinks = counts.map((_, d) => d).filter((d) => counts[d]! < target[d]!).sort((a, b) => perVm(a) - perVm(b));
  for (const from of sources) {
    for (const to of sinks) {
      const route = w.routes[from]![to];
      if (!route) continue;
      const bits = w.bits[0]![from]![to]!;
      const fits = bits > 0 ? Math.min(...route.links.map((l) => Math.floor(headroom[l]! / bits))) : Infinity;
      const gain = (perVm(from) - perVm(to)) / 1000 - migrationDollars(w, 0, from, to, t);
      const count = gain > 0 ? Math.min(counts[from]! - target[from]!, target[to]! - counts[to]!, fits) : 0;
      if (count <= 0) continue;
      for (const l of route.links) headroom[l]! -= count * bits;
      counts[from]! -= count;
      counts[to]! += count;
      moves.push({ from, to, vmClass: 0, group: 0, count, bits: count * bits });
    }
  }
  return moves;
}

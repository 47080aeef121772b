/**
 * The MILP in CPLEX LP text (what the `highs` solver reads). Per DC d, group g (a class and the hour its
 * VMs leave), class k, request kind r and window hour t, all integers:
 *
 *   v_d_g_t  VMs hosted (only while the group is there)     s_d_k_t  servers on for class k     r_d_t  racks on
 *   m_i_j_g_t  group-g VMs migrating from DC i to DC j at the start of hour t
 *   a_d_r_t  queued requests admitted at DC d                q_d_r_t  requests still waiting during hour t
 *
 *   minimise (in m$)  sum (r P_R + sum_k s_k W(d,k)) price(d, t) / 1000  +  sum m * (bits * E_bit * sum_routers price / 3.6e6 + tie)
 *                     +  sum q * (queue price + priority)
 *   cons   v_d_g_t = v_d_g_(t-1) + arrivals + admitted into g + sum_i m_i_d_g_t - sum_j m_d_j_g_t   (VM conservation)
 *   out    sum_j m_d_j_g_t <= v_d_g_(t-1) + arrivals + admitted into g                     (moves only what is there)
 *   queue  q_d_r_t = q_d_r_(t-1) + requests - a_d_r_t                                   (requests wait until admitted)
 *   cap    sum_g v_d_g_t <= maxVMs_d                                                   (DC capacity)
 *   srv    sum_(g of class k) v_d_g_t <= vmsPerServer_k * s_d_k_t                       (a server runs one class)
 *   rack   sum_k s_d_k_t <= beta * r_d_t                                               (x <= beta y)
 *   link   sum over routes through link l of m * bits / 1e9 <= Gbps_l * 3600             (link capacity per hour)
 *
 * A group's VMs leave at its end hour: its columns stop there, which frees their servers and racks.
 */
import { alive, migrationDollars, priceAt, serverWatts, type Window } from './inputs.js';

export const name = {
  vms: (d: number, g: number, t: number): string => `v_${d}_${g}_${t}`,
  servers: (d: number, k: number, t: number): string => `s_${d}_${k}_${t}`,
  racks: (d: number, t: number): string => `r_${d}_${t}`,
  moves: (i: number, j: number, g: number, t: number): string => `m_${i}_${j}_${g}_${t}`,
  admitted: (d: number, r: number, t: number): string => `a_${d}_${r}_${t}`,
  waiting: (d: number, r: number, t: number): string => `q_${d}_${r}_${t}`,
};

export interface ModelOptions {
  /** Leave out the link rows: used to tell a link-capacity infeasibility from the others. */
  readonly linkCapacity: boolean;
}

export type Term = readonly [number, string];

/** The objective is in thousandths of a dollar: migration terms of ~1e-5 $ would otherwise sit at the
 *  solver's cost tolerance (HiGHS warns of "excessively small costs"). */
export const OBJECTIVE_SCALE = 1000;
/** $ added to each migration in the objective only: at a tie (a move that gains nothing) VMs stay put.
 *  Far below any saving worth a migration, far above the solver's cost tolerance once scaled. */
export const TIE_DOLLARS = 1e-7;

/** The LP text of a window. */
export function buildModel(w: Window, options: ModelOptions = { linkCapacity: true }): string {
  const rows = [...conservationRows(w), ...queueRows(w), ...capacityRows(w), ...fleetRows(w), ...(options.linkCapacity ? linkRows(w) : [])];
  const integers = [...columns(w)];
  return ['Minimize', ` cost: ${terms(objective(w))}`, 'Subject To', ...rows, 'Generals', ...chunk(integers, 12).map((c) => ` ${c.join(' ')}`), 'End', ''].join('\n');
}

/** Pairs (i, j) a VM can move between: joined by a route. */
export function movablePairs(w: Window): Array<[number, number]> {
  const pairs: Array<[number, number]> = [];
  w.dcs.forEach((_, i) => w.dcs.forEach((__, j) => { if (w.routes[i]![j]) pairs.push([i, j]); }));
  return pairs;
}

/** Groups present in window hour t. */
export function liveGroups(w: Window, t: number): number[] {
  return w.groups.map((_, g) => g).filter((g) => alive(w, g, t));
}

/** Request kinds admitted at hour t into group g (same class, and t + lifetime is g's end). */
export function kindsInto(w: Window, g: number, t: number): number[] {
  const group = w.groups[g]!;
  const end = (r: number): number => { const e = w.start + t + w.kinds[r]!.lifetime; return e >= w.start + w.hours ? Infinity : e; };
  return w.kinds.map((_, r) => r).filter((r) => w.kinds[r]!.vmClass === group.vmClass && end(r) === group.end);
}

function* columns(w: Window): Generator<string> {
  for (let t = 0; t < w.hours; t++) {
    for (let d = 0; d < w.dcs.length; d++) {
      yield name.racks(d, t);
      for (let k = 0; k < w.classes.length; k++) yield name.servers(d, k, t);
      for (const g of liveGroups(w, t)) yield name.vms(d, g, t);
      for (let r = 0; r < w.kinds.length; r++) yield* [name.admitted(d, r, t), name.waiting(d, r, t)];
    }
    for (const [i, j] of movablePairs(w)) for (const g of liveGroups(w, t)) yield name.moves(i, j, g, t);
  }
}

function objective(w: Window): Term[] {
  const out: Term[] = [];
  const priority = queuePriority(w);
  for (let t = 0; t < w.hours; t++) {
    w.dcs.forEach((dc, d) => {
      const price = priceAt(w, dc.node, t);
      out.push([(w.power.rackWatts * price * OBJECTIVE_SCALE) / 1000, name.racks(d, t)]);
      w.classes.forEach((_, k) => out.push([(serverWatts(w, d, k) * price * OBJECTIVE_SCALE) / 1000, name.servers(d, k, t)]));
      w.kinds.forEach((_, r) => out.push([(priority + w.queue!.dollarsPerVmHour) * OBJECTIVE_SCALE, name.waiting(d, r, t)]));
    });
    for (const [i, j] of movablePairs(w)) {
      for (const g of liveGroups(w, t)) out.push([(migrationDollars(w, w.groups[g]!.vmClass, i, j, t) + TIE_DOLLARS) * OBJECTIVE_SCALE, name.moves(i, j, g, t)]);
    }
  }
  return out;
}

/**
 * $ per VM-hour of waiting that no energy saving can beat: one more VM admitted costs at most a server
 * and a rack for the hour and one migration to make room, so a request is never kept waiting to save
 * money. Waiting is served first, then the bill; the scenario's queue price is charged on top.
 */
export function queuePriority(w: Window): number {
  if (w.kinds.length === 0) return 0;
  const prices = Object.values(w.prices).flat();
  const dearest = Math.max(...prices, 0);
  const watts = w.power.rackWatts + Math.max(0, ...w.dcs.flatMap((_, d) => w.classes.map((__, k) => serverWatts(w, d, k))));
  const pairs = movablePairs(w);
  let migration = 0;
  for (let t = 0; t < w.hours; t++) for (const [i, j] of pairs) w.classes.forEach((_, k) => { migration = Math.max(migration, migrationDollars(w, k, i, j, t)); });
  return 10 * ((dearest * watts) / 1000 + migration + TIE_DOLLARS) + 1e-3;
}

function conservationRows(w: Window): string[] {
  const rows: string[] = [];
  const pairs = movablePairs(w);
  for (let t = 0; t < w.hours; t++) {
    for (let d = 0; d < w.dcs.length; d++) {
      for (const g of liveGroups(w, t)) {
        const outgoing: Term[] = pairs.filter(([i]) => i === d).map(([i, j]) => [1, name.moves(i, j, g, t)]);
        const incoming: Term[] = pairs.filter(([, j]) => j === d).map(([i, j]) => [-1, name.moves(i, j, g, t)]);
        const before: Term[] = t === 0 ? [] : [[-1, name.vms(d, g, t - 1)]];
        const admitted: Term[] = kindsInto(w, g, t).map((r) => [-1, name.admitted(d, r, t)]);
        const known = (t === 0 ? w.initial[d]![g]! : 0) + w.arrivals[t]![d]![g]!;
        rows.push(` cons_${d}_${g}_${t}: ${terms([[1, name.vms(d, g, t)], ...before, ...admitted, ...incoming, ...outgoing])} = ${known}`);
        if (outgoing.length > 0) rows.push(` out_${d}_${g}_${t}: ${terms([...outgoing, ...before, ...admitted])} <= ${known}`);
      }
    }
  }
  return rows;
}

function queueRows(w: Window): string[] {
  const rows: string[] = [];
  for (let t = 0; t < w.hours; t++) {
    w.dcs.forEach((_, d) => w.kinds.forEach((__, r) => {
      const before: Term[] = t === 0 ? [] : [[-1, name.waiting(d, r, t - 1)]];
      const known = (t === 0 ? w.waiting[d]![r]! : 0) + w.requests[t]![d]![r]!;
      rows.push(` queue_${d}_${r}_${t}: ${terms([[1, name.waiting(d, r, t)], ...before, [1, name.admitted(d, r, t)]])} = ${known}`);
    }));
  }
  return rows;
}

function capacityRows(w: Window): string[] {
  const rows: string[] = [];
  for (let t = 0; t < w.hours; t++) {
    const live = liveGroups(w, t);
    w.dcs.forEach((dc, d) => {
      if (live.length > 0) rows.push(` cap_${d}_${t}: ${terms(live.map((g) => [1, name.vms(d, g, t)]))} <= ${dc.maxVMs}`);
      w.classes.forEach((vmClass, k) => {
        const vms = live.filter((g) => w.groups[g]!.vmClass === k).map((g): Term => [1, name.vms(d, g, t)]);
        if (vms.length > 0) rows.push(` srv_${d}_${k}_${t}: ${terms([...vms, [-vmClass.vmsPerServer, name.servers(d, k, t)]])} <= 0`);
      });
      rows.push(` rack_${d}_${t}: ${terms([...w.classes.map((_, k): Term => [1, name.servers(d, k, t)]), [-w.power.serversPerRack, name.racks(d, t)]])} <= 0`);
    });
  }
  return rows;
}

/**
 * Rounding cuts, redundant for integers but not for the LP relaxation: all DCs together, and all but any
 * one DC (which holds at most maxVMs), run at least the servers and racks their share of the hour's
 * fleet needs, rounded up. Without them the relaxation charges fractions of a server and a rack per DC
 * and branch and bound spends its time closing that gap hour by hour. Queued VMs are left out (they may
 * still wait), which keeps the cuts valid.
 */
function fleetRows(w: Window): string[] {
  const rows: string[] = [];
  const all = w.dcs.map((_, d) => d);
  const fewest = Math.min(...w.classes.map((k) => k.vmsPerServer));
  const placed = w.groups.map((_, g) => w.dcs.reduce((sum, __, d) => sum + w.initial[d]![g]!, 0));
  for (let t = 0; t < w.hours; t++) {
    w.groups.forEach((_, g) => { placed[g]! += w.dcs.reduce((sum, __, d) => sum + w.arrivals[t]![d]![g]!, 0); });
    const perClass = w.classes.map(() => 0);
    for (const g of liveGroups(w, t)) perClass[w.groups[g]!.vmClass]! += placed[g]!;
    const servers = (dcs: readonly number[]): Term[] => dcs.flatMap((d) => w.classes.map((_, k): Term => [1, name.servers(d, k, t)]));
    const cut = (label: string, dcs: readonly number[], needed: number): void => {
      if (needed <= 0) return;
      rows.push(` ${label}srv_${t}: ${terms(servers(dcs))} >= ${needed}`);
      rows.push(` ${label}rack_${t}: ${terms(dcs.map((d): Term => [1, name.racks(d, t)]))} >= ${Math.ceil(needed / w.power.serversPerRack)}`);
    };
    cut('fleet', all, perClass.reduce((sum, n, k) => sum + Math.ceil(n / w.classes[k]!.vmsPerServer), 0));
    const share = perClass.reduce((sum, n, k) => sum + n / w.classes[k]!.vmsPerServer, 0);
    if (all.length > 2) all.forEach((skip) => cut(`but${skip}`, all.filter((d) => d !== skip), Math.ceil(share - w.dcs[skip]!.maxVMs / fewest - 1e-9)));
  }
  return rows;
}

function linkRows(w: Window): string[] {
  const rows: string[] = [];
  const pairs = movablePairs(w);
  for (let t = 0; t < w.hours; t++) {
    w.links.forEach((link, l) => {
      const load: Term[] = [];
      for (const [i, j] of pairs) {
        if (!w.routes[i]![j]!.links.includes(l)) continue;
        for (const g of liveGroups(w, t)) load.push([w.bits[w.groups[g]!.vmClass]![i]![j]! / 1e9, name.moves(i, j, g, t)]);
      }
      if (load.length > 0) rows.push(` link_${l}_${t}: ${terms(load)} <= ${link.gbps * 3600}`);
    });
  }
  return rows;
}

/** LP text for a sum of terms, a few per line (LP readers limit line length). */
function terms(list: readonly Term[]): string {
  const parts = list.filter(([c]) => c !== 0).map(([c, v], n) => `${c < 0 ? '-' : n === 0 ? '' : '+'} ${fmt(Math.abs(c))} ${v}`);
  if (parts.length === 0) return `0 ${list[0]?.[1] ?? ''}`;
  return chunk(parts, 8).map((c) => c.join(' ')).join('\n   ');
}

function fmt(x: number): string {
  return x === 1 ? '' : Number(x.toPrecision(12)).toString();
}

function chunk<T>(list: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

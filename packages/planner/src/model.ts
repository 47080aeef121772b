/**
 * The MILP in CPLEX LP text (what the `highs` solver reads). Per DC d, class k and window hour t:
 *
 *   v_d_k_t  VMs hosted            s_d_t  servers on            r_d_t  racks on
 *   m_i_j_k_t  class-k VMs migrating from DC i to DC j at the start of hour t (all integers)
 *
 *   minimise (in m$)  sum_t sum_d (r P_R + s P_S) price(d, t) / 1000  +  sum m * bits * E_bit * sum_routers price / 3.6e6
 *   cons   v_d_k_t = v_d_k_(t-1) + arrivals + sum_i m_i_d_k_t - sum_j m_d_j_k_t     (VM conservation)
 *   out    sum_j m_d_j_k_t <= v_d_k_(t-1) + arrivals                              (moves only what is there)
 *   cap    sum_k v_d_k_t <= maxVMs_d                                              (DC capacity)
 *   srv    sum_k slots_k v_d_k_t <= perServer * s_d_t                             (servers needed by the VMs)
 *   rack   s_d_t <= beta * r_d_t                                                  (x <= beta y)
 *   link   sum over routes through link l of m * bits / 1e9 <= Gbps_l * 3600        (link capacity per hour)
 */
import { migrationDollars, priceAt, serverSlots, type Window } from './inputs.js';

export const name = {
  vms: (d: number, k: number, t: number): string => `v_${d}_${k}_${t}`,
  servers: (d: number, t: number): string => `s_${d}_${t}`,
  racks: (d: number, t: number): string => `r_${d}_${t}`,
  moves: (i: number, j: number, k: number, t: number): string => `m_${i}_${j}_${k}_${t}`,
};

export interface ModelOptions {
  /** Leave out the link rows: used to tell a link-capacity infeasibility from the others. */
  readonly linkCapacity: boolean;
}

type Term = readonly [number, string];

/** The objective is in thousandths of a dollar: migration terms of ~1e-5 $ would otherwise sit at the
 *  solver's cost tolerance (HiGHS warns of "excessively small costs"). */
const OBJECTIVE_SCALE = 1000;

/** The LP text of a window. */
export function buildModel(w: Window, options: ModelOptions = { linkCapacity: true }): string {
  const rows = [...conservationRows(w), ...capacityRows(w), ...fleetRows(w), ...(options.linkCapacity ? linkRows(w) : [])];
  const integers = [...columns(w)];
  return ['Minimize', ` cost: ${terms(objective(w))}`, 'Subject To', ...rows, 'Generals', ...chunk(integers, 12).map((c) => ` ${c.join(' ')}`), 'End', ''].join('\n');
}

/** Pairs (i, j) a VM can move between: routed, and one VM's bits fit through every link in an hour. */
export function movablePairs(w: Window): Array<[number, number]> {
  const pairs: Array<[number, number]> = [];
  w.dcs.forEach((_, i) => w.dcs.forEach((__, j) => { if (w.routes[i]![j]) pairs.push([i, j]); }));
  return pairs;
}

function* columns(w: Window): Generator<string> {
  for (let t = 0; t < w.hours; t++) {
    for (let d = 0; d < w.dcs.length; d++) {
      yield name.servers(d, t);
      yield name.racks(d, t);
      for (let k = 0; k < w.classes.length; k++) yield name.vms(d, k, t);
    }
    for (const [i, j] of movablePairs(w)) for (let k = 0; k < w.classes.length; k++) yield name.moves(i, j, k, t);
  }
}

function objective(w: Window): Term[] {
  const out: Term[] = [];
  for (let t = 0; t < w.hours; t++) {
    w.dcs.forEach((dc, d) => {
      const price = priceAt(w, dc.node, t);
      out.push([(w.power.rackWatts * price * OBJECTIVE_SCALE) / 1000, name.racks(d, t)], [(w.power.serverWatts * price * OBJECTIVE_SCALE) / 1000, name.servers(d, t)]);
    });
    for (const [i, j] of movablePairs(w)) for (let k = 0; k < w.classes.length; k++) out.push([migrationDollars(w, k, i, j, t) * OBJECTIVE_SCALE, name.moves(i, j, k, t)]);
  }
  return out;
}

function conservationRows(w: Window): string[] {
  const rows: string[] = [];
  const pairs = movablePairs(w);
  for (let t = 0; t < w.hours; t++) {
    for (let d = 0; d < w.dcs.length; d++) {
      for (let k = 0; k < w.classes.length; k++) {
        const outgoing: Term[] = pairs.filter(([i]) => i === d).map(([i, j]) => [1, name.moves(i, j, k, t)]);
        const incoming: Term[] = pairs.filter(([, j]) => j === d).map(([i, j]) => [-1, name.moves(i, j, k, t)]);
        const before: Term[] = t === 0 ? [] : [[-1, name.vms(d, k, t - 1)]];
        const known = (t === 0 ? w.initial[d]![k]! : 0) + w.arrivals[t]![d]![k]!;
        rows.push(` cons_${d}_${k}_${t}: ${terms([[1, name.vms(d, k, t)], ...before, ...incoming, ...outgoing])} = ${known}`);
        if (outgoing.length > 0) rows.push(` out_${d}_${k}_${t}: ${terms([...outgoing, ...before])} <= ${known}`);
      }
    }
  }
  return rows;
}

function capacityRows(w: Window): string[] {
  const rows: string[] = [];
  const { slots, perServer } = serverSlots(w.classes);
  for (let t = 0; t < w.hours; t++) {
    w.dcs.forEach((dc, d) => {
      const vms = w.classes.map((_, k) => name.vms(d, k, t));
      rows.push(` cap_${d}_${t}: ${terms(vms.map((v) => [1, v]))} <= ${dc.maxVMs}`);
      rows.push(` srv_${d}_${t}: ${terms([...vms.map((v, k): Term => [slots[k]!, v]), [-perServer, name.servers(d, t)]])} <= 0`);
      rows.push(` rack_${d}_${t}: ${terms([[1, name.servers(d, t)], [-w.power.serversPerRack, name.racks(d, t)]])} <= 0`);
    });
  }
  return rows;
}

/**
 * Rounding cuts, redundant for integers but not for the LP relaxation: all DCs together, and all but any
 * one DC (which holds at most maxVMs), run at least the servers and racks their share of the hour's
 * fleet needs, rounded up. Without them the relaxation charges fractions of a server and a rack per DC
 * and branch and bound spends its time closing that gap hour by hour.
 */
function fleetRows(w: Window): string[] {
  const rows: string[] = [];
  const { slots, perServer } = serverSlots(w.classes);
  const widest = Math.max(...slots);
  let present = w.initial.map((row) => [...row]);
  for (let t = 0; t < w.hours; t++) {
    present = present.map((row, d) => row.map((n, k) => n + w.arrivals[t]![d]![k]!));
    const slotsUsed = present.reduce((sum, row) => sum + row.reduce((s, n, k) => s + n * slots[k]!, 0), 0);
    const cut = (label: string, dcs: readonly number[], slotsAtLeast: number): void => {
      if (slotsAtLeast <= 0) return;
      const servers = Math.ceil(slotsAtLeast / perServer);
      rows.push(` ${label}srv_${t}: ${terms(dcs.map((d): Term => [1, name.servers(d, t)]))} >= ${servers}`);
      rows.push(` ${label}rack_${t}: ${terms(dcs.map((d): Term => [1, name.racks(d, t)]))} >= ${Math.ceil(servers / w.power.serversPerRack)}`);
    };
    const all = w.dcs.map((_, d) => d);
    cut('fleet', all, slotsUsed);
    if (all.length > 2) all.forEach((skip) => cut(`but${skip}`, all.filter((d) => d !== skip), slotsUsed - w.dcs[skip]!.maxVMs * widest));
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
        for (let k = 0; k < w.classes.length; k++) load.push([w.bits[k]![i]![j]! / 1e9, name.moves(i, j, k, t)]);
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

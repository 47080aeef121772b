/** A plan as text (hour by hour, with the no-migration baseline beside it) and as JSON. */
import type { Scenario } from './scenario.js';
import type { Plan } from './rolling.js';
import type { Hour } from './schedule.js';

export interface Totals {
  readonly dcDollars: number;
  readonly migrationDollars: number;
  readonly dollars: number;
  readonly baselineDollars: number;
  readonly saving: number;
  readonly migrations: number;
  readonly migratedTerabits: number;
  /** VM-hours queued requests waited, and what the scenario's queue price charged for them (in `dollars`). */
  readonly waitingVmHours: number;
  readonly waitingDollars: number;
  readonly departed: number;
}

export function totals(plan: Plan): Totals {
  const sum = (hours: readonly Hour[], pick: (h: Hour) => number): number => hours.reduce((s, h) => s + pick(h), 0);
  const dcDollars = sum(plan.hours, (h) => h.dcDollars);
  const migrationDollars = sum(plan.hours, (h) => h.migrationDollars);
  const waitingDollars = sum(plan.hours, (h) => h.waitingDollars);
  const baselineDollars = sum(plan.baseline, (h) => h.dcDollars + h.waitingDollars);
  const dollars = dcDollars + migrationDollars + waitingDollars;
  return {
    dcDollars, migrationDollars, dollars, baselineDollars,
    saving: baselineDollars - dollars,
    waitingVmHours: sum(plan.hours, (h) => h.waiting.flat().reduce((a, b) => a + b, 0)),
    waitingDollars,
    departed: sum(plan.hours, (h) => h.departed),
    migrations: sum(plan.hours, (h) => h.moves.reduce((s, m) => s + m.count, 0)),
    migratedTerabits: sum(plan.hours, (h) => h.moves.reduce((s, m) => s + m.bits, 0)) / 1e12,
  };
}

/** Four decimals; a value that rounds to zero prints as 0.0000, never -0.0000. */
export const money = (x: number): string => (Math.abs(x) < 5e-5 ? 0 : x).toFixed(4);

export function planText(s: Scenario, plan: Plan): string {
  const dcs = s.datacenters.map((d) => d.name);
  const width = Math.max(5, ...dcs.map((d) => d.length));
  const head = `hour  ${dcs.map((d) => d.padStart(width)).join(' ')}   ${'DC $'.padStart(9)} ${'migr $'.padStart(9)} ${'total $'.padStart(9)} ${'no-migr $'.padStart(9)}  migrations`;
  const lines = [head];
  plan.hours.forEach((h, t) => {
    const vms = h.vms.map((row) => row.reduce((a, b) => a + b, 0));
    const moves = [...movesByRoute(h)].map(([key, count]) => { const [from, to, k] = key.split(' ').map(Number) as [number, number, number]; return `${dcs[from]}->${dcs[to]} ${count}${s.classes.length > 1 ? ` ${s.classes[k]!.name}` : ''}`; }).join(', ');
    lines.push(`${String(h.hour).padStart(4)}  ${vms.map((n) => String(n).padStart(width)).join(' ')}   ${money(h.dcDollars).padStart(9)} ${money(h.migrationDollars).padStart(9)} ${money(h.dcDollars + h.migrationDollars + h.waitingDollars).padStart(9)} ${money(plan.baseline[t]!.dcDollars + plan.baseline[t]!.waitingDollars).padStart(9)}  ${[moves, ...events(h)].filter((x) => x).join('; ')}`);
  });
  const t = totals(plan);
  lines.push(`total ${' '.repeat((width + 1) * dcs.length + 2)}${money(t.dcDollars).padStart(9)} ${money(t.migrationDollars).padStart(9)} ${money(t.dollars).padStart(9)} ${money(t.baselineDollars).padStart(9)}`);
  const pct = t.baselineDollars > 0 ? ` (${((100 * t.saving) / t.baselineDollars).toFixed(2)}%)` : '';
  lines.push(`saving against no migration: $${money(t.saving)}${pct}; ${t.migrations} migrations, ${t.migratedTerabits.toFixed(2)} Tb moved`);
  if (plan.kinds.length > 0 || t.departed > 0) lines.push(`requests: ${t.departed} VMs left at the end of their lifetime; queued requests waited ${t.waitingVmHours} VM-hours${t.waitingDollars > 0 ? ` ($${money(t.waitingDollars)}, in the total)` : ''}`);
  lines.push(proofLine(plan));
  return `${lines.join('\n')}\n`;
}

/** An hour's moves summed per route and class (groups of one class that leave at different hours are one line). */
function movesByRoute(h: Hour): Map<string, number> {
  const sums = new Map<string, number>();
  for (const m of h.moves) sums.set(`${m.from} ${m.to} ${m.vmClass}`, (sums.get(`${m.from} ${m.to} ${m.vmClass}`) ?? 0) + m.count);
  return sums;
}

/** Departures and waiting in an hour's line of text. */
function events(h: Hour): string[] {
  const waiting = h.waiting.flat().reduce((a, b) => a + b, 0);
  return [h.departed > 0 ? `${h.departed} left` : '', waiting > 0 ? `${waiting} waiting` : ''];
}

/** How far from the optimum the plan is proven: the solver's gap and bound. */
export function proofLine(plan: Plan): string {
  const p = plan.proof;
  if (p.status === 'optimal' && p.gap <= 1e-4) return `proven optimal (gap ${(100 * p.gap).toFixed(4)}%)`;
  const why = p.status === 'time-limit' ? 'the solver\'s time limit ended the search' : 'the solver stopped at the requested gap';
  return `${why}: the plan is within ${(100 * p.gap).toFixed(2)}% of the optimum${p.boundDollars > 0 ? ` (no plan costs less than $${money(p.boundDollars)} by the solver's bound)` : ''}`;
}

/** One JSON document: every hour with DC and class names, the totals and the baseline per hour. */
export function planJson(s: Scenario, plan: Plan): Record<string, unknown> {
  const dcs = s.datacenters.map((d) => d.name);
  const classes = s.classes.map((k) => k.name);
  return {
    scenario: s.name,
    totals: totals(plan),
    proof: plan.proof,
    hours: plan.hours.map((h, t) => ({
      hour: h.hour,
      vms: Object.fromEntries(dcs.map((d, i) => [d, Object.fromEntries(classes.map((k, c) => [k, h.vms[i]![c]]))])),
      servers: Object.fromEntries(dcs.map((d, i) => [d, h.servers[i]])),
      racks: Object.fromEntries(dcs.map((d, i) => [d, h.racks[i]])),
      waiting: Object.fromEntries(dcs.map((d, i) => [d, h.waiting[i]!.reduce((a, b) => a + b, 0)])),
      departed: h.departed,
      migrations: h.moves.map((m) => ({ from: dcs[m.from], to: dcs[m.to], class: classes[m.vmClass], count: m.count, bytes: m.bits / 8 })),
      dcDollars: h.dcDollars,
      migrationDollars: h.migrationDollars,
      waitingDollars: h.waitingDollars,
      baselineDollars: plan.baseline[t]!.dcDollars + plan.baseline[t]!.waitingDollars,
    })),
  };
}

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
}

export function totals(plan: Plan): Totals {
  const sum = (hours: readonly Hour[], pick: (h: Hour) => number): number => hours.reduce((s, h) => s + pick(h), 0);
  const dcDollars = sum(plan.hours, (h) => h.dcDollars);
  const migrationDollars = sum(plan.hours, (h) => h.migrationDollars);
  const baselineDollars = sum(plan.baseline, (h) => h.dcDollars);
  return {
    dcDollars, migrationDollars, dollars: dcDollars + migrationDollars, baselineDollars,
    saving: baselineDollars - dcDollars - migrationDollars,
    migrations: sum(plan.hours, (h) => h.moves.reduce((s, m) => s + m.count, 0)),
    migratedTerabits: sum(plan.hours, (h) => h.moves.reduce((s, m) => s + m.bits, 0)) / 1e12,
  };
}

const money = (x: number): string => x.toFixed(4);

export function planText(s: Scenario, plan: Plan): string {
  const dcs = s.datacenters.map((d) => d.name);
  const width = Math.max(5, ...dcs.map((d) => d.length));
  const head = `hour  ${dcs.map((d) => d.padStart(width)).join(' ')}   ${'DC $'.padStart(9)} ${'migr $'.padStart(9)} ${'total $'.padStart(9)} ${'no-migr $'.padStart(9)}  migrations`;
  const lines = [head];
  plan.hours.forEach((h, t) => {
    const vms = h.vms.map((row) => row.reduce((a, b) => a + b, 0));
    const moves = h.moves.map((m) => `${dcs[m.from]}->${dcs[m.to]} ${m.count}${s.classes.length > 1 ? ` ${s.classes[m.vmClass]!.name}` : ''}`).join(', ');
    lines.push(`${String(h.hour).padStart(4)}  ${vms.map((n) => String(n).padStart(width)).join(' ')}   ${money(h.dcDollars).padStart(9)} ${money(h.migrationDollars).padStart(9)} ${money(h.dcDollars + h.migrationDollars).padStart(9)} ${money(plan.baseline[t]!.dcDollars).padStart(9)}  ${moves}`);
  });
  const t = totals(plan);
  lines.push(`total ${' '.repeat((width + 1) * dcs.length + 2)}${money(t.dcDollars).padStart(9)} ${money(t.migrationDollars).padStart(9)} ${money(t.dollars).padStart(9)} ${money(t.baselineDollars).padStart(9)}`);
  const pct = t.baselineDollars > 0 ? ` (${((100 * t.saving) / t.baselineDollars).toFixed(2)}%)` : '';
  lines.push(`saving against no migration: $${money(t.saving)}${pct}; ${t.migrations} migrations, ${t.migratedTerabits.toFixed(2)} Tb moved`);
  return `${lines.join('\n')}\n`;
}

/** One JSON document: every hour with DC and class names, the totals and the baseline per hour. */
export function planJson(s: Scenario, plan: Plan): Record<string, unknown> {
  const dcs = s.datacenters.map((d) => d.name);
  const classes = s.classes.map((k) => k.name);
  return {
    scenario: s.name,
    totals: totals(plan),
    hours: plan.hours.map((h, t) => ({
      hour: h.hour,
      vms: Object.fromEntries(dcs.map((d, i) => [d, Object.fromEntries(classes.map((k, c) => [k, h.vms[i]![c]]))])),
      servers: Object.fromEntries(dcs.map((d, i) => [d, h.servers[i]])),
      racks: Object.fromEntries(dcs.map((d, i) => [d, h.racks[i]])),
      migrations: h.moves.map((m) => ({ from: dcs[m.from], to: dcs[m.to], class: classes[m.vmClass], count: m.count, bytes: m.bits / 8 })),
      dcDollars: h.dcDollars,
      migrationDollars: h.migrationDollars,
      baselineDollars: plan.baseline[t]!.dcDollars,
    })),
  };
}

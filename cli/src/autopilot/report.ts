/** What the autopilot tells its operator: events (NDJSON with --json), a line per period, the day's table. Pure. */
import { money, type Move, type Scenario } from '@ferry/planner';
import type { Outcome } from './daemons.js';
import type { Start } from './decide.js';
import type { FleetVm, VmState } from './fleet.js';
import type { PeriodCost } from './plan-period.js';

export interface PeriodReport extends PeriodCost {
  readonly period: number;
  /** How migrations were charged in this period's plan. */
  readonly charge: string;
  readonly planned: number;
  readonly started: number;
  readonly committed: number;
  readonly rolledBack: number;
  /** Refused, lost with their daemon, or ended in doubt. */
  readonly failed: number;
  /** What did not go as planned, and why. */
  readonly diverged: readonly string[];
  /** VMs per DC at the end of the period. */
  readonly vms: readonly number[];
  readonly moves: readonly string[];
  /** Wall-clock ms from reading the fleet to the last migration's end. */
  readonly workMs: number;
}

/** A migration the autopilot decided on, by names: the VM, its route, and the migration's id. */
export interface Route { readonly vm: string; readonly from: string; readonly to: string; readonly migrationId: string }

/** A period's start: the fleet as the daemons reported it, the plan's moves for the period, and what it starts. */
export interface PlanReport {
  readonly period: number;
  readonly charge: string;
  readonly fleet: ReadonlyArray<{ readonly vm: string; readonly dc: string; readonly state: VmState }>;
  readonly moves: ReadonlyArray<{ readonly from: string; readonly to: string; readonly vmClass: string; readonly count: number }>;
  readonly starts: readonly Route[];
}

export type AutopilotEvent =
  | ({ readonly event: 'plan' } & PlanReport)
  | ({ readonly event: 'starting'; readonly period: number } & Route)
  | ({ readonly event: 'period' } & PeriodReport)
  | ({ readonly event: 'migration'; readonly period: number; readonly vm: string; readonly from: string; readonly to: string; readonly migrationId: string } & Outcome)
  | { readonly event: 'note'; readonly period: number; readonly message: string };

/** The operator's line for an event (several for a period with divergences); '' for what only --json shows. */
export function eventText(event: AutopilotEvent, reports: readonly PeriodReport[]): string {
  switch (event.event) {
    case 'note': return `period ${event.period}: ${event.message}\n`;
    case 'plan': case 'starting': case 'migration': return '';
    case 'period': {
      const spent = reports.reduce((sum, r) => sum + r.dcDollars + r.migrationDollars, 0);
      const never = reports.reduce((sum, r) => sum + r.neverDollars, 0);
      const line = `period ${String(event.period).padStart(2)}: planned ${event.planned}, started ${event.started}, committed ${event.committed}, rolled back ${event.rolledBack}, failed ${event.failed}; $${money(spent)} so far against $${money(never)} never migrating (${(event.workMs / 1000).toFixed(1)} s)`;
      return [line, ...event.diverged.map((d) => `  diverged: ${d}`)].join('\n') + '\n';
    }
  }
}

/** The day hour by hour: VMs per DC, what each period cost against never migrating, and what moved. */
export function dayTable(dcNames: readonly string[], reports: readonly PeriodReport[]): string {
  const width = Math.max(5, ...dcNames.map((d) => d.length));
  const lines = [`hour  ${dcNames.map((d) => d.padStart(width)).join(' ')}   ${'DC $'.padStart(9)} ${'migr $'.padStart(9)} ${'no-migr $'.padStart(9)}  migrations`];
  for (const r of reports) {
    lines.push(`${String(r.period).padStart(4)}  ${r.vms.map((n) => String(n).padStart(width)).join(' ')}   ${money(r.dcDollars).padStart(9)} ${money(r.migrationDollars).padStart(9)} ${money(r.neverDollars).padStart(9)}  ${r.moves.join(', ')}`);
  }
  const sum = (pick: (r: PeriodReport) => number): number => reports.reduce((s, r) => s + pick(r), 0);
  const spent = sum((r) => r.dcDollars + r.migrationDollars);
  const never = sum((r) => r.neverDollars);
  lines.push(`bill: $${money(spent)} (DC $${money(sum((r) => r.dcDollars))} + migrations $${money(sum((r) => r.migrationDollars))}) against $${money(never)} never migrating: saved $${money(never - spent)}${never > 0 ? ` (${((100 * (never - spent)) / never).toFixed(2)}%)` : ''}; ${sum((r) => r.committed)} migrations committed, ${sum((r) => r.rolledBack)} rolled back, ${sum((r) => r.failed)} failed`);
  return `${lines.join('\n')}\n`;
}

/** The names of a start, for events. */
export function routeOf(s: Scenario, start: Start): Route {
  return { vm: start.vm, from: s.datacenters[start.from]!.name, to: s.datacenters[start.to]!.name, migrationId: start.id };
}

export function planReport(s: Scenario, period: number, charge: string, vms: readonly FleetVm[], moves: readonly Move[], starts: readonly Start[]): PlanReport {
  const dc = (i: number): string => s.datacenters[i]!.name;
  return {
    period, charge,
    fleet: vms.map((vm) => ({ vm: vm.name, dc: dc(vm.dc), state: vm.state })),
    moves: moves.map((m) => ({ from: dc(m.from), to: dc(m.to), vmClass: s.classes[m.vmClass]!.name, count: m.count })),
    starts: starts.map((start) => routeOf(s, start)),
  };
}

/**
 * What the autopilot's GET /status and GET /metrics show: folds of the events it emits (the same ones
 * `--json` prints), so the endpoint can never say something the log does not. Pure: the clock is passed in.
 */
import type { AutopilotMetrics, AutopilotResult } from '@ferry/serve';
import type { AutopilotEvent, PeriodReport, PlanReport, Route } from './report.js';

export interface StatusInfo {
  readonly dcNames: readonly string[];
  /** Periods in the day. */
  readonly hours: number;
  readonly periodMs: number;
  readonly dryRun: boolean;
}

interface InFlight extends Route { readonly period: number; readonly startedAt: string }

/** Migrations counted as they begin and end; money as each period reports it. */
interface Totals { started: number; committed: number; rolledBack: number; failed: number; dcDollars: number; migrationDollars: number; neverDollars: number }

export class AutopilotStatus {
  readonly #info: StatusInfo;
  readonly #now: () => Date;
  #plan: PlanReport | undefined;
  #last: PeriodReport | undefined;
  readonly #inFlight = new Map<string, InFlight>();
  readonly #totals: Totals = { started: 0, committed: 0, rolledBack: 0, failed: 0, dcDollars: 0, migrationDollars: 0, neverDollars: 0 };
  #periodsRun = 0;

  constructor(info: StatusInfo, now: () => Date) {
    this.#info = info;
    this.#now = now;
  }

  get running(): number {
    return this.#inFlight.size;
  }

  on(event: AutopilotEvent): void {
    switch (event.event) {
      case 'plan': {
        const { event: _, ...plan } = event;
        this.#plan = plan;
        break;
      }
      case 'starting': {
        const { event: _, ...route } = event;
        this.#inFlight.set(event.migrationId, { ...route, startedAt: this.#now().toISOString() });
        this.#totals.started += 1;
        break;
      }
      case 'migration': {
        this.#inFlight.delete(event.migrationId);
        const t = this.#totals;
        if (event.result === 'committed') t.committed += 1;
        else if (event.result === 'rolled-back') t.rolledBack += 1;
        else t.failed += 1;
        break;
      }
      case 'period':
        this.#periodAdded(event);
        break;
      case 'note':
        break;
    }
  }

  #periodAdded(report: PeriodReport): void {
    this.#last = report;
    this.#periodsRun += 1;
    const t = this.#totals;
    t.dcDollars += report.dcDollars;
    t.migrationDollars += report.migrationDollars;
    t.neverDollars += report.neverDollars;
  }

  /** The GET /status body. */
  snapshot(): Record<string, unknown> {
    const t = this.#totals;
    const spent = t.dcDollars + t.migrationDollars;
    const plan = this.#plan;
    return {
      role: 'autopilot',
      dryRun: this.#info.dryRun,
      hours: this.#info.hours,
      periodSeconds: this.#info.periodMs / 1000,
      period: plan?.period ?? null,
      phase: plan === undefined ? 'starting' : this.#last?.period === plan.period ? 'waiting' : 'running',
      periodsRun: this.#periodsRun,
      fleet: plan === undefined ? null : { readInPeriod: plan.period, vms: plan.fleet, perDc: perDc(this.#info.dcNames, plan) },
      plan: plan === undefined ? null : { period: plan.period, charge: plan.charge, moves: plan.moves, starts: plan.starts },
      inFlight: [...this.#inFlight.values()],
      migrations: { started: t.started, committed: t.committed, rolledBack: t.rolledBack, failed: t.failed },
      cost: { dcDollars: t.dcDollars, migrationDollars: t.migrationDollars, spentDollars: spent, neverMigratingDollars: t.neverDollars, savedDollars: t.neverDollars - spent },
      lastPeriod: this.#last === undefined ? null : lastPeriod(this.#last),
    };
  }
}

function perDc(dcNames: readonly string[], plan: PlanReport): Record<string, number> {
  const counts = Object.fromEntries(dcNames.map((dc) => [dc, 0]));
  for (const vm of plan.fleet) counts[vm.dc] = (counts[vm.dc] ?? 0) + 1;
  return counts;
}

function lastPeriod(r: PeriodReport): Record<string, unknown> {
  return { period: r.period, planned: r.planned, started: r.started, committed: r.committed, rolledBack: r.rolledBack, failed: r.failed, diverged: r.diverged, moves: r.moves };
}

/** Counts an event in the autopilot's Prometheus metrics. */
export function meter(metrics: AutopilotMetrics, dcNames: readonly string[], event: AutopilotEvent): void {
  switch (event.event) {
    case 'plan':
      metrics.fleet(perDc(dcNames, event));
      break;
    case 'starting':
      metrics.started(event.from, event.to);
      break;
    case 'migration':
      metrics.ended(event.from, event.to, event.result satisfies AutopilotResult);
      break;
    case 'period':
      metrics.periodEnded(event);
      break;
    case 'note':
      break;
  }
}

import type { Counter, Gauge, Registry } from 'prom-client';
import { metricsRegistry, prom, renderMetrics, type MetricsSource } from './metrics.js';

/** How a migration the autopilot started ended, as it could tell (see the autopilot's Outcome). */
export type AutopilotResult = 'committed' | 'rolled-back' | 'unknown' | 'failed-to-start' | 'lost';

/** What one period cost, at the prices known in it. */
export interface PeriodDollars {
  readonly dcDollars: number;
  readonly migrationDollars: number;
  /** The same hour had no VM ever moved. */
  readonly neverDollars: number;
}

/**
 * The Prometheus metrics of `ferry autopilot` (every series has role="autopilot"). Migrations are counted
 * by route (`from` and `to` are data centre names from the operator's scenario, so the label values are
 * few and known); the money is counted as the period reports add it, so a scrape sees the bill so far.
 */
export class AutopilotMetrics implements MetricsSource {
  readonly registry: Registry = metricsRegistry('autopilot');
  readonly #periods: Counter;
  readonly #started: Counter<'from' | 'to'>;
  readonly #ended: Counter<'from' | 'to' | 'result'>;
  readonly #cost: Counter<'kind'>;
  readonly #never: Counter;
  readonly #saved: Gauge;
  readonly #vms: Gauge<'dc'>;
  #spent = 0;
  #neverSoFar = 0;

  /** `running()` is read at scrape time: the migrations started and not yet ended. */
  constructor(running: () => number) {
    const registers = [this.registry];
    const { Counter, Gauge } = prom();
    this.#periods = new Counter({ name: 'ferry_autopilot_periods_total', help: 'Planning periods run to their end.', registers });
    this.#started = new Counter({ name: 'ferry_autopilot_migrations_started_total', help: 'Migrations started through a source daemon, by route.', labelNames: ['from', 'to'], registers });
    this.#ended = new Counter({ name: 'ferry_autopilot_migrations_ended_total', help: 'Migrations that ended, by route and result (committed, rolled-back, failed-to-start, lost, unknown).', labelNames: ['from', 'to', 'result'], registers });
    this.#cost = new Counter({ name: 'ferry_autopilot_cost_dollars_total', help: 'What the fleet cost so far: DC energy (kind="dc") and migration energy (kind="migration").', labelNames: ['kind'], registers });
    this.#never = new Counter({ name: 'ferry_autopilot_never_migrating_dollars_total', help: 'What the same periods would have cost had no VM ever moved.', registers });
    this.#saved = new Gauge({ name: 'ferry_autopilot_saved_dollars', help: 'Never migrating minus the cost so far (negative: migrating cost more so far).', registers });
    this.#vms = new Gauge({ name: 'ferry_autopilot_vms', help: 'VMs per data centre, as the source daemons last reported the fleet.', labelNames: ['dc'], registers });
    new Gauge({ name: 'ferry_autopilot_migrations_running', help: 'Migrations started and not yet ended.', registers, collect() { this.set(running()); } });
  }

  started(from: string, to: string): void {
    this.#started.inc({ from, to });
  }

  ended(from: string, to: string, result: AutopilotResult): void {
    this.#ended.inc({ from, to, result });
  }

  /** The fleet as read at the start of a period: VMs per data centre. */
  fleet(vmsPerDc: Readonly<Record<string, number>>): void {
    for (const [dc, count] of Object.entries(vmsPerDc)) this.#vms.set({ dc }, count);
  }

  periodEnded(cost: PeriodDollars): void {
    this.#periods.inc();
    this.#cost.inc({ kind: 'dc' }, cost.dcDollars);
    this.#cost.inc({ kind: 'migration' }, cost.migrationDollars);
    this.#never.inc(cost.neverDollars);
    this.#spent += cost.dcDollars + cost.migrationDollars;
    this.#neverSoFar += cost.neverDollars;
    this.#saved.set(this.#neverSoFar - this.#spent);
  }

  render(): Promise<{ readonly contentType: string; readonly body: string }> {
    return renderMetrics(this.registry);
  }
}

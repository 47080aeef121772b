/**
 * The period loop: read the fleet from the source daemons, re-plan from now to the horizon, start the
 * period's migrations within each link's limits, follow them to their end, record what they measured,
 * then wait for the next period. Every decision is made by the pure modules beside this one.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { calibrate, type ChargeModel, type Scenario } from '@ferry/planner';
import { withPrices, type AutopilotScenario } from './config.js';
import { SourceClient, type Outcome } from './daemons.js';
import { decide, type Start } from './decide.js';
import { runStarts, type Finished } from './execute.js';
import { countsOf, fleetOf, type FleetVm, type ObservedMigration } from './fleet.js';
import { periodCost } from './plan-period.js';
import type { PlanPeriod } from './planner-thread.js';
import { planReport, routeOf, type AutopilotEvent, type PeriodReport } from './report.js';

export interface LoopOptions {
  readonly ap: AutopilotScenario;
  readonly token: string;
  readonly periodMs: number;
  /** Makes a period's plan (off the main thread, so /status answers while HiGHS searches). */
  readonly plan: PlanPeriod;
  readonly pricesFile?: string | undefined;
  readonly calibrationFile?: string | undefined;
  readonly dryRun: boolean;
  readonly maxPerLink: number;
  readonly emit: (event: AutopilotEvent) => void;
  readonly signal?: AbortSignal | undefined;
}

/** Runs every period of the scenario's day (or until `signal` aborts between periods); returns the reports. */
export async function runAutopilot(o: LoopOptions): Promise<PeriodReport[]> {
  const s0 = o.ap.scenario;
  const clients = s0.datacenters.map((dc) => new SourceClient(dc.sourceUrl!, o.token));
  const lastSeen: ObservedMigration[][] = s0.datacenters.map(() => []);
  const initial = countsOf(s0, fleetOf(s0, lastSeen).vms);
  const reports: PeriodReport[] = [];
  let scenario = s0;
  const began = performance.now();
  for (let period = 0; period < s0.hours && !o.signal?.aborted; period++) {
    const periodBegan = performance.now();
    scenario = currentPrices(o, scenario, period);
    const unreachable = o.dryRun ? new Set<number>() : await observe(clients, lastSeen, period, o.emit);
    const report = { ...await runPeriod(o, scenario, period, { clients, lastSeen, unreachable, initial }), workMs: Math.round(performance.now() - periodBegan) };
    reports.push(report);
    o.emit({ event: 'period', ...report });
    if (o.dryRun) continue;
    const next = began + (period + 1) * o.periodMs;
    const late = performance.now() - next;
    if (o.periodMs > 0 && late > 0 && period + 1 < s0.hours) o.emit({ event: 'note', period, message: `the day runs ${(late / 1000).toFixed(1)} s behind its schedule of ${o.periodMs} ms periods: the next period starts at once` });
    await sleep(Math.max(0, next - performance.now()), undefined, o.signal ? { signal: o.signal } : {}).catch(() => undefined);
  }
  return reports;
}

interface Fleetwide {
  readonly clients: readonly SourceClient[];
  readonly lastSeen: ObservedMigration[][];
  readonly unreachable: ReadonlySet<number>;
  readonly initial: ReadonlyArray<readonly number[]>;
}

async function runPeriod(o: LoopOptions, s: Scenario, period: number, f: Fleetwide): Promise<Omit<PeriodReport, 'workMs'>> {
  const { vms, oddities } = fleetOf(s, f.lastSeen);
  for (const message of oddities) o.emit({ event: 'note', period, message });
  const counts = countsOf(s, vms);
  const charge = chargeOf(o.calibrationFile, (message) => o.emit({ event: 'note', period, message }));
  const chargeText = charge.kind === 'memory' ? 'memory size' : `calibrated ${charge.compression.toFixed(3)}`;
  const plan = await o.plan(s, counts, period, charge);
  const linkBits = s.links.map((l) => l.gbps * 1e9 * 3600);
  const decision = decide({ period, moves: plan.moves, vms, dcNames: s.datacenters.map((d) => d.name), unreachable: f.unreachable, routes: plan.network.routes, linkBits });
  o.emit({ event: 'plan', ...planReport(s, period, chargeText, vms, plan.moves, decision.starts) });
  const finished = await migrate(o, s, period, vms, decision.starts, f);
  const committed = finished.filter((x) => x.outcome.result === 'committed').map((x) => x.start);
  const cost = periodCost(s, plan.network, period, counts, committed, f.initial);
  const after = countsOf(s, fleetOf(s, f.lastSeen).vms.map((vm) => ({ ...vm, dc: committed.find((c) => c.vm === vm.name)?.to ?? vm.dc })));
  return {
    period, charge: chargeText,
    planned: plan.moves.reduce((n, m) => n + m.count, 0), started: finished.filter((x) => x.outcome.result !== 'failed-to-start').length,
    committed: committed.length, rolledBack: count(finished, 'rolled-back'), failed: count(finished, 'failed-to-start') + count(finished, 'lost') + count(finished, 'unknown'),
    diverged: [...decision.skipped, ...finished.filter((x) => x.outcome.result !== 'committed').map(({ start, outcome }) => divergence(s, start.vm, start.from, start.to, outcome))],
    vms: after.map((row) => row.reduce((a, b) => a + b, 0)),
    moves: committed.map((c) => `${c.vm} ${s.datacenters[c.from]!.name}->${s.datacenters[c.to]!.name}`),
    ...cost,
  };
}

/**
 * The period's migrations, each reported as it begins and as it ends (and its summary appended to the
 * calibration file then); a dry run has each commit at once, without calling a daemon.
 */
async function migrate(o: LoopOptions, s: Scenario, period: number, vms: readonly FleetVm[], starts: readonly Start[], f: Fleetwide): Promise<Finished[]> {
  const starting = (start: Start): void => o.emit({ event: 'starting', period, ...routeOf(s, start) });
  const ended = ({ start, outcome }: Finished): void => {
    o.emit({ event: 'migration', period, ...routeOf(s, start), ...outcome });
    if (o.dryRun && outcome.result === 'committed') f.lastSeen[start.from]!.push({ migrationId: start.id, result: 'committed' });
    if (outcome.summary && o.calibrationFile && !o.dryRun) calibrateWith(o, period, outcome.summary);
  };
  if (!o.dryRun) return runStarts(o.ap, vms, starts, f.clients, o.maxPerLink, { starting, ended });
  return starts.map((start) => {
    const done: Finished = { start, outcome: { result: 'committed' } };
    starting(start);
    ended(done);
    return done;
  });
}

function count(finished: readonly Finished[], result: Outcome['result']): number {
  return finished.filter((x) => x.outcome.result === result).length;
}

function divergence(s: Scenario, vm: string, from: number, to: number, outcome: Outcome): string {
  const route = `${vm} ${s.datacenters[from]!.name}->${s.datacenters[to]!.name}`;
  const why = outcome.error ? `: ${outcome.error}` : '';
  switch (outcome.result) {
    case 'rolled-back': return `${route} rolled back${why}; it runs at ${s.datacenters[from]!.name} and is planned again next period`;
    case 'failed-to-start': return `${route} did not start${why}; it stays at ${s.datacenters[from]!.name}`;
    case 'unknown': return `${route} ended after GO without RESUMED${why}: it is left alone until an operator runs ferry recover on ${s.datacenters[from]!.name}`;
    case 'lost': return `${route}: the source daemon went away${why}; the VM is left where it was last known until the daemon answers again`;
    case 'committed': return `${route} committed`;
  }
}

/** Each daemon's migrations; one that does not answer keeps what it said last, and nothing leaves its DC this period. */
async function observe(clients: readonly SourceClient[], lastSeen: ObservedMigration[][], period: number, emit: LoopOptions['emit']): Promise<Set<number>> {
  const unreachable = new Set<number>();
  await Promise.all(clients.map(async (client, d) => {
    try {
      lastSeen[d] = await client.status();
    } catch (error) {
      unreachable.add(d);
      emit({ event: 'note', period, message: `${error instanceof Error ? error.message : String(error)}; planning with what it reported last, nothing leaves it this period` });
    }
  }));
  return unreachable;
}

/** Prices from --prices FILE, read each period; a file that is missing or bad keeps the last good prices, and says so. */
function currentPrices(o: LoopOptions, s: Scenario, period: number): Scenario {
  if (!o.pricesFile) return s;
  try {
    return withPrices(s, readFileSync(o.pricesFile, 'utf8'));
  } catch (error) {
    o.emit({ event: 'note', period, message: `--prices ${o.pricesFile}: ${error instanceof Error ? error.message : String(error)}; keeping the last good prices` });
    return s;
  }
}

/** Appends a migration's summary; a file that cannot be written is said, and the migrations go on. */
function calibrateWith(o: LoopOptions, period: number, summary: Record<string, unknown>): void {
  try {
    appendFileSync(o.calibrationFile!, `${JSON.stringify(summary)}\n`);
  } catch (error) {
    o.emit({ event: 'note', period, message: `--calibrate ${o.calibrationFile}: ${error instanceof Error ? error.message : String(error)}; ${String(summary['migrationId'])}'s summary is not recorded` });
  }
}

/** What the calibration file says ferry sends; the memory-size charge until it holds a committed run, or when it is unreadable (said). */
function chargeOf(file: string | undefined, note: (message: string) => void): ChargeModel {
  if (!file || !existsSync(file)) return { kind: 'memory' };
  const text = readFileSync(file, 'utf8');
  if (!text.includes('"committed"')) return { kind: 'memory' };
  try {
    return { kind: 'precopy', compression: calibrate(text).compression };
  } catch (error) {
    note(`--calibrate ${file}: ${error instanceof Error ? error.message : String(error)}; charging the memory size`);
    return { kind: 'memory' };
  }
}

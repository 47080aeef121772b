import { mkdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import {
  calibrate, migrationRequests, offlinePlan, parseScenario, planJson, planText, rollingPlan, totals, violations, initialPlacement, windowOf,
  money, PlannerError, proofLine, type ChargeModel, type Scenario, type Solver,
} from '@ferry/planner';
import { HELP_FLAG, parseFlags } from '../flags.js';
import { DEFAULT_LIMITS, highsSolver, type SolverLimits } from '../highs-solver.js';
import { writeCharts, type ScenarioResult } from '../plan-charts.js';
import { UsageError } from '../usage.js';

const HELP = `ferry plan --scenario FILE [--scenario FILE ...] [--hours N] [--json] [--plots DIR]
           [--calibrate FILE.ndjson] [--rolling] [--emit migrations] [--time-limit S] [--gap FRACTION]

Plans whether, when and where to live-migrate VMs between data centres so that the electricity bill
over the horizon is lowest (a MILP solved with HiGHS): DC energy (racks and servers switched on) at each
DC's hourly price, plus the energy of the core routers a migration crosses at their prices.

  --scenario FILE     the scenario (JSON, see examples/plans/); several: one summary line each
  --hours N           plan the first N hours only
  --json              the plan as one JSON document
  --plots DIR         SVG charts: cost vs number of VMs (with several scenarios), the hour-by-hour run
  --calibrate FILE    charge what ferry sends (pre-copy re-sends, compression) as measured by
                      'ferry migrate --json' runs in FILE, instead of the memory size; prints both plans
  --rolling           re-plan every hour with the requests and prices the timeline has revealed so far
  --emit migrations   one JSON line per migration: POST its body to the source's /migrations
  --time-limit S      seconds the solver may search per solve (default ${DEFAULT_LIMITS.timeLimitSeconds}); when it runs out,
                      the best plan found is printed with how far from optimal it is proven to be
  --gap FRACTION      stop once the plan is proven within this relative gap of the optimum
                      (default ${DEFAULT_LIMITS.relativeGap}, i.e. 0.01%; 0.01 means 1%)
`;

export const PLAN_FLAGS = {
  scenario: { type: 'string', multiple: true }, hours: { type: 'string' }, json: { type: 'boolean' }, plots: { type: 'string' },
  calibrate: { type: 'string' }, rolling: { type: 'boolean' }, emit: { type: 'string' },
  'time-limit': { type: 'string' }, gap: { type: 'string' }, ...HELP_FLAG,
} as const;

export async function planCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, PLAN_FLAGS);
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (!values.scenario?.length) throw new UsageError('--scenario FILE is required');
  if (values.emit !== undefined && values.emit !== 'migrations') throw new UsageError(`--emit ${values.emit}: only --emit migrations exists`);
  const hours = values.hours === undefined ? undefined : wholeHours(values.hours);
  const charge: ChargeModel = values.calibrate ? { kind: 'precopy', compression: readCalibration(values.calibrate) } : { kind: 'memory' };
  const solve = await highsSolver(solverLimits(values['time-limit'], values.gap));
  const results = values.scenario.map((file) => asUsage(() => planScenario(loadScenario(file, hours), charge, solve, values.rolling === true)));
  if (values.plots) {
    mkdirSync(values.plots, { recursive: true });
    for (const file of await writeCharts(values.plots, results)) process.stderr.write(`wrote ${file}\n`);
  }
  const last = results.at(-1)!;
  if (values.emit) {
    for (const request of asUsage(() => migrationRequests(last.scenario, last.plan.hours))) process.stdout.write(`${JSON.stringify(request)}\n`);
  } else if (values.json) {
    process.stdout.write(`${JSON.stringify(results.length === 1 ? { ...planJson(last.scenario, last.plan), solveMs: last.solveMs, cpuMs: last.cpuMs, charge } : results.map((r) => ({ scenario: r.scenario.name, vms: r.vms, solveMs: r.solveMs, cpuMs: r.cpuMs, totals: r.totals, proof: r.plan.proof })))}\n`);
  } else {
    process.stdout.write(results.length === 1 ? planText(last.scenario, last.plan) : summaryTable(results));
    if (results.length > 1) for (const r of results) process.stdout.write(`${r.scenario.name}: ${proofLine(r.plan)}\n`);
    for (const r of results) process.stdout.write(`${r.scenario.name}: solved in ${r.solveMs.toFixed(0)} ms (${r.cpuMs.toFixed(0)} ms CPU; ${values.rolling ? 'rolling, one solve per hour' : 'one MILP'}; charge: ${charge.kind === 'memory' ? 'memory size' : `ferry pre-copy model, compression ${charge.compression.toFixed(3)}`})\n`);
    if (values.calibrate) process.stdout.write(compareWithMemoryCharge(results, solve, values.rolling === true));
  }
  return 0;
}

/** solveMs is wall-clock time; cpuMs the CPU time this process spent (the machine may be shared). */
interface Result extends ScenarioResult { readonly solveMs: number; readonly cpuMs: number }

function planScenario(scenario: Scenario, charge: ChargeModel, solve: Solver, rolling: boolean): Result {
  const started = performance.now();
  const cpu = process.cpuUsage();
  const plan = (rolling ? rollingPlan : offlinePlan)(scenario, charge, solve);
  const solveMs = performance.now() - started;
  const { user, system } = process.cpuUsage(cpu);
  const cpuMs = (user + system) / 1000;
  const broken = violations(windowOf(scenario, plan.network, 0, initialPlacement(scenario), Infinity), plan.hours);
  if (broken.length > 0) throw new Error(`the solver's plan breaks its constraints (a bug):\n  ${broken.join('\n  ')}`);
  const vms = plan.hours.at(-1)?.vms.flat().reduce((a, b) => a + b, 0) ?? 0;
  return { scenario, plan, totals: totals(plan), vms, solveMs, cpuMs };
}

function summaryTable(results: readonly Result[]): string {
  const lines = ['scenario              VMs   plan $   no-migr $   saving $  saving %  migrations'];
  for (const r of results) {
    const t = r.totals;
    lines.push(`${r.scenario.name.padEnd(20)} ${String(r.vms).padStart(4)} ${money(t.dollars).padStart(8)} ${money(t.baselineDollars).padStart(11)} ${money(t.saving).padStart(10)} ${((100 * t.saving) / t.baselineDollars).toFixed(2).padStart(9)} ${String(t.migrations).padStart(11)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** With --calibrate: the same scenarios planned under the paper's memory-size charge, side by side. */
function compareWithMemoryCharge(results: readonly Result[], solve: Solver, rolling: boolean): string {
  const lines = ['against the memory-size charge (the paper):'];
  for (const r of results) {
    const paper = planScenario(r.scenario, { kind: 'memory' }, solve, rolling).totals;
    lines.push(`  ${r.scenario.name}: ${paper.migrations} migrations, ${paper.migratedTerabits.toFixed(2)} Tb, $${paper.dollars.toFixed(4)} planned with memory size; ${r.totals.migrations} migrations, ${r.totals.migratedTerabits.toFixed(2)} Tb, $${r.totals.dollars.toFixed(4)} with ferry's model`);
  }
  return `${lines.join('\n')}\n`;
}

function loadScenario(file: string, hours: number | undefined): Scenario {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read scenario ${file}: ${error instanceof Error ? error.message : String(error)}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`scenario ${file} is not JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  return asUsage(() => parseScenario(raw, hours), file);
}

function readCalibration(file: string): number {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read --calibrate ${file}: ${error instanceof Error ? error.message : String(error)}`);
  }
  try {
    return calibrate(text).compression;
  } catch (error) {
    throw new UsageError(`--calibrate ${file}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** A scenario that does not validate or cannot be planned is bad input: exit 2 with its message. */
function asUsage<T>(run: () => T, file?: string): T {
  try {
    return run();
  } catch (error) {
    if (error instanceof PlannerError) {
      throw new UsageError(file ? `${file}: ${error.message}` : error.message);
    }
    throw error;
  }
}

/** A number for --hours; its range is checked with the scenario's own horizon (1..MAX_HOURS). */
function wholeHours(text: string): number {
  if (!/^\d+$/.test(text)) throw new UsageError(`--hours ${text}: expected a whole number of hours`);
  return Number(text);
}

function solverLimits(timeLimit: string | undefined, gap: string | undefined): SolverLimits {
  const seconds = timeLimit === undefined ? DEFAULT_LIMITS.timeLimitSeconds : Number(timeLimit);
  if (!(seconds > 0 && seconds <= 86_400)) throw new UsageError(`--time-limit ${timeLimit}: expected seconds in (0, 86400]`);
  const relativeGap = gap === undefined ? DEFAULT_LIMITS.relativeGap : Number(gap);
  if (!(relativeGap >= 0 && relativeGap < 1)) throw new UsageError(`--gap ${gap}: expected a fraction in [0, 1), e.g. 0.01 for 1%`);
  return { timeLimitSeconds: seconds, relativeGap };
}

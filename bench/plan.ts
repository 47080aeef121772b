/**
 * `npm run bench:plan`: how far the planner scales. Plans a 24-hour day of 300 VMs with 10, 20 and 30
 * DCs on a 30-node, 4-zone backbone (bench/plan-topology.ts) with a 60 s time limit and a 1% gap, and
 * the paper's 300-VM day at HiGHS's default gap (0.01%). Prints, per row, the wall-clock and CPU time,
 * how the solve ended, the proven gap, and the plan's saving against never migrating. Goal: every
 * bench row proven within 1% in 60 s, and the paper's day proven optimal. Timings are one run on
 * whatever machine runs it; read them with its load.
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { offlinePlan, parseScenario, totals, type Scenario } from '@ferry/planner';
import { highsSolver, type SolverLimits } from '../cli/src/highs-solver.js';
import { benchScenario } from './plan-topology.js';

const VMS = 300;
const memory = { kind: 'memory' } as const;

async function row(label: string, scenario: Scenario, limits: SolverLimits): Promise<string> {
  const solve = await highsSolver(limits);
  const started = performance.now();
  const cpu = process.cpuUsage();
  const plan = offlinePlan(scenario, memory, solve);
  const wallS = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  const t = totals(plan);
  const ok = plan.proof.gap <= Math.max(limits.relativeGap, 1e-4) + 1e-9 && wallS <= limits.timeLimitSeconds + 10;
  return [label.padEnd(24), wallS.toFixed(1).padStart(7), ((used.user + used.system) / 1e6).toFixed(1).padStart(7), plan.proof.status.padStart(11),
    `${(100 * plan.proof.gap).toFixed(3)}%`.padStart(8), t.saving.toFixed(4).padStart(9), `${((100 * t.saving) / t.baselineDollars).toFixed(2)}%`.padStart(8), String(t.migrations).padStart(6), ok ? 'yes' : 'NO'].join('  ');
}

const paper = parseScenario(JSON.parse(readFileSync(new URL('../examples/plans/paper-300.json', import.meta.url), 'utf8')));
process.stdout.write(`load average at start: ${loadavg().map((l) => l.toFixed(1)).join(' ')}\n`);
process.stdout.write(`${['instance'.padEnd(24), 'wall s'.padStart(7), 'CPU s'.padStart(7), 'status'.padStart(11), 'gap'.padStart(8), 'saving $'.padStart(9), 'saving'.padStart(8), 'migr'.padStart(6), 'goal'].join('  ')}\n`);
for (const dcs of [10, 20, 30]) {
  process.stdout.write(`${await row(`${dcs} DCs, 30 nodes, ${VMS} VMs`, parseScenario(benchScenario(dcs, VMS)), { timeLimitSeconds: 60, relativeGap: 0.01 })}\n`);
}
process.stdout.write(`${await row('paper-300 (gap 0.01%)', paper, { timeLimitSeconds: 120, relativeGap: 1e-4 })}\n`);
process.stdout.write(`load average at end: ${loadavg().map((l) => l.toFixed(1)).join(' ')}\n`);

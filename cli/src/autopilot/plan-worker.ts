/**
 * The autopilot's planning thread: HiGHS solves synchronously for up to --time-limit, so the period's
 * plan is made here, and the main thread keeps answering /status, /metrics and signals meanwhile.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { ChargeModel, Scenario } from '@ferry/planner';
import { highsSolver, type SolverLimits } from '../highs-solver.js';
import { planPeriod } from './plan-period.js';

export interface PlanRequest {
  readonly scenario: Scenario;
  readonly counts: ReadonlyArray<readonly number[]>;
  readonly period: number;
  readonly charge: ChargeModel;
}

const port = parentPort;
if (!port) throw new Error('plan-worker.js runs as a worker thread of ferry autopilot');
const solve = await highsSolver(workerData as SolverLimits);
port.on('message', (r: PlanRequest) => {
  try {
    port.postMessage({ plan: planPeriod(r.scenario, r.counts, r.period, r.charge, solve) });
  } catch (error) {
    port.postMessage({ error: error instanceof Error ? error.message : String(error) });
  }
});

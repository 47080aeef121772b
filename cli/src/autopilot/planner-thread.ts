/** One period's plan, made on the planning thread (plan-worker.ts), one request at a time. */
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import type { ChargeModel, Scenario } from '@ferry/planner';
import type { SolverLimits } from '../highs-solver.js';
import type { PeriodPlan } from './plan-period.js';
import type { PlanRequest } from './plan-worker.js';

export type PlanPeriod = (scenario: Scenario, counts: ReadonlyArray<readonly number[]>, period: number, charge: ChargeModel) => Promise<PeriodPlan>;

export interface PlannerThread {
  readonly plan: PlanPeriod;
  close(): Promise<void>;
}

export function startPlannerThread(limits: SolverLimits): PlannerThread {
  const worker = new Worker(new URL('./plan-worker.js', import.meta.url), { workerData: limits });
  // The period loop awaits each plan before asking for the next, so one answer is outstanding at most;
  // the listeners of each request go with it (a day of periods would pile them up on the worker).
  const plan: PlanPeriod = async (scenario, counts, period, charge) => {
    const request: PlanRequest = { scenario, counts, period, charge };
    worker.postMessage(request);
    const settled = new AbortController();
    const { signal } = settled;
    try {
      const [reply] = await Promise.race([
        once(worker, 'message', { signal }),
        once(worker, 'error', { signal }).then(([error]) => { throw error; }),
        once(worker, 'exit', { signal }).then(([code]) => { throw new Error(`the planning thread exited (code ${code})`); }),
      ]) as [{ plan?: PeriodPlan; error?: string }];
      if (reply.error !== undefined || !reply.plan) throw new Error(reply.error ?? 'no plan came back');
      return reply.plan;
    } catch (error) {
      throw new Error(`planning period ${period} failed: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      settled.abort();
    }
  };
  return { plan, close: async () => void await worker.terminate() };
}

import { performance } from 'node:perf_hooks';
import type { Columns, Solver, SolverResult } from '@ferry/planner';

type HighsLoader = (typeof import('highs'))['default'];
type Highs = Awaited<ReturnType<HighsLoader>>;
type Model = ReturnType<Highs['createModel']>;

export interface SolverLimits {
  /** Seconds HiGHS may search; it then returns the best plan found, with its proven gap. */
  readonly timeLimitSeconds: number;
  /** Relative gap at which HiGHS stops and calls the plan optimal (HiGHS's default is 1e-4). */
  readonly relativeGap: number;
}

export const DEFAULT_LIMITS: SolverLimits = { timeLimitSeconds: 120, relativeGap: 1e-4 };

/**
 * The planner's Solver on HiGHS (WebAssembly), through its persistent model API: unlike the one-shot
 * `solve()`, it takes a start (the no-migration plan, so a time limit always leaves a plan) and reports
 * the dual bound, so a plan stopped by the time limit says how far from optimal it may be.
 */
export async function highsSolver(limits: SolverLimits = DEFAULT_LIMITS): Promise<Solver> {
  // highs types its package as CommonJS, so under NodeNext the dynamic import's default is typed as the module.
  const loadHighs = (await import('highs')).default as unknown as HighsLoader;
  const highs = await loadHighs();
  return (lp, start) => {
    const began = performance.now();
    const model = highs.createModel({ format: 'lp', data: lp });
    try {
      if (start) setStart(model, start);
      // The limit covers reading the model and the start too, so a solve ends within it (HiGHS counts only its run).
      const left = Math.max(1, limits.timeLimitSeconds - (performance.now() - began) / 1000);
      model.options.set({ output_flag: false, time_limit: left, mip_rel_gap: limits.relativeGap });
      model.run();
      return resultOf(highs, model);
    } finally {
      model.dispose();
    }
  };
}

function setStart(model: Model, start: Columns): void {
  const indices: number[] = [];
  const values: number[] = [];
  for (const [name, value] of Object.entries(start)) {
    indices.push(model.getColByName(name));
    values.push(value);
  }
  const order = indices.map((_, i) => i).sort((a, b) => indices[a]! - indices[b]!);
  model.setSolution({ indices: order.map((i) => indices[i]!), values: order.map((i) => values[i]!) });
}

function resultOf(highs: Highs, model: Model): SolverResult {
  const codes = highs.constants.modelStatus;
  const code = model.getModelStatus();
  const status = code === codes.optimal ? 'optimal' : code === codes.timeLimit ? 'time-limit'
    : code === codes.infeasible || code === codes.unboundedOrInfeasible ? 'infeasible' : `HiGHS model status ${code}`;
  const feasible = Number(model.info.get('primal_solution_status')) === highs.constants.solutionStatus.feasible;
  if (!feasible) return { status, columns: {} };
  const values = model.getSolution().colValue;
  const columns: Record<string, number> = {};
  for (let i = 0; i < values.length; i++) columns[model.getColName(i)] = values[i]!;
  const objective = model.getObjectiveValue();
  const bound = code === codes.optimal && !Number.isFinite(Number(model.info.get('mip_dual_bound'))) ? objective : Number(model.info.get('mip_dual_bound'));
  const gap = Math.max(0, objective - bound) / Math.max(Math.abs(objective), 1e-9);
  return { status, columns, objective, bound, gap };
}

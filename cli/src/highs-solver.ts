import type { Solver } from '@ferry/planner';

type HighsLoader = (typeof import('highs'))['default'];

/**
 * The planner's Solver on HiGHS (WebAssembly), with HiGHS's defaults (0.01% relative gap). A time limit
 * keeps a pathological scenario from hanging the command; the planner reports the status it ends with.
 */
export async function highsSolver(): Promise<Solver> {
  // highs types its package as CommonJS, so under NodeNext the dynamic import's default is typed as the module.
  const loadHighs = (await import('highs')).default as unknown as HighsLoader;
  const highs = await loadHighs();
  return (lp) => {
    const result = highs.solve(lp, { output_flag: false, time_limit: 120 } as Parameters<typeof highs.solve>[1]);
    const columns: Record<string, number> = {};
    for (const [name, column] of Object.entries(result.Columns)) columns[name] = 'Primal' in column ? column.Primal : 0;
    return { status: result.Status, columns };
  };
}

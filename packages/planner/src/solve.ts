/**
 * Plans a window: checks what can be checked before solving (naming the constraint family that cannot
 * hold), builds the MILP, runs the solver it is given, and reads the schedule. A solver-reported
 * infeasibility is narrowed down by solving again without the link rows.
 */
import { infeasible } from './errors.js';
import type { Window } from './inputs.js';
import { buildModel } from './model.js';
import { readSchedule, type Columns, type Hour } from './schedule.js';

/** What a solver must report; the CLI adapts the `highs` package to this. */
export interface SolverResult { readonly status: string; readonly columns: Columns }
export type Solver = (lpText: string) => SolverResult;

export function planWindow(w: Window, solve: Solver): Hour[] {
  precheck(w);
  const result = solve(buildModel(w));
  if (result.status === 'Optimal') return readSchedule(w, result.columns);
  if (result.status !== 'Infeasible' && result.status !== 'Primal infeasible or unbounded') {
    throw new Error(`the solver stopped with status "${result.status}"`);
  }
  const withoutLinks = solve(buildModel(w, { linkCapacity: false }));
  if (withoutLinks.status === 'Optimal') {
    throw infeasible('link capacity', 'the links cannot carry the migrations that DC capacity forces (a DC starts or receives VMs above its capacity); raise link gbps or maxVMs');
  }
  throw infeasible('DC capacity and VM conservation', 'no placement keeps every DC within maxVMs in every hour; check maxVMs, placement and arrivals');
}

/** Failures visible without a solver: more VMs in some hour than all DCs hold, unreachable surplus. */
export function precheck(w: Window): void {
  const room = w.dcs.reduce((sum, dc) => sum + dc.maxVMs, 0);
  let present = w.initial.map((row) => row.reduce((a, b) => a + b, 0));
  for (let t = 0; t < w.hours; t++) {
    present = present.map((n, d) => n + w.arrivals[t]![d]!.reduce((a, b) => a + b, 0));
    const total = present.reduce((a, b) => a + b, 0);
    if (total > room) {
      const sizes = new Set(w.dcs.map((dc) => dc.maxVMs));
      const where = sizes.size === 1 ? `${w.dcs.length} DCs of ${w.dcs[0]!.maxVMs}` : `${w.dcs.length} DCs holding ${room} (${w.dcs.map((dc) => `${dc.name} ${dc.maxVMs}`).join(', ')})`;
      throw infeasible('DC capacity', `${total} VMs do not fit in ${where}${w.start + t > 0 ? ` at hour ${w.start + t}` : ''}`);
    }
    present.forEach((n, d) => {
      const dc = w.dcs[d]!;
      if (n > dc.maxVMs && w.routes[d]!.every((r) => r === undefined)) {
        throw infeasible('DC capacity', `${dc.name} has ${n} VMs at hour ${w.start + t}, holds ${dc.maxVMs}, and no route leads to another DC`);
      }
    });
  }
}

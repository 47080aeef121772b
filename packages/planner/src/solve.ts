/**
 * Plans a window: checks what can be checked before solving (naming the constraint family that cannot
 * hold), builds the MILP, runs the solver it is given from the no-migration plan when that plan is
 * feasible, and reads the schedule. A solver-reported infeasibility is narrowed down by solving again
 * without the link rows. A solver stopped by its time limit still gives its best plan, with the proof.
 */
import { infeasible } from './errors.js';
import { greedyPlan } from './greedy.js';
import type { Window } from './inputs.js';
import { buildModel, OBJECTIVE_SCALE } from './model.js';
import { baseline, readSchedule, scheduleColumns, violations, type Columns, type Hour } from './schedule.js';

/**
 * What a solver reports. `objective` and `bound` are in the model's units (m$); `gap` is the relative
 * gap the solver proved, (objective - bound) / objective, 0 when optimal. `status` is 'optimal',
 * 'time-limit' (the best plan found when the time ran out, if any), 'infeasible', or the solver's own words.
 */
export interface SolverResult {
  readonly status: string;
  readonly columns: Columns;
  readonly objective?: number;
  readonly bound?: number;
  readonly gap?: number;
}
/** Solves LP text; `start` is a feasible plan as column values the solver may begin from. */
export type Solver = (lpText: string, start?: Columns) => SolverResult;

/** How far a plan is proven from the optimum, in $ of the objective (which includes no tie-break). */
export interface Proof {
  readonly status: 'optimal' | 'time-limit';
  readonly gap: number;
  /** No plan can cost less than this (the solver's bound, $ including the waiting priority). */
  readonly boundDollars: number;
}

export interface WindowPlan { readonly hours: Hour[]; readonly proof: Proof }

/** The most integer columns a model may have: past this, building and solving it exhausts memory and time. */
export const MAX_COLUMNS = 3_000_000;

export function planWindow(w: Window, solve: Solver): WindowPlan {
  precheck(w);
  checkSize(w);
  const stay = baseline(w);
  const feasibleStay = violations(w, stay).length === 0;
  const quick = greedyPlan(w);
  const start = quick && (!feasibleStay || cheaper(quick, stay)) ? scheduleColumns(w, quick) : feasibleStay ? scheduleColumns(w, stay) : undefined;
  const result = solve(buildModel(w), start);
  if ((result.status === 'optimal' || result.status === 'time-limit') && Object.keys(result.columns).length > 0) {
    const hours = readSchedule(w, result.columns);
    const proof: Proof = { status: result.status, gap: result.gap ?? 0, boundDollars: (result.bound ?? 0) / OBJECTIVE_SCALE };
    return { hours: feasibleStay && !cheaper(hours, stay) ? stay : hours, proof };
  }
  if (result.status === 'time-limit') throw new Error('the solver found no plan within its time limit; give it more (--time-limit) or a larger gap (--gap)');
  if (result.status !== 'infeasible') throw new Error(`the solver stopped with status "${result.status}"`);
  const withoutLinks = solve(buildModel(w, { linkCapacity: false }));
  if (withoutLinks.status === 'optimal' || withoutLinks.status === 'time-limit') {
    throw infeasible('link capacity', 'the links cannot carry the migrations that DC capacity forces (a DC starts or receives VMs above its capacity); raise link gbps or maxVMs');
  }
  throw infeasible('DC capacity and VM conservation', 'no placement keeps every DC within maxVMs in every hour; check maxVMs, placement and arrivals');
}

/** Refuses a model too large to build (hours x DC pairs x groups), saying which sizes to cut. */
function checkSize(w: Window): void {
  const dcs = w.dcs.length;
  const perHour = dcs * (dcs - 1) * w.groups.length + dcs * (1 + w.classes.length + w.groups.length + 2 * w.kinds.length);
  const columns = perHour * w.hours;
  if (columns > MAX_COLUMNS) {
    throw infeasible('model size', `${w.hours} hours x ${dcs} DCs (${dcs * (dcs - 1)} pairs) x ${w.groups.length} groups of VMs (a class and the hour they leave) make ${columns} integer columns, more than ${MAX_COLUMNS}; plan fewer hours (--hours), DCs, or distinct lifetimes`);
  }
}

/** Whether a plan saves anything over staying put (waiting first, then $): at a tie VMs stay. */
function cheaper(plan: readonly Hour[], stay: readonly Hour[]): boolean {
  const waiting = (hours: readonly Hour[]): number => hours.reduce((s, h) => s + h.waiting.flat().reduce((a, b) => a + b, 0), 0);
  const dollars = (hours: readonly Hour[]): number => hours.reduce((s, h) => s + h.dcDollars + h.migrationDollars, 0);
  if (waiting(plan) !== waiting(stay)) return waiting(plan) < waiting(stay);
  return dollars(plan) < dollars(stay) - 1e-9;
}

/** Failures visible without a solver: more VMs in some hour than all DCs hold, unreachable surplus. */
export function precheck(w: Window): void {
  const room = w.dcs.reduce((sum, dc) => sum + dc.maxVMs, 0);
  let present = w.initial.map((row) => [...row]);
  for (let t = 0; t < w.hours; t++) {
    present = present.map((row, d) => row.map((n, g) => (w.start + t < w.groups[g]!.end ? n + w.arrivals[t]![d]![g]! : 0)));
    const perDc = present.map((row) => row.reduce((a, b) => a + b, 0));
    const total = perDc.reduce((a, b) => a + b, 0);
    if (total > room) {
      const sizes = new Set(w.dcs.map((dc) => dc.maxVMs));
      const where = sizes.size === 1 ? `${w.dcs.length} DCs of ${w.dcs[0]!.maxVMs}` : `${w.dcs.length} DCs holding ${room} (${w.dcs.map((dc) => `${dc.name} ${dc.maxVMs}`).join(', ')})`;
      throw infeasible('DC capacity', `${total} VMs do not fit in ${where}${w.start + t > 0 ? ` at hour ${w.start + t}` : ''}`);
    }
    perDc.forEach((n, d) => {
      const dc = w.dcs[d]!;
      if (n > dc.maxVMs && w.routes[d]!.every((r) => r === undefined)) {
        throw infeasible('DC capacity', `${dc.name} has ${n} VMs at hour ${w.start + t}, holds ${dc.maxVMs}, and no route leads to another DC`);
      }
    });
  }
}

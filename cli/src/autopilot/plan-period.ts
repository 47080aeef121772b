/**
 * One period's planning and bookkeeping over `@ferry/planner`: the rolling model (plan from this period
 * to the horizon with the prices known now, from the fleet as it is, keep the first hour), and what the
 * period cost with the moves that really committed, against never migrating. Pure (the solver is passed in).
 */
import {
  baseline, groupsOf, hourOf, network, planWindow, windowOf, type ChargeModel, type Hour, type Move, type Network, type Scenario, type Solver,
} from '@ferry/planner';

/** counts[d][k] (VMs per DC and class) as the planner's held[d][g]: the autopilot's VMs never leave, so one group per class. */
export function heldOf(s: Scenario, counts: ReadonlyArray<readonly number[]>): number[][] {
  const { groups } = groupsOf(s);
  return counts.map((row) => groups.map((g) => (g.end === Infinity ? row[g.vmClass]! : 0)));
}

export interface PeriodPlan {
  readonly moves: readonly Move[];
  /** The plan's first hour: what it expects this period to cost. */
  readonly hour: Hour;
  readonly network: Network;
}

/** Plans hours `period`..end from `counts` with what the scenario (its prices as updated) reveals by `period`. */
export function planPeriod(s: Scenario, counts: ReadonlyArray<readonly number[]>, period: number, charge: ChargeModel, solve: Solver): PeriodPlan {
  const net = network(s, charge);
  const planned = planWindow(windowOf(s, net, period, heldOf(s, counts), period), solve);
  const hour = planned.hours[0]!;
  return { moves: hour.moves, hour, network: net };
}

/** A move that committed, as the planner counts it: class-k VMs from DC i to DC j. */
export interface Committed { readonly from: number; readonly to: number; readonly vmClass: number }

export interface PeriodCost {
  readonly dcDollars: number;
  readonly migrationDollars: number;
  /** The same hour had no VM ever moved from the inventory's places. */
  readonly neverDollars: number;
}

/**
 * What the period cost: DC energy with the fleet where it ended the period, migration energy of the moves
 * that committed, and the never-migrating fleet in the same hour; at the prices known in the period.
 */
export function periodCost(s: Scenario, net: Network, period: number, before: ReadonlyArray<readonly number[]>, committed: readonly Committed[], initial: ReadonlyArray<readonly number[]>): PeriodCost {
  const heldBefore = heldOf(s, before);
  const w = windowOf(s, net, period, heldBefore, period);
  const after = heldBefore.map((row) => [...row]);
  const { groups } = groupsOf(s);
  const moves: Move[] = committed.map((c) => {
    const group = groups.findIndex((g) => g.vmClass === c.vmClass && g.end === Infinity);
    after[c.from]![group]! -= 1;
    after[c.to]![group]! += 1;
    return { from: c.from, to: c.to, vmClass: c.vmClass, group, count: 1, bits: w.bits[c.vmClass]![c.from]![c.to]! };
  });
  const hour = hourOf(w, 0, after, moves, w.waiting.map((row) => [...row]), heldBefore);
  const never = baseline(windowOf(s, net, period, heldOf(s, initial), period))[0]!;
  return { dcDollars: hour.dcDollars, migrationDollars: hour.migrationDollars, neverDollars: never.dcDollars };
}

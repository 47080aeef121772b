/**
 * The rolling horizon: at each hour, plan the rest of the horizon with the prices and requests known by
 * then, carry out the first hour, and plan again an hour later. `offline` plans once with everything
 * known ahead (the comparison point).
 */
import { groupsOf, initialPlacement, initialWaiting, network, windowOf, type Group, type Network, type RequestKind } from './inputs.js';
import type { ChargeModel } from './migration-model.js';
import type { Scenario } from './scenario.js';
import { baseline, hourOf, type Hour } from './schedule.js';
import { planWindow, type Proof, type Solver } from './solve.js';

export interface Plan {
  readonly hours: readonly Hour[];
  readonly baseline: readonly Hour[];
  readonly network: Network;
  readonly groups: readonly Group[];
  readonly kinds: readonly RequestKind[];
  /** How close to optimal the plan is proven; for a rolling plan, the weakest of its solves. */
  readonly proof: Proof;
}

export function offlinePlan(s: Scenario, charge: ChargeModel, solve: Solver): Plan {
  const net = network(s, charge);
  const w = windowOf(s, net, 0, initialPlacement(s), Infinity);
  const { hours, proof } = planWindow(w, solve);
  return { hours, baseline: baseline(w), network: net, ...groupsOf(s), proof };
}

export function rollingPlan(s: Scenario, charge: ChargeModel, solve: Solver): Plan {
  const net = network(s, charge);
  const actual = windowOf(s, net, 0, initialPlacement(s), Infinity);
  const hours: Hour[] = [];
  let held = initialPlacement(s);
  let waiting = initialWaiting(s);
  let weakest: Proof = { status: 'optimal', gap: 0, boundDollars: 0 };
  for (let h = 0; h < s.hours; h++) {
    const planned = planWindow(windowOf(s, net, h, held, h, waiting), solve);
    const first = planned.hours[0]!;
    if (planned.proof.gap > weakest.gap || planned.proof.status === 'time-limit') weakest = { ...planned.proof, boundDollars: 0 };
    // Costed at the final prices, with the hour's arrivals as finally known (they are known by hour h).
    const hour = hourOf(actual, h, first.held.map((row) => [...row]), [...first.moves], first.waiting.map((row) => [...row]), held);
    hours.push(hour);
    held = hour.held.map((row) => [...row]);
    waiting = hour.waiting.map((row) => [...row]);
  }
  return { hours, baseline: baseline(actual), network: net, ...groupsOf(s), proof: weakest };
}

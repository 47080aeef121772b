/**
 * The rolling horizon: at each hour, plan the rest of the horizon with the prices and requests known by
 * then, carry out the first hour, and plan again an hour later. `offline` plans once with everything
 * known ahead (the comparison point).
 */
import { initialPlacement, network, windowOf, type Network } from './inputs.js';
import type { ChargeModel } from './migration-model.js';
import type { Scenario } from './scenario.js';
import { baseline, hourOf, type Hour } from './schedule.js';
import { planWindow, type Solver } from './solve.js';

export interface Plan {
  readonly hours: readonly Hour[];
  readonly baseline: readonly Hour[];
  readonly network: Network;
}

export function offlinePlan(s: Scenario, charge: ChargeModel, solve: Solver): Plan {
  const net = network(s, charge);
  const w = windowOf(s, net, 0, initialPlacement(s), Infinity);
  return { hours: planWindow(w, solve), baseline: baseline(w), network: net };
}

export function rollingPlan(s: Scenario, charge: ChargeModel, solve: Solver): Plan {
  const net = network(s, charge);
  const actual = windowOf(s, net, 0, initialPlacement(s), Infinity);
  const hours: Hour[] = [];
  let placement = initialPlacement(s);
  for (let h = 0; h < s.hours; h++) {
    const [first] = planWindow(windowOf(s, net, h, placement, h), solve);
    // Costed at the final prices, with the hour's arrivals as finally known (they are known by hour h).
    const hour = hourOf(actual, h, first!.vms.map((row) => [...row]), [...first!.moves]);
    hours.push(hour);
    placement = hour.vms.map((row) => [...row]);
  }
  return { hours, baseline: baseline(actual), network: net };
}

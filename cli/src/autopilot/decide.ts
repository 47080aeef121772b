/**
 * What to start in a period, given the plan's moves for it, the fleet as it is and the links. Pure: the
 * loop turns the answer into POST /migrations and logs every planned move that is not started, with why.
 */
import type { Move, Network } from '@ferry/planner';
import { migrationId, type FleetVm } from './fleet.js';

export interface Start {
  readonly vm: string;
  readonly vmClass: number;
  readonly from: number;
  readonly to: number;
  readonly id: string;
  /** Bits the plan charges for it, and the links of its route (indices into the scenario's links). */
  readonly bits: number;
  readonly links: readonly number[];
}

export interface DecideInput {
  readonly period: number;
  /** The plan's moves for this period (its first hour). */
  readonly moves: readonly Move[];
  readonly vms: readonly FleetVm[];
  readonly dcNames: readonly string[];
  /** DCs whose source daemon did not answer: nothing leaves them this period. */
  readonly unreachable: ReadonlySet<number>;
  readonly routes: Network['routes'];
  /** Bits each link carries in one period (gbps x an hour, as the plan counts it). */
  readonly linkBits: readonly number[];
}

export interface Decision {
  readonly starts: Start[];
  /** Planned moves not started, each with the reason. */
  readonly skipped: string[];
}

export function decide(input: DecideInput): Decision {
  const starts: Start[] = [];
  const skipped: string[] = [];
  const used = input.linkBits.map(() => 0);
  const taken = new Set<string>();
  for (const move of input.moves) {
    const route = `${input.dcNames[move.from]}->${input.dcNames[move.to]}`;
    if (input.unreachable.has(move.from)) {
      skipped.push(`${route}: ${move.count} planned, none started: ${input.dcNames[move.from]}'s source daemon does not answer`);
      continue;
    }
    const links = input.routes[move.from]?.[move.to]?.links ?? [];
    const perVm = move.bits / move.count;
    const candidates = input.vms
      .filter((vm) => vm.dc === move.from && vm.vmClass === move.vmClass && vm.state === 'idle' && !taken.has(vm.name))
      .map((vm) => vm.name).sort();
    for (const vm of candidates.slice(0, move.count)) {
      const full = links.find((l) => used[l]! + perVm > input.linkBits[l]! * (1 + 1e-9));
      if (full !== undefined) {
        skipped.push(`${route}: ${vm} not started: link ${full} has no capacity left this period`);
        continue;
      }
      for (const l of links) used[l]! += perVm;
      taken.add(vm);
      starts.push({ vm, vmClass: move.vmClass, from: move.from, to: move.to, id: migrationId(vm, input.period, move.to), bits: perVm, links });
    }
    if (candidates.length < move.count) {
      skipped.push(`${route}: ${move.count} planned, only ${candidates.length} idle VMs of the class there (others are moving or in doubt)`);
    }
  }
  return { starts, skipped };
}

/**
 * Which pending migrations may start now: in order, each whose route's links all run fewer than
 * `maxPerLink` migrations (counting the ones this call admits).
 */
export function startable(pending: readonly Start[], running: readonly Start[], maxPerLink: number): Start[] {
  const load = new Map<number, number>();
  for (const r of running) for (const l of r.links) load.set(l, (load.get(l) ?? 0) + 1);
  const admitted: Start[] = [];
  for (const p of pending) {
    if (p.links.some((l) => (load.get(l) ?? 0) >= maxPerLink)) continue;
    for (const l of p.links) load.set(l, (load.get(l) ?? 0) + 1);
    admitted.push(p);
  }
  return admitted;
}

/**
 * The fleet as it is: where each VM of the inventory runs now, read from what the source daemons report
 * (their GET /status lists every migration they ran), not from what the last plan assumed. Pure.
 *
 * A migration the autopilot starts is named `<vm>.p<period>.d<to>` (see `migrationId`), so a daemon's
 * status alone says which VM went where and in which period: a restarted autopilot re-reads the fleet.
 */
import type { Scenario } from '@ferry/planner';

/** One migration as a source daemon's /status reports it. */
export interface ObservedMigration {
  readonly migrationId: string;
  readonly result?: 'committed' | 'rolled-back' | 'unknown' | undefined;
  /** Why it never started, when it did not. */
  readonly error?: string | undefined;
}

export type VmState =
  /** At `dc`, free to move. */
  | 'idle'
  /** A migration of it is running (its source daemon has no result yet): it stays out of this period's plan. */
  | 'moving'
  /** Its last migration ended after GO without RESUMED: which copy runs needs an operator (`ferry recover`). */
  | 'unknown';

export interface FleetVm {
  readonly name: string;
  readonly vmClass: number;
  /** Index into the scenario's data centres. */
  readonly dc: number;
  readonly state: VmState;
  /** The migration that brought it to `dc` (undefined: it never moved); its image lives under that id. */
  readonly arrivedBy?: string;
}

const ID = /^(.+)\.p(\d+)\.d(\d+)$/;

/** The id of the migration that moves `vm` to DC index `to` in `period`; names stay within the protocol's 64 characters. */
export function migrationId(vm: string, period: number, to: number): string {
  const id = `${vm}.p${period}.d${to}`;
  if (id.length > 64) throw new Error(`VM name ${vm} is too long for a migration id (at most 64 characters with .p<period>.d<dc>)`);
  return id;
}

export function parseMigrationId(id: string): { vm: string; period: number; to: number } | undefined {
  const m = ID.exec(id);
  return m ? { vm: m[1]!, period: Number(m[2]), to: Number(m[3]) } : undefined;
}

/**
 * Folds the daemons' migrations, period by period, over the inventory's starting places. `observed[d]`
 * is what DC d's source daemon reported. Returns the fleet and what did not add up (a committed
 * migration from a DC the VM was not at), for the log.
 */
export function fleetOf(s: Scenario, observed: ReadonlyArray<readonly ObservedMigration[]>): { vms: FleetVm[]; oddities: string[] } {
  const classOf = new Map(s.classes.map((k, i) => [k.name, i]));
  const dcOf = new Map(s.datacenters.map((d, i) => [d.name, i]));
  const vms = new Map<string, FleetVm>(s.inventory.map((vm) => [vm.name, { name: vm.name, vmClass: classOf.get(vm.vmClass)!, dc: dcOf.get(vm.dc)!, state: 'idle' }]));
  const oddities: string[] = [];
  const ours = observed.flatMap((list, from) => list.flatMap((m) => {
    const parsed = parseMigrationId(m.migrationId);
    return parsed && vms.has(parsed.vm) && parsed.to < s.datacenters.length ? [{ ...m, ...parsed, from }] : [];
  }));
  ours.sort((a, b) => a.period - b.period);
  for (const m of ours) {
    const vm = vms.get(m.vm)!;
    if (m.error !== undefined || m.result === 'rolled-back') continue;
    if (vm.dc !== m.from) {
      oddities.push(`${m.migrationId}: ${s.datacenters[m.from]!.name} reports it, but ${m.vm} was at ${s.datacenters[vm.dc]!.name}`);
      continue;
    }
    if (m.result === 'committed') vms.set(m.vm, { ...vm, dc: m.to, state: 'idle', arrivedBy: m.migrationId });
    else vms.set(m.vm, { ...vm, state: m.result === 'unknown' ? 'unknown' : 'moving' });
  }
  return { vms: [...vms.values()], oddities };
}

/** VMs per DC and class: what the planner starts the period from. */
export function countsOf(s: Scenario, vms: readonly FleetVm[]): number[][] {
  const counts = s.datacenters.map(() => s.classes.map(() => 0));
  for (const vm of vms) counts[vm.dc]![vm.vmClass]! += 1;
  return counts;
}

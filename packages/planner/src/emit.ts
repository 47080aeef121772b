/**
 * `--emit migrations`: a plan as the requests a controller posts to each source host's `ferry source`
 * daemon (POST /migrations, the `ferry migrate` options as JSON). Concrete VMs come from the scenario's
 * inventory, first by name among those of the class at the source DC; the inventory follows the moves.
 */
import { infeasible } from './errors.js';
import type { Scenario } from './scenario.js';
import type { Hour } from './schedule.js';

export interface MigrationRequest {
  readonly hour: number;
  readonly vm: string;
  readonly from: string;
  readonly to: string;
  /** The source DC's `ferry source` daemon; POST `body` to `url` (`${source}/migrations`). */
  readonly source: string;
  readonly url: string;
  readonly body: { readonly to: string; readonly image: readonly string[]; readonly id: string };
}

export function migrationRequests(s: Scenario, hours: readonly Hour[]): MigrationRequest[] {
  const where = new Map(s.inventory.map((vm) => [vm.name, vm.dc]));
  const requests: MigrationRequest[] = [];
  for (const hour of hours) {
    for (const move of hour.moves) {
      const from = s.datacenters[move.from]!;
      const to = s.datacenters[move.to]!;
      const vmClass = s.classes[move.vmClass]!.name;
      const candidates = s.inventory.filter((vm) => vm.vmClass === vmClass && where.get(vm.name) === from.name).map((vm) => vm.name).sort();
      if (candidates.length < move.count) {
        throw infeasible('inventory', `hour ${hour.hour} moves ${move.count} ${vmClass} VMs from ${from.name}, the inventory has ${candidates.length} there`);
      }
      if (!from.sourceUrl || !to.targetUrl) throw infeasible('inventory', `datacenters ${from.name} needs sourceUrl and ${to.name} needs targetUrl for --emit migrations`);
      for (const vm of candidates.slice(0, move.count)) {
        where.set(vm, to.name);
        const image = s.inventory.find((v) => v.name === vm)!.image;
        requests.push({ hour: hour.hour, vm, from: from.name, to: to.name, source: from.sourceUrl, url: `${from.sourceUrl.replace(/\/$/, '')}/migrations`, body: { to: to.targetUrl, image: [`${vm}=${image}`], id: `${vm}-h${hour.hour}` } });
      }
    }
  }
  return requests;
}

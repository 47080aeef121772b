/**
 * The autopilot's scenario: a `ferry plan` scenario whose inventory names every VM, whose data centres
 * name their daemons (`sourceUrl`, `targetUrl`), plus an `autopilot` block:
 *
 *   "autopilot": {
 *     "targetDirs": { "<dc>": "<the --dir of that DC's ferry target>" },
 *     "migrate": { "<ferry migrate option>": "<value, {vm} is replaced by the VM's name>" }
 *   }
 *
 * A VM that arrived at DC d by migration M runs from `<targetDirs[d]>/<M>/<vm>` (where the target
 * commits it); the next move sends that file. Pure apart from nothing: parsing only.
 */
import { PlannerError, PlannerErrorCode, parseScenario, type Scenario } from '@ferry/planner';
import type { FleetVm } from './fleet.js';

export interface AutopilotScenario {
  readonly scenario: Scenario;
  readonly targetDirs: readonly string[];
  readonly migrate: Readonly<Record<string, string | boolean | number | string[]>>;
}

const NAME = /^[A-Za-z0-9._-]{1,50}$/;

export function parseAutopilotScenario(raw: unknown): AutopilotScenario {
  const scenario = parseScenario(raw);
  const problems: string[] = [];
  const block = (raw as Record<string, unknown>)['autopilot'];
  const ap = typeof block === 'object' && block !== null && !Array.isArray(block) ? (block as Record<string, unknown>) : {};
  if (block === undefined) problems.push('autopilot: expected an object with targetDirs (and optionally migrate)');
  const dirs = typeof ap['targetDirs'] === 'object' && ap['targetDirs'] !== null ? (ap['targetDirs'] as Record<string, unknown>) : {};
  const targetDirs = scenario.datacenters.map((dc) => {
    const dir = dirs[dc.name];
    if (typeof dir !== 'string' || !dir.startsWith('/')) problems.push(`autopilot.targetDirs.${dc.name}: expected the absolute --dir of ${dc.name}'s ferry target`);
    if (!dc.sourceUrl || !dc.targetUrl) problems.push(`datacenters: ${dc.name} needs sourceUrl and targetUrl (its ferry source and ferry target)`);
    return typeof dir === 'string' ? dir.replace(/\/$/, '') : '';
  });
  const migrate = ap['migrate'] === undefined ? {} : ap['migrate'];
  if (typeof migrate !== 'object' || migrate === null || Array.isArray(migrate)) problems.push('autopilot.migrate: expected an object of ferry migrate options');
  for (const key of ['to', 'image', 'id']) if (key in (migrate as object)) problems.push(`autopilot.migrate.${key}: set by the autopilot for each migration`);
  if (scenario.inventory.length === 0) problems.push('inventory: the autopilot moves the VMs the inventory names; it is empty');
  for (const vm of scenario.inventory) if (!NAME.test(vm.name)) problems.push(`inventory: VM name "${vm.name}" must match ${NAME.source} (it names the image and the migration)`);
  if (scenario.timeline.some((e) => e.arrive.length > 0) || scenario.placement.some((p) => p.lifetime !== undefined) || scenario.queue) {
    problems.push('timeline.arrive, lifetimes and queue describe requests ferry plan studies; the autopilot moves the inventory\'s VMs (the timeline may update prices)');
  }
  if (problems.length > 0) throw new PlannerError(PlannerErrorCode.Scenario, `the autopilot scenario is not usable:\n  ${problems.join('\n  ')}`);
  return { scenario, targetDirs, migrate: migrate as AutopilotScenario['migrate'] };
}

/** The file a VM runs from now: its inventory image until it first moves, then where its last target committed it. */
export function imageOf(ap: AutopilotScenario, vm: FleetVm): string {
  if (vm.arrivedBy === undefined) return ap.scenario.inventory.find((v) => v.name === vm.name)!.image;
  return `${ap.targetDirs[vm.dc]}/${vm.arrivedBy}/${vm.name}`;
}

/** The POST /migrations body for moving `vm` to DC `to` as migration `id`. */
export function migrationBody(ap: AutopilotScenario, vm: FleetVm, to: number, id: string): Record<string, unknown> {
  const fill = (value: unknown): unknown => (typeof value === 'string' ? value.replaceAll('{vm}', vm.name) : Array.isArray(value) ? value.map(fill) : value);
  const extra = Object.fromEntries(Object.entries(ap.migrate).map(([k, v]) => [k, fill(v)]));
  return { ...extra, to: ap.scenario.datacenters[to]!.targetUrl, image: [`${vm.name}=${imageOf(ap, vm)}`], id };
}

/**
 * Prices from a file another process keeps up to date: `{"<zone>": [$/kWh for each hour of the day]}`.
 * Returns the scenario with those curves, or throws saying what is wrong (the loop keeps the last good ones).
 */
export function withPrices(s: Scenario, text: string): Scenario {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new Error(`not JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error('expected {"<zone>": [price per hour, ...]}');
  const prices: Record<string, readonly number[]> = { ...s.prices };
  for (const [zone, curve] of Object.entries(raw)) {
    if (!(zone in s.prices)) throw new Error(`unknown zone "${zone}" (the scenario has ${Object.keys(s.prices).join(', ')})`);
    if (!Array.isArray(curve) || curve.length < s.hours || !curve.every((p) => typeof p === 'number' && Number.isFinite(p) && p >= 0)) {
      throw new Error(`${zone}: expected ${s.hours} prices, numbers >= 0`);
    }
    prices[zone] = curve as number[];
  }
  return { ...s, prices };
}

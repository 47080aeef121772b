/**
 * The autopilot's pure parts: the fleet read from the daemons' migrations, what a period starts given
 * the plan, the fleet and the links, the scenario's autopilot block and price files, and the rolling
 * plan of one period (a price change announced mid-day changes the next period's moves), and what
 * --listen shows of the events.
 */
import t from 'tap';
import type { Move, Network } from '@ferry/planner';
import { highsSolver } from '../../cli/src/highs-solver.js';
import { imageOf, migrationBody, parseAutopilotScenario, withPrices } from '../../cli/src/autopilot/config.js';
import { decide, startable, type Start } from '../../cli/src/autopilot/decide.js';
import { countsOf, fleetOf, migrationId, parseMigrationId, type FleetVm } from '../../cli/src/autopilot/fleet.js';
import { periodCost, planPeriod } from '../../cli/src/autopilot/plan-period.js';
import type { AutopilotEvent, Route } from '../../cli/src/autopilot/report.js';
import { AutopilotStatus, meter } from '../../cli/src/autopilot/status.js';
import { AutopilotMetrics } from '@ferry/serve';
import { joulesPerBitFor, lineScenario } from '../helpers/planner.js';

/** Three DCs on a line (west - mid - east), four VMs at west, daemons named. */
function fleetDoc(prices: Record<string, number[]> = { west: [0.3, 0.3], mid: [0.3, 0.3], east: [0.1, 0.1] }): Record<string, unknown> {
  const doc = lineScenario({ prices, dcs: [{ name: 'west', maxVMs: 4 }, { name: 'mid', maxVMs: 4 }, { name: 'east', maxVMs: 4 }], placement: [{ dc: 'west', count: 4 }], joulesPerBit: joulesPerBitFor(0.001, 0.7) });
  doc['datacenters'] = (doc['datacenters'] as Array<Record<string, unknown>>).map((d, i) => ({ ...d, sourceUrl: `http://127.0.0.1:${7100 + i}`, targetUrl: `ws://127.0.0.1:${7200 + i}` }));
  doc['inventory'] = ['vm-a', 'vm-b', 'vm-c', 'vm-d'].map((name) => ({ name, class: 'std', dc: 'west', image: `/images/${name}.img` }));
  doc['autopilot'] = { targetDirs: { west: '/srv/west', mid: '/srv/mid', east: '/srv/east/' }, migrate: { 'pause-cmd': 'stop {vm}', compress: 'always' } };
  return doc;
}

t.test('the fleet: migrations fold over the inventory period by period; only committed ones move a VM', async (t) => {
  const { scenario } = parseAutopilotScenario(fleetDoc());
  t.same(parseMigrationId(migrationId('vm.a-1', 12, 2)), { vm: 'vm.a-1', period: 12, to: 2 }, 'ids round-trip, dots in names included');
  t.throws(() => migrationId('x'.repeat(60), 1, 1), /too long/);
  const { vms, oddities } = fleetOf(scenario, [
    [{ migrationId: 'vm-a.p0.d1', result: 'committed' }, { migrationId: 'vm-b.p0.d2', result: 'rolled-back' }, { migrationId: 'vm-c.p3.d2' }, { migrationId: 'vm-d.p1.d2', error: 'no such disk' }, { migrationId: 'someone-else' }],
    [{ migrationId: 'vm-a.p2.d2', result: 'committed' }, { migrationId: 'vm-b.p2.d0', result: 'committed' }],
    [],
  ]);
  const by = Object.fromEntries(vms.map((vm) => [vm.name, vm]));
  t.match(by['vm-a'], { dc: 2, state: 'idle', arrivedBy: 'vm-a.p2.d2' }, 'west -> mid -> east, read from two daemons in period order');
  t.match(by['vm-b'], { dc: 0, state: 'idle' }, 'a rolled-back migration leaves the VM at its source');
  t.match(by['vm-c'], { dc: 0, state: 'moving' }, 'one without a result is still moving');
  t.match(by['vm-d'], { dc: 0, state: 'idle' }, 'one that failed to start moved nothing');
  t.same(oddities, ['vm-b.p2.d0: mid reports it, but vm-b was at west'], 'a migration from where the VM was not is reported, not applied');
  t.same(countsOf(scenario, vms), [[3], [0], [1]]);
});

t.test('a period starts the planned moves with idle VMs, within link capacity, never from an unreachable DC', async (t) => {
  const ap = parseAutopilotScenario(fleetDoc());
  const vms: FleetVm[] = [
    { name: 'vm-d', vmClass: 0, dc: 0, state: 'idle' }, { name: 'vm-a', vmClass: 0, dc: 0, state: 'moving' },
    { name: 'vm-b', vmClass: 0, dc: 0, state: 'idle' }, { name: 'vm-c', vmClass: 0, dc: 1, state: 'idle', arrivedBy: 'vm-c.p0.d1' },
  ];
  const routes: Network['routes'] = [[undefined, { nodes: [1, 2], links: [0], km: 1 }, { nodes: [1, 2, 3], links: [0, 1], km: 2 }], [undefined, undefined, { nodes: [2, 3], links: [1], km: 1 }], []];
  const move = (from: number, to: number, count: number): Move => ({ from, to, vmClass: 0, group: 0, count, bits: count * 10 });
  const base = { period: 4, vms, dcNames: ['west', 'mid', 'east'], routes, unreachable: new Set<number>() };

  const all = decide({ ...base, moves: [move(0, 2, 3)], linkBits: [100, 100] });
  t.same(all.starts.map((s) => [s.vm, s.id, s.links]), [['vm-b', 'vm-b.p4.d2', [0, 1]], ['vm-d', 'vm-d.p4.d2', [0, 1]]], 'idle VMs by name; a moving one is not touched');
  t.match(all.skipped, [/3 planned, only 2 idle/], 'the shortfall is said');

  const tight = decide({ ...base, moves: [move(0, 2, 2), move(1, 2, 1)], linkBits: [100, 25] });
  t.same(tight.starts.map((s) => s.vm), ['vm-b', 'vm-d'], 'the second link has room for two moves of 10 bits and not a third');
  t.match(tight.skipped, [/vm-c not started: link 1 has no capacity left/]);

  const down = decide({ ...base, moves: [move(0, 2, 1), move(1, 2, 1)], linkBits: [100, 100], unreachable: new Set([0]) });
  t.same(down.starts.map((s) => s.vm), ['vm-c'], 'nothing leaves a DC whose source daemon does not answer');
  t.match(down.skipped, [/west's source daemon does not answer/]);

  const body = migrationBody(ap, vms[3]!, 2, 'vm-c.p4.d2');
  t.same(body, { 'pause-cmd': 'stop vm-c', compress: 'always', to: 'ws://127.0.0.1:7202', image: ['vm-c=/srv/mid/vm-c.p0.d1/vm-c'], id: 'vm-c.p4.d2' }, 'a VM that moved is sent from where its target committed it');
  t.equal(imageOf(ap, vms[0]!), '/images/vm-d.img', 'one that never moved from its inventory image');
});

t.test('no more migrations at once per link than allowed', async (t) => {
  const start = (vm: string, links: number[]): Start => ({ vm, vmClass: 0, from: 0, to: 1, id: vm, bits: 1, links });
  const pending = [start('a', [0]), start('b', [0, 1]), start('c', [1]), start('d', [2])];
  t.same(startable(pending, [], 1).map((s) => s.vm), ['a', 'c', 'd'], 'b shares a link with a and with c');
  t.same(startable(pending, [start('x', [2])], 2).map((s) => s.vm), ['a', 'b', 'c', 'd'], 'two per link');
  t.same(startable(pending, [start('x', [0]), start('y', [1])], 1).map((s) => s.vm), ['d']);
});

t.test('the scenario\'s autopilot block and price files are checked, each problem named', async (t) => {
  const doc = fleetDoc();
  delete doc['autopilot'];
  t.throws(() => parseAutopilotScenario(doc), /autopilot: expected an object with targetDirs/);
  const bad = fleetDoc();
  bad['autopilot'] = { targetDirs: { west: 'relative' }, migrate: { to: 'ws://elsewhere' } };
  (bad['inventory'] as Array<Record<string, unknown>>)[0]!['name'] = '../../etc';
  t.throws(() => parseAutopilotScenario(bad), /targetDirs\.west: expected the absolute[\s\S]*targetDirs\.mid[\s\S]*autopilot\.migrate\.to: set by the autopilot[\s\S]*"\.\.\/\.\.\/etc" must match/);
  const { scenario } = parseAutopilotScenario(fleetDoc());
  t.same(withPrices(scenario, '{"east":[0.5,0.5]}').prices, { west: [0.3, 0.3], mid: [0.3, 0.3], east: [0.5, 0.5] }, 'a price file replaces the zones it names');
  t.throws(() => withPrices(scenario, '{"north":[1,1]}'), /unknown zone "north"/);
  t.throws(() => withPrices(scenario, '{"east":[0.5]}'), /east: expected 2 prices/);
  t.throws(() => withPrices(scenario, '{"east":'), /not JSON/);
});

t.test('a price change announced mid-day changes the next period\'s moves', async (t) => {
  const solve = await highsSolver();
  const flat = { west: [0.2, 0.2, 0.2], mid: [0.2, 0.2, 0.2], east: [0.2, 0.2, 0.2] };
  const doc = fleetDoc(flat);
  const { scenario: calm } = parseAutopilotScenario(doc);
  doc['timeline'] = [{ hour: 1, prices: { east: [0.05, 0.05] } }];
  const { scenario: announced } = parseAutopilotScenario(doc);
  const counts = [[4], [0], [0]];
  const charge = { kind: 'memory' } as const;
  t.same(planPeriod(announced, counts, 0, charge, solve).moves, [], 'period 0 does not know of the change: nothing moves');
  t.same(planPeriod(calm, counts, 1, charge, solve).moves, [], 'without it, period 1 moves nothing either');
  const moved = planPeriod(announced, counts, 1, charge, solve);
  t.same(moved.moves.map((m) => [m.from, m.to, m.count]), [[0, 2, 4]], 'once announced, period 1 moves the fleet east');
  const cost = periodCost(announced, moved.network, 1, counts, [{ from: 0, to: 2, vmClass: 0 }], counts);
  t.ok(Math.abs(cost.dcDollars - (3 * 0.2 + 0.05)) < 1e-9, 'the period costs the fleet where it ended: three VMs at west, one at east');
  t.ok(Math.abs(cost.neverDollars - 4 * 0.2) < 1e-9, 'against all four at west');
  t.ok(cost.migrationDollars > 0, 'plus the move');
});

t.test('/status and /metrics are folds of the events: in flight until ended, counted by route, the bill as periods report it', async (t) => {
  const info = { dcNames: ['west', 'east'], hours: 3, periodMs: 0, dryRun: false };
  const status = new AutopilotStatus(info, () => new Date('2026-12-02T10:00:00Z'));
  const metrics = new AutopilotMetrics(() => status.running);
  const on = (event: AutopilotEvent): void => { status.on(event); meter(metrics, info.dcNames, event); };
  t.match(status.snapshot(), { phase: 'starting', period: null, fleet: null, plan: null, inFlight: [] }, 'before the first plan');
  const route = (vm: string): Route => ({ vm, from: 'west', to: 'east', migrationId: `${vm}.p0.d1` });
  on({ event: 'plan', period: 0, charge: 'memory size', fleet: [{ vm: 'a', dc: 'west', state: 'idle' }, { vm: 'b', dc: 'west', state: 'idle' }], moves: [{ from: 'west', to: 'east', vmClass: 'std', count: 2 }], starts: [route('a'), route('b')] });
  on({ event: 'starting', period: 0, ...route('a') });
  on({ event: 'starting', period: 0, ...route('b') });
  on({ event: 'migration', period: 0, ...route('a'), result: 'rolled-back' });
  t.match(status.snapshot(), {
    phase: 'running', period: 0, fleet: { readInPeriod: 0, perDc: { west: 2, east: 0 } },
    inFlight: [{ ...route('b'), period: 0, startedAt: '2026-12-02T10:00:00.000Z' }], migrations: { started: 2, committed: 0, rolledBack: 1, failed: 0 },
  }, 'b is in flight; a ended and is counted at once, not at the end of the period');
  on({ event: 'migration', period: 0, ...route('b'), result: 'committed' });
  const report = { period: 0, charge: 'memory size', planned: 2, started: 2, committed: 1, rolledBack: 1, failed: 0, diverged: ['a rolled back'], vms: [1, 1], moves: ['b west->east'], workMs: 5 };
  on({ event: 'period', ...report, dcDollars: 1.5, migrationDollars: 0.25, neverDollars: 2 });
  on({ event: 'plan', period: 1, charge: 'memory size', fleet: [{ vm: 'a', dc: 'west', state: 'idle' }, { vm: 'b', dc: 'east', state: 'idle' }], moves: [], starts: [] });
  on({ event: 'period', ...report, period: 1, dcDollars: 1, migrationDollars: 0, neverDollars: 2 });
  t.match(status.snapshot(), {
    phase: 'waiting', period: 1, periodsRun: 2, fleet: { perDc: { west: 1, east: 1 } }, inFlight: [], migrations: { started: 2, committed: 1, rolledBack: 1, failed: 0 },
    cost: { dcDollars: 2.5, migrationDollars: 0.25, spentDollars: 2.75, neverMigratingDollars: 4, savedDollars: 1.25 }, lastPeriod: { period: 1, diverged: ['a rolled back'] },
  }, 'the bill so far against never migrating');
  const text = (await metrics.render()).body;
  for (const line of [
    'ferry_autopilot_periods_total{role="autopilot"} 2',
    'ferry_autopilot_migrations_started_total{from="west",to="east",role="autopilot"} 2',
    'ferry_autopilot_migrations_ended_total{from="west",to="east",result="rolled-back",role="autopilot"} 1',
    'ferry_autopilot_migrations_ended_total{from="west",to="east",result="committed",role="autopilot"} 1',
    'ferry_autopilot_migrations_running{role="autopilot"} 0',
    'ferry_autopilot_cost_dollars_total{kind="dc",role="autopilot"} 2.5',
    'ferry_autopilot_cost_dollars_total{kind="migration",role="autopilot"} 0.25',
    'ferry_autopilot_never_migrating_dollars_total{role="autopilot"} 4',
    'ferry_autopilot_saved_dollars{role="autopilot"} 1.25',
    'ferry_autopilot_vms{dc="west",role="autopilot"} 1',
    'ferry_autopilot_vms{dc="east",role="autopilot"} 1',
  ]) t.ok(text.split('\n').includes(line), line);
});

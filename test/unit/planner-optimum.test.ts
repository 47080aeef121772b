import t from 'tap';
import { offlinePlan, parseScenario, totals, type Plan } from '@ferry/planner';
import { highsSolver } from '../../cli/src/highs-solver.js';
import { joulesPerBitFor, lineScenario } from '../helpers/planner.js';

const solve = await highsSolver();
const memory = { kind: 'memory' } as const;
const vmsAt = (plan: Plan, hour: number): number[] => plan.hours[hour]!.vms.map((row) => row[0]!);

// Two DCs; west is cheap for two hours, then east is cheaper by 0.2 $/kWh for two hours. Each VM draws
// 1 kW, so moving one VM at hour 2 saves 2 h x 1 kW x 0.2 $/kWh = $0.40 and costs what its bits cost
// on the two routers of the path at hour 2 (0.30 + 0.10 $/kWh).
const crossover = { west: [0.1, 0.1, 0.3, 0.3], east: [0.2, 0.2, 0.1, 0.1] };
const twoDcs = [{ name: 'west', maxVMs: 8 }, { name: 'east', maxVMs: 8 }];

t.test('VMs move at the price crossover when the saving beats the migration cost', async (t) => {
  const s = parseScenario(lineScenario({ prices: crossover, dcs: twoDcs, placement: [{ dc: 'west', count: 4 }], joulesPerBit: joulesPerBitFor(0.3, 0.4) }));
  const plan = offlinePlan(s, memory, solve);
  t.same(plan.hours.map((h) => h.moves.map((m) => [m.from, m.to, m.count])), [[], [], [[0, 1, 4]], []], 'all four move west -> east at hour 2, and only then');
  const sum = totals(plan);
  t.ok(Math.abs(sum.migrationDollars - 4 * 0.3) < 1e-9, `migration energy 4 x $0.30 (${sum.migrationDollars})`);
  t.ok(Math.abs(sum.dcDollars - (0.4 * 2 + 0.4 * 2)) < 1e-9, `DC energy $1.60 (${sum.dcDollars})`);
  t.ok(Math.abs(sum.baselineDollars - (0.4 * 2 + 1.2 * 2)) < 1e-9, `baseline $3.20 (${sum.baselineDollars})`);
});

t.test('VMs stay when the migration costs more than the saving', async (t) => {
  const s = parseScenario(lineScenario({ prices: crossover, dcs: twoDcs, placement: [{ dc: 'west', count: 4 }], joulesPerBit: joulesPerBitFor(0.5, 0.4) }));
  const plan = offlinePlan(s, memory, solve);
  t.equal(totals(plan).migrations, 0, 'no migration');
  t.ok(Math.abs(totals(plan).dollars - totals(plan).baselineDollars) < 1e-9, 'the plan is the baseline');
});

t.test('capacity pushes the surplus to the second-cheapest DC', async (t) => {
  const prices = { dear: [0.5, 0.5], cheap: [0.1, 0.1], second: [0.2, 0.2] };
  const dcs = [{ name: 'dear', maxVMs: 10 }, { name: 'cheap', maxVMs: 3 }, { name: 'second', maxVMs: 10 }];
  const s = parseScenario(lineScenario({ prices, dcs, placement: [{ dc: 'dear', count: 5 }], joulesPerBit: joulesPerBitFor(0.01, 0.5) }));
  const plan = offlinePlan(s, memory, solve);
  t.same(vmsAt(plan, 0), [0, 3, 2], 'cheap fills to its 3, second takes the other 2, at once');
  t.same(vmsAt(plan, 1), [0, 3, 2], 'and they stay');
});

t.test('an unchanging price never migrates', async (t) => {
  const flat = [0.12, 0.12, 0.12, 0.12, 0.12, 0.12];
  const s = parseScenario(lineScenario({ prices: { west: flat, east: flat }, dcs: twoDcs, placement: [{ dc: 'west', count: 3 }, { dc: 'east', count: 2 }], joulesPerBit: 1e-8 }));
  const plan = offlinePlan(s, memory, solve);
  t.equal(totals(plan).migrations, 0);
  t.same(plan.hours.map((h) => vmsAt({ ...plan, hours: [h] }, 0)), flat.map(() => [3, 2]));
});

t.test('link capacity limits how many VMs move in one hour', async (t) => {
  // 1 GiB is 8.59 Gb; a 0.005 Gbps link carries 18 Gb an hour: two VMs per hour.
  const prices = { west: [0.1, 0.5, 0.5, 0.5], east: [0.1, 0.1, 0.1, 0.1] };
  const s = parseScenario(lineScenario({ prices, dcs: twoDcs, placement: [{ dc: 'west', count: 4 }], joulesPerBit: 1e-9, gbps: 0.005 }));
  const plan = offlinePlan(s, memory, solve);
  // West turns dear at hour 1, so all four must be out by then: two at hour 0 (prices are equal, the
  // move costs almost nothing) and two at hour 1.
  t.same(plan.hours.map((h) => h.moves.reduce((n, m) => n + m.count, 0)), [2, 2, 0, 0], 'two per hour, the link\'s limit');
  t.same(vmsAt(plan, 0), [2, 2]);
  t.same(vmsAt(plan, 1), [0, 4]);
});

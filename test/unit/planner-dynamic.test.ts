import t from 'tap';
import { greedyPlan, initialPlacement, network, offlinePlan, parseScenario, planWindow, rollingPlan, selectRacks, totals, windowOf, type Hour, type Solver } from '@ferry/planner';
import { highsSolver } from '../../cli/src/highs-solver.js';
import { joulesPerBitFor, lineScenario } from '../helpers/planner.js';

const solve = await highsSolver();
const memory = { kind: 'memory' } as const;
const near = (a: number, b: number): boolean => Math.abs(a - b) < 1e-9;
const vmsAt = (h: Hour): number[] => h.vms.map((row) => row.reduce((a, b) => a + b, 0));

t.test('departures free room: the dear DC\'s VMs move in when the cheap one empties', async (t) => {
  // West (0.1 $/kWh) is full with 4 VMs that leave after 2 hours; east (0.3) holds 2 for good. Each VM
  // draws 1 kW. Moving one east VM west at hour 2 saves 2 h x 0.2 $/kWh = $0.40 and costs $0.10.
  const doc = lineScenario({ prices: { west: [0.1, 0.1, 0.1, 0.1], east: [0.3, 0.3, 0.3, 0.3] }, dcs: [{ name: 'west', maxVMs: 4 }, { name: 'east', maxVMs: 8 }], placement: [{ dc: 'west', count: 4 }, { dc: 'east', count: 2 }], joulesPerBit: joulesPerBitFor(0.1, 0.4) }) as Record<string, any>;
  doc['placement'][0].lifetime = 2;
  const plan = offlinePlan(parseScenario(doc), memory, solve);
  t.same(plan.hours.map(vmsAt), [[4, 2], [4, 2], [2, 0], [2, 0]]);
  t.same(plan.hours.map((h) => h.departed), [0, 0, 4, 0], 'the four leave at the start of hour 2');
  t.same(plan.hours[2]!.moves.map((m) => [m.from, m.to, m.count]), [[1, 0, 2]]);
  const sum = totals(plan);
  t.ok(near(sum.dcDollars, 2 * (0.4 + 0.6) + 2 * 0.2), `DC energy $2.40 (${sum.dcDollars})`);
  t.ok(near(sum.migrationDollars, 0.2), `migration energy $0.20 (${sum.migrationDollars})`);
  t.ok(near(sum.baselineDollars, 2 * 1.0 + 2 * 0.6), `baseline $3.20 (${sum.baselineDollars})`);
});

t.test('a request that finds no room waits, is admitted when VMs leave, and its waiting is charged', async (t) => {
  // One DC of 2 VMs, full with 2 VMs that leave after 1 hour. A request for 2 VMs that run 2 hours
  // arrives at hour 0: it waits hour 0, runs hours 1-2, and leaves at hour 3. Waiting costs $0.50 a VM-hour.
  const doc = lineScenario({ prices: { solo: [0.1, 0.1, 0.1, 0.1] }, dcs: [{ name: 'solo', maxVMs: 2 }], placement: [{ dc: 'solo', count: 2 }] }) as Record<string, any>;
  doc['placement'][0].lifetime = 1;
  doc['timeline'] = [{ hour: 0, arrive: [{ dc: 'solo', class: 'std', count: 2, lifetime: 2 }] }];
  doc['queue'] = { dollarsPerVmHour: 0.5 };
  const plan = offlinePlan(parseScenario(doc), memory, solve);
  t.same(plan.hours.map((h) => h.waiting.flat()), [[2], [0], [0], [0]], 'two wait during hour 0');
  t.same(plan.hours.map(vmsAt), [[2], [2], [2], [0]]);
  t.same(plan.hours.map((h) => h.departed), [0, 2, 0, 2]);
  const sum = totals(plan);
  t.equal(sum.waitingVmHours, 2);
  t.ok(near(sum.waitingDollars, 1), `waiting charged $1.00 (${sum.waitingDollars})`);
  t.ok(near(sum.dollars, 3 * 0.2 + 1), `total $1.60 (${sum.dollars})`);
  t.ok(near(sum.baselineDollars, sum.dollars), 'one DC: the baseline is the same plan');
  const rolling = rollingPlan(parseScenario(doc), memory, solve);
  t.same(rolling.hours.map((h) => h.waiting.flat()), [[2], [0], [0], [0]], 'rolling: the queue carries from hour to hour');
  t.same(rolling.hours.map(vmsAt), [[2], [2], [2], [0]]);
});

t.test('a queued request is admitted at once where migrating a VM out makes room, if cheaper than never', async (t) => {
  // West (full, 1 VM) gets a request; east has room. Waiting is served first: the west VM moves east
  // at hour 0 (a cheap move) and the request is admitted at west the same hour. Nothing waits.
  const doc = lineScenario({ prices: { west: [0.1, 0.1], east: [0.1, 0.1] }, dcs: [{ name: 'west', maxVMs: 1 }, { name: 'east', maxVMs: 4 }], placement: [{ dc: 'west', count: 1 }], joulesPerBit: joulesPerBitFor(0.01, 0.2) }) as Record<string, any>;
  doc['timeline'] = [{ hour: 0, arrive: [{ dc: 'west', class: 'std', count: 1 }] }];
  doc['queue'] = {};
  const plan = offlinePlan(parseScenario(doc), memory, solve);
  t.same(plan.hours.map((h) => h.waiting.flat()), [[0, 0], [0, 0]]);
  t.same(plan.hours.map(vmsAt), [[1, 1], [1, 1]]);
  t.same(plan.baseline.map((h) => h.waiting.flat()), [[1, 0], [1, 0]], 'never migrating, the request waits the whole horizon');
});

t.test('server generations and class draws: "where" weighs efficiency, not only price', async (t) => {
  // Same price everywhere; west's servers draw 2 kW, east's 1 kW. Moving a VM saves 2 h x 1 kW x 0.1 = $0.20, costs $0.05.
  const doc = lineScenario({ prices: { west: [0.1, 0.1], east: [0.1, 0.1] }, dcs: [{ name: 'west', maxVMs: 4 }, { name: 'east', maxVMs: 4 }], placement: [{ dc: 'west', count: 2 }], joulesPerBit: joulesPerBitFor(0.05, 0.2) }) as Record<string, any>;
  doc['datacenters'][0].serverWatts = 2000;
  const plan = offlinePlan(parseScenario(doc), memory, solve);
  t.same(plan.hours.map(vmsAt), [[0, 2], [0, 2]], 'both move to the efficient DC at once');
  t.ok(near(totals(plan).dollars, 0.4 + 0.1), `$0.50 (${totals(plan).dollars})`);
  t.ok(near(totals(plan).baselineDollars, 0.8), `baseline $0.80 (${totals(plan).baselineDollars})`);
  // A class drawing 3 kW on the reference (1 kW) server, on west's 2 kW generation, draws 6 kW.
  doc['classes'][0].serverWatts = 3000;
  doc['power'].routerJoulesPerBit = 1;
  const heavy = offlinePlan(parseScenario(doc), memory, solve);
  t.equal(totals(heavy).migrations, 0, 'migration made dear: they stay');
  t.ok(near(totals(heavy).dollars, 2 * 2 * 6 * 0.1), `2 VMs x 2 h x 6 kW x $0.1 = $2.40 (${totals(heavy).dollars})`);
});

t.test('at a tie VMs stay where they are', async (t) => {
  const flat = [0.12, 0.12, 0.12];
  const plan = offlinePlan(parseScenario(lineScenario({ prices: { west: flat, east: flat }, dcs: [{ name: 'west', maxVMs: 8 }, { name: 'east', maxVMs: 8 }], placement: [{ dc: 'west', count: 3 }, { dc: 'east', count: 2 }], joulesPerBit: 0 })), memory, solve);
  t.equal(totals(plan).migrations, 0, 'free moves that gain nothing are not made');
  t.equal(totals(plan).saving, 0);
});

t.test('rack selection: departures and moves empty whole racks', async (t) => {
  const hour = (h: number, classServers: number[], racks: number): Hour => ({ hour: h, classServers: [classServers], racks: [racks] }) as unknown as Hour;
  const picked = selectRacks([hour(0, [2, 2], 2), hour(1, [1, 2], 2), hour(2, [1, 1], 1), hour(3, [3, 1], 2)], 2);
  t.same(picked.map((p) => p.on[0]), [[1, 2], [1, 2], [1], [1, 2]]);
  t.same(picked.map((p) => p.repacked[0]), [0, 0, 1, 0], 'hour 2: rack 2 keeps one server, moved into rack 1 so rack 2 goes dark');
  const shrink = selectRacks([hour(0, [5, 0], 3), hour(1, [2, 0], 1)], 2);
  t.same(shrink.map((p) => p.on[0]), [[1, 2, 3], [1]], 'servers leave the emptiest racks first');
  t.same(shrink.map((p) => p.repacked[0]), [0, 0], 'nothing to repack');
});

t.test('a solve stopped by its time limit still gives its plan, and says how far from optimal it is', async (t) => {
  // What HiGHS returns when its time runs out before it improves on the start: the start itself (here
  // the greedy plan the planner hands it: both VMs move east when it turns cheaper at hour 1), with the
  // bound it proved so far.
  const s = parseScenario(lineScenario({ prices: { west: [0.1, 0.3], east: [0.2, 0.1] }, dcs: [{ name: 'west', maxVMs: 8 }, { name: 'east', maxVMs: 8 }], placement: [{ dc: 'west', count: 2 }], joulesPerBit: 1e-9 }));
  const stopped: Solver = (_lp, start) => ({ status: 'time-limit', columns: start ?? {}, objective: 1000, bound: 900, gap: 0.1 });
  const w = windowOf(s, network(s, memory), 0, initialPlacement(s), Infinity);
  const { hours, proof } = planWindow(w, stopped);
  t.same(hours.map(vmsAt), [[2, 0], [0, 2]], 'the start is the plan');
  t.same(proof, { status: 'time-limit', gap: 0.1, boundDollars: 0.9 });
  const nothing: Solver = () => ({ status: 'time-limit', columns: {} });
  t.throws(() => planWindow(w, nothing), { message: /found no plan within its time limit; give it more \(--time-limit\) or a larger gap \(--gap\)/ });
});

t.test('the greedy start: the cheapest DC per VM each hour, within link capacity, never beyond the hour', async (t) => {
  const crossover = { west: [0.1, 0.1, 0.3, 0.3], east: [0.2, 0.2, 0.1, 0.1] };
  const twoDcs = [{ name: 'west', maxVMs: 8 }, { name: 'east', maxVMs: 8 }];
  const windowFor = (doc: Record<string, unknown>): ReturnType<typeof windowOf> => { const s = parseScenario(doc); return windowOf(s, network(s, memory), 0, initialPlacement(s), Infinity); };
  const moved = (hours: Hour[] | undefined): number[] => (hours ?? []).map((h) => h.moves.reduce((n, m) => n + m.count, 0));
  // A move saves 0.2 $/kWh x 1 kW = $0.20 in its first hour; at $0.30 a move the greedy stays (the MILP,
  // seeing two hours of saving, moves: the first test of planner-optimum), at $0.10 it moves all four.
  t.same(moved(greedyPlan(windowFor(lineScenario({ prices: crossover, dcs: twoDcs, placement: [{ dc: 'west', count: 4 }], joulesPerBit: joulesPerBitFor(0.3, 0.4) })))), [0, 0, 0, 0]);
  t.same(moved(greedyPlan(windowFor(lineScenario({ prices: crossover, dcs: twoDcs, placement: [{ dc: 'west', count: 4 }], joulesPerBit: joulesPerBitFor(0.1, 0.4) })))), [0, 0, 4, 0]);
  // 1 GiB is 8.59 Gb; a 0.005 Gbps link carries 18 Gb an hour: two VMs per hour.
  t.same(moved(greedyPlan(windowFor(lineScenario({ prices: crossover, dcs: twoDcs, placement: [{ dc: 'west', count: 4 }], joulesPerBit: 1e-12, gbps: 0.005 })))), [0, 0, 2, 2]);
  const doc = lineScenario({ prices: crossover, dcs: twoDcs, placement: [{ dc: 'west', count: 4 }] }) as Record<string, any>;
  doc['placement'][0].lifetime = 2;
  t.equal(greedyPlan(windowFor(doc)), undefined, 'with lifetimes the solver starts from staying put');
});

import { readFileSync } from 'node:fs';
import t from 'tap';
import { calibrate, initialPlacement, migrationCost, migrationRequests, network, offlinePlan, parseScenario, planWindow, rollingPlan, shortestRoute, totals, windowOf } from '@ferry/planner';
import { highsSolver } from '../../cli/src/highs-solver.js';
import { lineScenario } from '../helpers/planner.js';
import { repoPath } from '../helpers/repo.js';

const solve = await highsSolver();
const example = (name: string): Record<string, unknown> => JSON.parse(readFileSync(repoPath('examples', 'plans', name), 'utf8')) as Record<string, unknown>;
const twoDcs = [{ name: 'west', maxVMs: 8 }, { name: 'east', maxVMs: 8 }];
const flat = { west: [0.1, 0.1], east: [0.1, 0.1] };

t.test('schema errors name the field and its path, all of them at once', async (t) => {
  const doc = lineScenario({ prices: flat, dcs: twoDcs, placement: [{ dc: 'west', count: 2 }] }) as Record<string, any>;
  doc['datacenters'][1].node = 7;
  delete doc['power'].serverWatts;
  doc['placement'][0].dc = 'north';
  doc['prices'].east = [0.1];
  t.throws(() => parseScenario(doc), {
    code: 'FERRY_ERR_SCENARIO',
    message: /prices\.east: expected a price for each of the 2 hours, got 1[\s\S]*datacenters\[1\]\.node: expected an integer in 1\.\.2, got 7[\s\S]*power\.serverWatts: expected a number >= 0, got nothing \(missing\)[\s\S]*placement\[0\]\.dc: "north" is not one of west, east/,
  });
  t.throws(() => parseScenario([]), { message: /scenario: expected an object, got an array/ });
  t.throws(() => parseScenario({ ...doc, topology: { nodes: 2, links: [{ a: 1, b: 1, km: 1, gbps: 1 }], zones: ['west', 'east'] } }), { message: /topology\.links\[0\]: a link joins two different nodes/ });
});

t.test('horizon, sizes and out-of-range numbers are refused with their path', async (t) => {
  const doc = lineScenario({ prices: flat, dcs: twoDcs, placement: [{ dc: 'west', count: 2 }] }) as Record<string, any>;
  t.throws(() => parseScenario(doc, 1_000_000), { code: 'FERRY_ERR_SCENARIO', message: /--hours: expected an integer in 1\.\.744, got 1000000/ });
  t.throws(() => parseScenario({ ...doc, hours: 745 }), { message: /hours: expected an integer in 1\.\.744, got 745/ });
  const zero = structuredClone(doc);
  zero['classes'][0].memoryGiB = 0;
  t.throws(() => parseScenario(zero), { message: /classes\[0\]\.memoryGiB: expected a number > 0, got 0/ });
  const huge = JSON.parse(JSON.stringify(doc).replace('"rackWatts":0', '"rackWatts":1e400')) as unknown;
  t.throws(() => parseScenario(huge), { message: /power\.rackWatts: expected a number >= 0, got a number out of range/ });
});

t.test('every example scenario validates', async (t) => {
  for (const name of ['tiny.json', 'paper-100.json', 'paper-200.json', 'paper-300.json', 'mixed-classes.json', 'dynamic.json']) {
    t.doesNotThrow(() => parseScenario(example(name)), name);
  }
});

t.test('infeasibility names the constraint family', async (t) => {
  const three = [{ name: 'a', maxVMs: 90 }, { name: 'b', maxVMs: 90 }, { name: 'c', maxVMs: 90 }];
  const s = parseScenario(lineScenario({ prices: { a: [0.1], b: [0.1], c: [0.1] }, dcs: three, placement: [{ dc: 'a', count: 100 }, { dc: 'b', count: 100 }, { dc: 'c', count: 100 }] }));
  t.throws(() => offlinePlan(s, { kind: 'memory' }, solve), { code: 'FERRY_ERR_INFEASIBLE', message: 'DC capacity: 300 VMs do not fit in 3 DCs of 90' });
  // West starts over its capacity; the surplus cannot cross a link that carries no VM in an hour.
  const stuck = parseScenario(lineScenario({ prices: flat, dcs: [{ name: 'west', maxVMs: 2 }, { name: 'east', maxVMs: 8 }], placement: [{ dc: 'west', count: 4 }], gbps: 0.001 }));
  t.throws(() => offlinePlan(stuck, { kind: 'memory' }, solve), { code: 'FERRY_ERR_INFEASIBLE', message: /^link capacity: / });
  const cut = lineScenario({ prices: flat, dcs: [{ name: 'west', maxVMs: 2 }, { name: 'east', maxVMs: 8 }], placement: [{ dc: 'west', count: 4 }] }) as Record<string, any>;
  cut['topology'].links = [];
  t.throws(() => parseScenario(cut), { code: 'FERRY_ERR_SCENARIO', message: /topology\.links: the data centres are not all connected by a route: \{west\} and \{east\} cannot reach each other/ });
});

t.test('a model too large to build is refused before it is built', async (t) => {
  const dcs = Array.from({ length: 80 }, (_, i) => ({ name: `dc${i}`, maxVMs: 10 }));
  const prices = Object.fromEntries(dcs.map((d) => [d.name, new Array<number>(744).fill(0.1)]));
  const s = parseScenario(lineScenario({ prices, dcs, placement: [{ dc: 'dc0', count: 1 }] }));
  t.throws(() => offlinePlan(s, { kind: 'memory' }, solve), { code: 'FERRY_ERR_INFEASIBLE', message: /^model size: 744 hours x 80 DCs \(6320 pairs\) x 1 groups .* more than 3000000; plan fewer hours \(--hours\)/ });
});

t.test('routes are the shortest by length', async (t) => {
  const links = [{ a: 1, b: 2, km: 10, gbps: 1 }, { a: 2, b: 3, km: 10, gbps: 1 }, { a: 1, b: 3, km: 30, gbps: 1 }];
  t.same(shortestRoute(3, links, 1, 3), { nodes: [1, 2, 3], links: [0, 1], km: 20 });
  t.equal(shortestRoute(4, links, 1, 4), undefined, 'unconnected');
  const paper = parseScenario(example('paper-100.json'));
  t.same(shortestRoute(paper.nodes, paper.links, 2, 6)?.nodes, [2, 3, 6], 'Palo Alto to Houston via San Diego');
});

t.test('migration models: memory size, ferry pre-copy, calibration from migrate --json', async (t) => {
  const quiet = { name: 'q', memoryGiB: 1, vmsPerServer: 1, dirtyMBps: 0 };
  const busy = { ...quiet, dirtyMBps: 100 };
  const link = 125e6;
  t.equal(migrationCost(busy, link, { kind: 'memory' }).bytes, 2 ** 30, 'the paper charges the memory size');
  t.equal(migrationCost(quiet, link, { kind: 'precopy', compression: 0.5 }).bytes, 2 ** 29, 'an idle guest: one pass, compressed');
  const heavy = migrationCost(busy, link, { kind: 'precopy', compression: 1 });
  t.ok(heavy.bytes > 2 * 2 ** 30 && heavy.bytes < 5 * 2 ** 30, `dirtying at 80% of the link re-sends a geometric series (${(heavy.bytes / 2 ** 30).toFixed(2)} GiB)`);
  const ndjson = [
    '{"event":"pass-end","pass":0,"dirtyPages":1,"bytesSent":1,"durationMs":1,"bandwidth":1,"stop":false,"final":false}',
    '{"result":"committed","migrationId":"a","bytesSent":2048,"totalMs":5,"pauseMs":1,"passes":2,"imageBytes":8192,"pagesSent":2,"zeroPages":0,"rawPages":2,"lz4Pages":0,"deltaPages":0,"copyPages":0}',
    '{"result":"committed","migrationId":"b","bytesSent":8192,"totalMs":5,"pauseMs":1,"passes":3,"imageBytes":8192,"pagesSent":4,"zeroPages":0,"rawPages":4,"lz4Pages":0,"deltaPages":0,"copyPages":0}',
    '{"result":"rolled-back","migrationId":"c","bytesSent":1,"imageBytes":1,"pagesSent":1}',
    '',
  ].join('\n');
  const c = calibrate(ndjson);
  t.same(c.runs.map((r) => [r.migrationId, r.compression, r.wirePerMemory]), [['a', 0.25, 0.25], ['b', 0.5, 1]], 'committed runs only');
  t.equal(c.compression, 0.5, 'the median');
  t.throws(() => calibrate('{"event":"connected"}\n'), { message: /no committed migration summary/ });
  t.throws(() => calibrate('nope\n'), { message: 'line 1: not JSON' });
});

t.test('the emitted schedule names VMs from the inventory and honours every capacity', async (t) => {
  const s = parseScenario(example('tiny.json'));
  const plan = offlinePlan(s, { kind: 'memory' }, solve);
  const requests = migrationRequests(s, plan.hours);
  t.same(requests.map((r) => [r.hour, r.vm, r.url, r.body.to, r.body.image[0]]), ['a', 'b', 'c', 'd'].map((x) => [2, `vm-${x}`, 'http://west.example:7071/migrations', 'ws://east.example:7070', `vm-${x}=/srv/vm-${x}.img`]));
  // Replay the requests against the inventory and the DC sizes, independently of the planner's checks.
  const where = new Map(s.inventory.map((v) => [v.name, v.dc]));
  for (const hour of plan.hours) {
    for (const r of requests.filter((x) => x.hour === hour.hour)) {
      t.equal(where.get(r.vm), r.from, `${r.vm} is at ${r.from} when it leaves`);
      where.set(r.vm, r.to);
    }
    for (const dc of s.datacenters) t.ok([...where.values()].filter((d) => d === dc.name).length <= dc.maxVMs, `hour ${hour.hour}: ${dc.name} within ${dc.maxVMs}`);
  }
});

t.test('the 100-VM paper plan honours DC, server, rack and link capacity in every hour', async (t) => {
  const s = parseScenario(example('paper-100.json'), 8);
  const plan = offlinePlan(s, { kind: 'memory' }, solve);
  const perHourBits = (h: (typeof plan.hours)[number], link: number): number => h.moves.filter((m) => plan.network.routes[m.from]![m.to]!.links.includes(link)).reduce((n, m) => n + m.bits, 0);
  for (const h of plan.hours) {
    t.equal(h.vms.flat().reduce((a, b) => a + b, 0), 100, `hour ${h.hour}: 100 VMs`);
    s.datacenters.forEach((dc, d) => {
      const vms = h.vms[d]![0]!;
      t.ok(vms <= dc.maxVMs && vms <= h.servers[d]! * 4 && h.servers[d]! <= h.racks[d]! * s.power.serversPerRack, `hour ${h.hour} ${dc.name}: ${vms} VMs, ${h.servers[d]} servers, ${h.racks[d]} racks`);
    });
    s.links.forEach((link, l) => t.ok(perHourBits(h, l) <= link.gbps * 3600e9, `hour ${h.hour} link ${link.a}-${link.b}`));
  }
  t.ok(totals(plan).dollars <= totals(plan).baselineDollars, 'never worse than staying put');
});

t.test('rolling horizon: requests and price updates arrive hour by hour', async (t) => {
  const doc = lineScenario({ prices: { west: [0.1, 0.1, 0.1, 0.1], east: [0.2, 0.2, 0.2, 0.2] }, dcs: twoDcs, placement: [{ dc: 'west', count: 2 }], joulesPerBit: 1e-9 }) as Record<string, any>;
  // At hour 2 west's price triples from then on, and two VMs arrive at west.
  doc['timeline'] = [{ hour: 2, arrive: [{ dc: 'west', class: 'std', count: 2 }], prices: { west: [0.3, 0.3] } }];
  const s = parseScenario(doc);
  const rolling = rollingPlan(s, { kind: 'memory' }, solve);
  t.same(rolling.hours.map((h) => h.vms.map((row) => row[0])), [[2, 0], [2, 0], [0, 4], [0, 4]], 'stays until the update is known, then moves all four');
  const offline = offlinePlan(s, { kind: 'memory' }, solve);
  t.ok(totals(offline).dollars <= totals(rolling).dollars + 1e-9, 'foresight is never worse than rolling');
  const w = windowOf(s, network(s, { kind: 'memory' }), 0, initialPlacement(s), Infinity);
  t.same(planWindow(w, solve).hours.map((h) => h.vms.map((row) => row[0])), offline.hours.map((h) => h.vms.map((row) => row[0])));
});

// Writes the paper-setting scenarios of examples/plans (see README.md here for every number's source).
// Run: node examples/plans/generate.mjs
import { writeFileSync } from 'node:fs';

const here = new URL('.', import.meta.url);

// NSFNET T1 backbone, 14 nodes and 21 links, with the link lengths (km) as the topology is commonly
// reproduced in optical networking papers; node 2 Palo Alto, 5 Boulder, 6 Houston (see README.md).
const LINKS = [
  [1, 2, 1100], [1, 3, 1600], [1, 8, 2800], [2, 3, 600], [2, 4, 1000], [3, 6, 2000], [4, 5, 600],
  [4, 11, 2400], [5, 6, 1100], [5, 7, 800], [6, 10, 1200], [6, 14, 2000], [7, 8, 700], [8, 9, 700],
  [9, 10, 900], [9, 12, 500], [9, 13, 500], [11, 12, 800], [11, 13, 800], [12, 14, 300], [13, 14, 300],
];
// Time zone of each node (1..14): Seattle, Palo Alto, San Diego | Salt Lake City, Boulder | Houston,
// Lincoln, Champaign | Pittsburgh, Atlanta, Ann Arbor, Ithaca, Princeton, College Park.
const ZONES = ['pacific', 'pacific', 'pacific', 'mountain', 'mountain', 'central', 'central', 'central', 'eastern', 'eastern', 'eastern', 'eastern', 'eastern', 'eastern'];
// UTC offset and an average wholesale level ($/kWh) per zone: illustrative, chosen close together so
// that the time-zone shift of the daily shape decides which DC is cheapest (the paper's premise).
const ZONE = { pacific: [-8, 0.050], mountain: [-7, 0.047], central: [-6, 0.046], eastern: [-5, 0.052] };
// Daily shape by local hour (multiplier of the level): night trough, morning ramp, evening peak, the
// shape of US day-ahead wholesale prices on a summer weekday.
const SHAPE = [0.80, 0.75, 0.72, 0.70, 0.70, 0.74, 0.85, 0.97, 1.02, 1.04, 1.05, 1.06, 1.06, 1.07, 1.10, 1.15, 1.22, 1.32, 1.35, 1.28, 1.15, 1.02, 0.93, 0.86];
const HOURS = 24;
// Hour 0 of the plan is 00:00 UTC.
const prices = Object.fromEntries(Object.entries(ZONE).map(([zone, [offset, level]]) => [
  zone, Array.from({ length: HOURS }, (_, h) => Number((level * SHAPE[(((h + offset) % 24) + 24) % 24]).toFixed(5))),
]));

const topology = { nodes: 14, links: LINKS.map(([a, b, km]) => ({ a, b, km, gbps: 1 })), zones: ZONES };
const power = { rackWatts: 1500, serverWatts: 300, serversPerRack: 10, routerJoulesPerBit: 10e-9 };
const datacenters = [
  { name: 'dc2-paloalto', node: 2, maxVMs: 150 },
  { name: 'dc5-boulder', node: 5, maxVMs: 150 },
  { name: 'dc6-houston', node: 6, maxVMs: 150 },
];
const std = { name: 'std', memoryGiB: 4, vmsPerServer: 4, dirtyMBps: 40 };

function scenario(name, split, extra = {}) {
  const placement = datacenters.map((dc, i) => ({ dc: dc.name, class: 'std', count: split[i] }));
  return { name, hours: HOURS, topology, prices, datacenters, power, classes: [std], placement, ...extra };
}

const write = (file, doc) => writeFileSync(new URL(file, here), `${JSON.stringify(doc, null, 1)}\n`);
write('paper-100.json', scenario('paper-100', [36, 29, 35]));
write('paper-200.json', scenario('paper-200', [71, 57, 72]));
write('paper-300.json', scenario('paper-300', [106, 96, 98]));

// Beyond the paper: two VM classes, and a timeline of requests and a price update for --rolling.
const classes = [
  { name: 'web', memoryGiB: 2, vmsPerServer: 8, dirtyMBps: 20 },
  { name: 'db', memoryGiB: 16, vmsPerServer: 2, dirtyMBps: 150 },
];
const mixed = scenario('mixed-classes', [0, 0, 0], { classes });
mixed.placement = [
  { dc: 'dc2-paloalto', class: 'web', count: 60 }, { dc: 'dc2-paloalto', class: 'db', count: 10 },
  { dc: 'dc5-boulder', class: 'web', count: 50 }, { dc: 'dc5-boulder', class: 'db', count: 12 },
  { dc: 'dc6-houston', class: 'web', count: 55 }, { dc: 'dc6-houston', class: 'db', count: 8 },
];
const spike = prices.central.slice(14).map((p, i) => Number((p * (i < 5 ? 3 : 1)).toFixed(5)));
mixed.timeline = [
  { hour: 6, arrive: [{ dc: 'dc5-boulder', class: 'web', count: 30 }] },
  { hour: 12, arrive: [{ dc: 'dc2-paloalto', class: 'db', count: 6 }] },
  { hour: 14, prices: { central: spike } },
];
write('mixed-classes.json', mixed);

// The dynamic scenario: requests with lifetimes (short batch jobs, long services) that queue when their
// DC is full, Houston on a newer server generation (220 W where the others draw 300 W), and a batch
// class whose servers draw more than a web server (380 W on the reference generation).
const dynamic = scenario('dynamic', [0, 0, 0], {
  classes: [
    { name: 'web', memoryGiB: 4, vmsPerServer: 4, dirtyMBps: 40 },
    { name: 'batch', memoryGiB: 8, vmsPerServer: 2, dirtyMBps: 80, serverWatts: 380 },
  ],
  datacenters: datacenters.map((dc) => ({ ...dc, maxVMs: 120, ...(dc.node === 6 ? { serverWatts: 220 } : {}) })),
  queue: { dollarsPerVmHour: 0.02 },
});
dynamic.placement = [
  { dc: 'dc2-paloalto', class: 'web', count: 80 }, { dc: 'dc5-boulder', class: 'web', count: 70 }, { dc: 'dc6-houston', class: 'web', count: 60 },
  { dc: 'dc2-paloalto', class: 'batch', count: 30, lifetime: 5 }, { dc: 'dc6-houston', class: 'batch', count: 40, lifetime: 10 },
];
dynamic.timeline = [
  { hour: 2, arrive: [{ dc: 'dc5-boulder', class: 'batch', count: 60, lifetime: 4 }] },
  { hour: 6, arrive: [{ dc: 'dc2-paloalto', class: 'web', count: 50, lifetime: 12 }] },
  { hour: 9, arrive: [{ dc: 'dc6-houston', class: 'batch', count: 70, lifetime: 3 }] },
  { hour: 14, arrive: [{ dc: 'dc5-boulder', class: 'batch', count: 40, lifetime: 6 }, { dc: 'dc2-paloalto', class: 'web', count: 30 }] },
];
write('dynamic.json', dynamic);

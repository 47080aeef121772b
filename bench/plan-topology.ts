/**
 * The planner benchmark's networks: a 30-node backbone (a ring with chords, lengths from a seeded
 * generator, so every run plans the same instance) in 4 price zones, with DCs at its first 10, 20 or 30
 * nodes. Zones are blocks of nodes (1-8, 9-15, 16-23, 24-30), so the first 10 DCs sit 8 in one zone:
 * the symmetric case (many DCs with the same prices) that is hard to prove optimal.
 */
const NODES = 30;
const HOURS = 24;
/** UTC offset and average level ($/kWh) per zone, as in examples/plans/generate.mjs. */
const ZONES: ReadonlyArray<[string, number, number]> = [['pacific', -8, 0.05], ['mountain', -7, 0.047], ['central', -6, 0.046], ['eastern', -5, 0.052]];
const SHAPE = [0.8, 0.75, 0.72, 0.7, 0.7, 0.74, 0.85, 0.97, 1.02, 1.04, 1.05, 1.06, 1.06, 1.07, 1.1, 1.15, 1.22, 1.32, 1.35, 1.28, 1.15, 1.02, 0.93, 0.86];

function zoneOf(node: number): number {
  return node <= 8 ? 0 : node <= 15 ? 1 : node <= 23 ? 2 : 3;
}

/** A small linear congruential generator: the same numbers on every run and machine. */
function seeded(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return x / 2 ** 31;
  };
}

export function benchScenario(dcs: number, vms: number): Record<string, unknown> {
  const random = seeded(30);
  const links: Array<{ a: number; b: number; km: number; gbps: number }> = [];
  for (let n = 1; n <= NODES; n++) links.push({ a: n, b: (n % NODES) + 1, km: 300 + Math.round(random() * 900), gbps: 1 });
  for (let c = 0; c < 15; c++) {
    const a = 1 + Math.floor(random() * NODES);
    const b = 1 + ((a + 4 + Math.floor(random() * 20)) % NODES);
    if (a !== b && !links.some((l) => (l.a === a && l.b === b) || (l.a === b && l.b === a))) links.push({ a, b, km: 800 + Math.round(random() * 1600), gbps: 1 });
  }
  const prices = Object.fromEntries(ZONES.map(([zone, offset, level]) => [zone, Array.from({ length: HOURS }, (_, h) => Number((level * SHAPE[(((h + offset) % 24) + 24) % 24]!).toFixed(5)))]));
  const datacenters = Array.from({ length: dcs }, (_, i) => ({ name: `dc${i + 1}`, node: i + 1, maxVMs: Math.max(60, Math.ceil((2 * vms) / dcs)) }));
  const placement = datacenters.map((dc, i) => ({ dc: dc.name, class: 'std', count: Math.floor(vms / dcs) + (i < vms % dcs ? 1 : 0) }));
  return {
    name: `bench-${dcs}dc`, hours: HOURS,
    topology: { nodes: NODES, links, zones: Array.from({ length: NODES }, (_, i) => ZONES[zoneOf(i + 1)]![0]) },
    prices, datacenters,
    power: { rackWatts: 1500, serverWatts: 300, serversPerRack: 10, routerJoulesPerBit: 10e-9 },
    classes: [{ name: 'std', memoryGiB: 4, vmsPerServer: 4, dirtyMBps: 40 }],
    placement,
  };
}

/** Small hand-checkable scenarios for the planner tests, built as the JSON a user would write. */
export interface TinyOptions {
  readonly prices: Record<string, number[]>;
  readonly dcs: ReadonlyArray<{ name: string; maxVMs: number }>;
  readonly placement: ReadonlyArray<{ dc: string; count: number }>;
  readonly joulesPerBit?: number;
  readonly gbps?: number;
}

/** A fresh document each call (tests edit it): DCs on a line of nodes 1..n (one DC per node, its zone named after it), 1 kW per VM, 1 GiB VMs. */
export function lineScenario(o: TinyOptions): Record<string, unknown> {
  const n = o.dcs.length;
  const hours = Object.values(o.prices)[0]!.length;
  return structuredClone({
    name: 'test', hours,
    topology: { nodes: n, links: Array.from({ length: n - 1 }, (_, i) => ({ a: i + 1, b: i + 2, km: 100, gbps: o.gbps ?? 10 })), zones: o.dcs.map((d) => d.name) },
    prices: o.prices,
    datacenters: o.dcs.map((d, i) => ({ name: d.name, node: i + 1, maxVMs: d.maxVMs })),
    power: { rackWatts: 0, serverWatts: 1000, serversPerRack: 100, routerJoulesPerBit: o.joulesPerBit ?? 0 },
    classes: [{ name: 'std', memoryGiB: 1, vmsPerServer: 1 }],
    placement: o.placement.map((p) => ({ ...p, class: 'std' })),
  });
}

/** Joules per bit that make one 1 GiB migration cost `dollars` when the routers on its path sum to `priceSum` $/kWh. */
export function joulesPerBitFor(dollars: number, priceSum: number): number {
  return (dollars * 3.6e6) / (2 ** 30 * 8 * priceSum);
}

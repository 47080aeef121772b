/**
 * Which racks each DC keeps on. The MILP counts racks (the fewest that hold the hour's servers); this
 * names them, hour by hour, so that departures and migrations empty whole racks: servers that go are
 * taken from the emptiest racks first, new servers fill the fullest rack with room before a dark rack
 * is switched on, and when a DC is left with more racks on than it needs, the servers of its emptiest
 * racks are repacked into the others (moves inside the DC, counted in `repacked`).
 */
import type { Hour } from './schedule.js';

export interface RackHour {
  readonly hour: number;
  /** on[d]: the numbers (1, 2, ...) of the racks DC d keeps on, ascending. */
  readonly on: ReadonlyArray<readonly number[]>;
  /** repacked[d]: servers moved from one rack to another in DC d at the start of the hour. */
  readonly repacked: readonly number[];
}

/** A rack's servers per class. */
type Rack = number[];

export function selectRacks(hours: readonly Hour[], serversPerRack: number): RackHour[] {
  const dcs = hours[0]?.classServers.length ?? 0;
  const racks: Array<Map<number, Rack>> = Array.from({ length: dcs }, () => new Map());
  return hours.map((h) => {
    const repacked = racks.map((dc, d) => {
      h.classServers[d]!.forEach((need, k) => resize(dc, k, need, h.classServers[d]!.length, serversPerRack));
      return repack(dc, h.racks[d]!, serversPerRack);
    });
    return { hour: h.hour, on: racks.map((dc) => [...dc.keys()].sort((a, b) => a - b)), repacked };
  });
}

const used = (rack: Rack): number => rack.reduce((a, b) => a + b, 0);

/** Brings class k to `need` servers: removes from the emptiest racks, adds to the fullest with room. */
function resize(dc: Map<number, Rack>, k: number, need: number, classes: number, perRack: number): void {
  let have = [...dc.values()].reduce((s, rack) => s + rack[k]!, 0);
  while (have > need) {
    const [id, rack] = [...dc.entries()].filter(([, r]) => r[k]! > 0).sort(([a, x], [b, y]) => used(x) - used(y) || b - a)[0]!;
    const take = Math.min(rack[k]!, have - need);
    rack[k]! -= take;
    have -= take;
    if (used(rack) === 0) dc.delete(id);
  }
  while (have < need) {
    const fullest = [...dc.values()].filter((r) => used(r) < perRack).sort((x, y) => used(y) - used(x))[0];
    const rack = fullest ?? openRack(dc, classes);
    const put = Math.min(perRack - used(rack), need - have);
    rack[k]! += put;
    have += put;
  }
}

function openRack(dc: Map<number, Rack>, classes: number): Rack {
  let id = 1;
  while (dc.has(id)) id++;
  const rack = new Array<number>(classes).fill(0);
  dc.set(id, rack);
  return rack;
}

/** Empties the emptiest racks into the others until only `racks` stay on; returns the servers moved. */
function repack(dc: Map<number, Rack>, racks: number, perRack: number): number {
  let moved = 0;
  while (dc.size > racks) {
    const [id, emptiest] = [...dc.entries()].sort(([a, x], [b, y]) => used(x) - used(y) || b - a)[0]!;
    dc.delete(id);
    emptiest.forEach((count, k) => {
      let left = count;
      for (const rack of [...dc.values()].sort((x, y) => used(y) - used(x))) {
        const put = Math.min(perRack - used(rack), left);
        rack[k]! += put;
        left -= put;
      }
      moved += count;
    });
  }
  return moved;
}

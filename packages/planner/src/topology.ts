import type { Link } from './scenario.js';

/** A routed path: the nodes it visits (both ends included) and the indices of the links it uses. */
export interface Route { readonly nodes: readonly number[]; readonly links: readonly number[]; readonly km: number }

/**
 * The shortest path by length (km) from `from` to `to` (Dijkstra; ties go to the lower node number, so
 * a scenario always routes the same way). Undefined when the nodes are not connected.
 */
export function shortestRoute(nodes: number, links: readonly Link[], from: number, to: number): Route | undefined {
  const distance = new Array<number>(nodes + 1).fill(Infinity);
  const via = new Array<{ node: number; link: number } | undefined>(nodes + 1);
  const done = new Array<boolean>(nodes + 1).fill(false);
  distance[from] = 0;
  for (;;) {
    let here = -1;
    for (let n = 1; n <= nodes; n++) if (!done[n] && distance[n]! < Infinity && (here < 0 || distance[n]! < distance[here]!)) here = n;
    if (here < 0 || here === to) break;
    done[here] = true;
    links.forEach((link, index) => {
      const next = link.a === here ? link.b : link.b === here ? link.a : -1;
      if (next < 0 || done[next]) return;
      const d = distance[here]! + link.km;
      if (d < distance[next]!) {
        distance[next] = d;
        via[next] = { node: here, link: index };
      }
    });
  }
  if (distance[to] === Infinity) return undefined;
  const path = [to];
  const used: number[] = [];
  for (let n = to; n !== from;) {
    const step = via[n]!;
    used.unshift(step.link);
    path.unshift(step.node);
    n = step.node;
  }
  return { nodes: path, links: used, km: distance[to]! };
}

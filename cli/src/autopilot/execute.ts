/**
 * Runs a period's migrations: POST each to its source daemon as soon as its route's links have room
 * (`startable`), follow it on that daemon's /events to its end. A refused POST is an outcome like any
 * other: the VM stays where it is.
 */
import { migrationBody, type AutopilotScenario } from './config.js';
import { DaemonError, type EventWatch, type Outcome, type SourceClient } from './daemons.js';
import { startable, type Start } from './decide.js';
import type { FleetVm } from './fleet.js';

export interface Finished { readonly start: Start; readonly outcome: Outcome }

/** Who hears of each migration: as it is begun (before its POST), and as it ends, whatever the end. */
export interface Progress {
  starting(start: Start): void;
  ended(finished: Finished): void;
}

export async function runStarts(ap: AutopilotScenario, vms: readonly FleetVm[], starts: readonly Start[], clients: readonly SourceClient[], maxPerLink: number, progress: Progress): Promise<Finished[]> {
  const watches = new Map<number, EventWatch | Outcome>();
  for (const from of new Set(starts.map((s) => s.from))) {
    watches.set(from, await clients[from]!.watch().catch((error: unknown) => ({ result: 'failed-to-start' as const, error: message(error) })));
  }
  const finished: Finished[] = [];
  let pending = [...starts];
  const running = new Map<string, { start: Start; done: Promise<Finished> }>();
  try {
    while (pending.length > 0 || running.size > 0) {
      for (const start of startable(pending, [...running.values()].map((r) => r.start), maxPerLink)) {
        pending = pending.filter((p) => p !== start);
        running.set(start.id, { start, done: follow(ap, vms, start, clients[start.from]!, watches.get(start.from)!, progress.starting) });
      }
      const next = await Promise.race([...running.values()].map((r) => r.done));
      running.delete(next.start.id);
      finished.push(next);
      progress.ended(next);
    }
  } finally {
    for (const watch of watches.values()) if ('close' in watch) watch.close();
  }
  return finished;
}

async function follow(ap: AutopilotScenario, vms: readonly FleetVm[], start: Start, client: SourceClient, watch: EventWatch | Outcome, onStarting: (start: Start) => void): Promise<Finished> {
  onStarting(start);
  if (!('wait' in watch)) return { start, outcome: watch };
  const vm = vms.find((v) => v.name === start.vm)!;
  try {
    await client.start(migrationBody(ap, vm, start.to, start.id));
  } catch (error) {
    if (error instanceof DaemonError) return { start, outcome: { result: 'failed-to-start', error: error.message } };
    throw error;
  }
  return { start, outcome: await watch.wait(start.id) };
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

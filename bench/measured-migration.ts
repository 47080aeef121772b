/**
 * One `ferry migrate` to a fresh `ferry target --once` on loopback, with each agent's cost read from /proc
 * around pass 0: CPU (user + system) of the source and of the target on their own, and peak RSS.
 */
import { join } from 'node:path';
import { runMigrate, startTarget, type TeardownList } from '../test/helpers/ferry.js';
import { cpuBetween, processCost, threadsBetween, threadTimes, type ProcessCost, type ThreadTimes } from './meter.js';

export type Event = Record<string, unknown>;

export interface MeasuredMigration {
  readonly events: Event[];
  readonly summary: Event;
  /** Pass 0 of the source: bytes of image per second. */
  readonly pass0Rate: number;
  readonly pass0Bytes: number;
  /** CPU seconds of pass 0, per agent. */
  readonly sourceCpu: { user: number; system: number };
  readonly targetCpu: { user: number; system: number };
  readonly sourcePeakRss: number;
  readonly targetPeakRss: number;
  /** The most delta-cache bytes the source reported holding at the end of a pass. */
  readonly deltaCacheBytes: number;
  /** Where pass 0's wall time went: each agent's own split, and its threads' CPU and run-queue time. */
  readonly stages: PassStages;
}

export interface PassStages {
  /** The source's main thread (its pass-end event's `stages`). */
  readonly source: Event;
  /** The target's main thread (its "pass applied" log line), when it logged one. */
  readonly target: Event | undefined;
  readonly sourceThreads: ReturnType<typeof threadsBetween>;
  /** Over the source's pass-0 window: the target is done a moment later. */
  readonly targetThreads: ReturnType<typeof threadsBetween>;
}

/** The target's "pass applied" log line for `pass`, from its stderr (pino JSON). */
function targetStages(stderr: string, pass: number): Event | undefined {
  for (const line of stderr.split('\n')) {
    if (!line.includes('"pass applied"')) continue;
    try {
      const entry = JSON.parse(line) as Event;
      if (entry['pass'] === pass) return entry['stages'] as Event;
    } catch {
      // the first line kept of a long stderr may be cut
    }
  }
  return undefined;
}

export async function measuredMigration(scope: TeardownList, dir: string, image: string, size: number, args: string[]): Promise<MeasuredMigration> {
  const target = await startTarget(scope, join(dir, 'target'), ['--log-level', 'info']);
  const targetPid = target.child.pid!;
  let sourceStart: ProcessCost | undefined;
  let targetStart: ProcessCost | undefined;
  let sourceEnd: ProcessCost | undefined;
  let targetEnd: ProcessCost | undefined;
  let sourcePeakRss = 0;
  let targetPeakRss = 0;
  let pass0Ended = false;
  const threads: Array<Map<string, ThreadTimes>> = [];
  const run = await runMigrate(scope, ['--to', target.url, '--image', `ram=${image}`, ...args], (event, child) => {
    const source = processCost(child.pid!);
    const sink = processCost(targetPid);
    sourcePeakRss = Math.max(sourcePeakRss, source?.peakRss ?? 0);
    targetPeakRss = Math.max(targetPeakRss, sink?.peakRss ?? 0);
    if (event['event'] === 'pass-begin' && event['pass'] === 0) {
      sourceStart = source;
      targetStart = sink;
      threads.push(threadTimes(child.pid!), threadTimes(targetPid));
    } else if (event['event'] === 'pass-end' && event['pass'] === 0) {
      sourceEnd = source;
      pass0Ended = true;
      threads.push(threadTimes(child.pid!), threadTimes(targetPid));
    } else if (event['event'] === 'pass-end' && pass0Ended && targetEnd === undefined) {
      // The target applies what was still in flight when the source ended pass 0; by the end of the next
      // pass (no new pages on a cold image) it has.
      targetEnd = sink;
    }
  });
  if (run.summary['result'] !== 'committed') throw new Error(`migration did not commit: ${JSON.stringify(run.summary)} ${run.stderr.slice(-2000)}`);
  await target.exited;
  const pass0 = run.events.find((e) => e['event'] === 'pass-end' && e['pass'] === 0)!;
  const passEnds = run.events.filter((e) => e['event'] === 'pass-end');
  return {
    events: run.events,
    summary: run.summary,
    pass0Rate: (size * 1000) / Number(pass0['durationMs']),
    pass0Bytes: Number(pass0['bytesSent']),
    sourceCpu: cpuBetween(sourceStart, sourceEnd),
    targetCpu: cpuBetween(targetStart, targetEnd),
    sourcePeakRss,
    targetPeakRss,
    deltaCacheBytes: Math.max(0, ...passEnds.map((e) => Number(e['deltaCacheBytes'] ?? 0))),
    stages: {
      source: (pass0['stages'] ?? {}) as Event,
      target: targetStages(target.stderr(), 0),
      sourceThreads: threadsBetween(threads[0] ?? new Map(), threads[2] ?? new Map()),
      targetThreads: threadsBetween(threads[1] ?? new Map(), threads[3] ?? new Map()),
    },
  };
}

import type { DaemonMetrics } from '@ferry/serve';
import type { TargetEvent } from './types.js';

interface Received {
  readonly startedAt: number;
  detached: boolean;
  /** The highest pass that ended (pass 0 is the first). */
  lastPass: number;
}

/**
 * Turns the target's session events into its metrics: a session counts as started at its first attach,
 * a later attach after a detach is a resumed connection, and every PASS_END adds the bytes the source
 * says that pass carried. Bounded: a session is forgotten when it ends.
 */
export class TargetMetricsFeed {
  readonly #metrics: DaemonMetrics;
  readonly #sessions = new Map<string, Received>();

  constructor(metrics: DaemonMetrics) {
    this.#metrics = metrics;
  }

  event(event: TargetEvent): void {
    const { migrationId } = event;
    const session = this.#sessions.get(migrationId);
    switch (event.event) {
      case 'attached':
        if (session === undefined) {
          this.#sessions.set(migrationId, { startedAt: performance.now(), detached: false, lastPass: -1 });
          this.#metrics.started();
        } else if (session.detached) {
          session.detached = false;
          this.#metrics.reconnected();
        }
        return;
      case 'detached':
        if (session) session.detached = true;
        return;
      case 'pass-end': {
        const pass = numberOr(event['pass'], 0);
        if (session) session.lastPass = Math.max(session.lastPass, pass);
        this.#metrics.bytes('pages', numberOr(event['bytes'], 0));
        this.#metrics.live(migrationId, { pass });
        return;
      }
      case 'verify':
        this.#metrics.verified(event['ok'] === true, 0);
        return;
      case 'committed':
      case 'failed':
        this.#ended(migrationId, event);
        return;
      default:
        return;
    }
  }

  #ended(migrationId: string, event: TargetEvent): void {
    const session = this.#sessions.get(migrationId);
    this.#sessions.delete(migrationId);
    const code = typeof event['code'] === 'string' ? event['code'] : undefined;
    this.#metrics.ended(migrationId, {
      result: event.event === 'committed' ? 'committed' : 'failed', code,
      ...(session ? { totalMs: performance.now() - session.startedAt, passes: session.lastPass + 1 } : {}),
    });
  }
}

function numberOr(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
}

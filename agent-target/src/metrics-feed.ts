import type { DaemonMetrics, TargetEvent } from '@ferry/serve';

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
      case 'pass-end':
        if (session) session.lastPass = Math.max(session.lastPass, event.pass);
        this.#metrics.bytes('pages', event.bytes);
        this.#metrics.live(migrationId, { pass: event.pass });
        return;
      case 'verify':
        this.#metrics.verified(event.ok, 0);
        return;
      case 'committed':
        this.#ended(migrationId, 'committed', undefined);
        return;
      case 'failed':
        this.#ended(migrationId, 'failed', event.code);
        return;
      case 'commit-ready':
        return;
      default:
        unhandled(event);
    }
  }

  #ended(migrationId: string, result: 'committed' | 'failed', code: string | undefined): void {
    const session = this.#sessions.get(migrationId);
    this.#sessions.delete(migrationId);
    this.#metrics.ended(migrationId, {
      result, code,
      ...(session ? { totalMs: performance.now() - session.startedAt, passes: session.lastPass + 1 } : {}),
    });
  }
}

/** Every event has its case above: a new one does not compile until it has one. */
function unhandled(_event: never): void {}

import { createRequire } from 'node:module';
import type { Counter, Gauge, Histogram, Registry } from 'prom-client';

const require = createRequire(import.meta.url);

/**
 * prom-client, loaded at the first registry (`require` keeps it after that): with the OpenTelemetry API
 * it pulls in (about 90 files) it cost a process 1-1.5 MiB of memory, and `ferry migrate` (which imports
 * this package for its hooks and vocabulary) keeps no metrics. Loaded synchronously, so the metric
 * classes stay plain constructors.
 */
export const prom = (): typeof import('prom-client') => require('prom-client') as typeof import('prom-client');

/** How a migration ended, as each daemon sees it: the source's summary result, or the target's outcome. */
export type EndResult = 'committed' | 'rolled-back' | 'unknown' | 'failed' | 'failed-to-start';
/**
 * What a byte on the wire carried. The source knows: guest RAM (with the control messages around it), a
 * guest disk, or device state. The target counts the page bytes of every image as `pages`.
 */
export type ByteKind = 'ram' | 'disk' | 'state' | 'pages';
/** Page encodings as the metrics name them (the wire's XOR_LZ4 is `xor_lz4`). */
export type PageEncodingName = 'zero' | 'raw' | 'lz4' | 'xor_lz4' | 'copy';

/** The convergence figures of a running migration; a figure left out is not known yet. */
export interface LiveFigures {
  readonly pass?: number | undefined;
  readonly dirtyRate?: number | undefined;
  readonly sendRate?: number | undefined;
  readonly throttle?: number | undefined;
  readonly expectedPauseMs?: number | undefined;
}

export interface EndFigures {
  readonly result: EndResult;
  readonly code?: string | undefined;
  readonly totalMs?: number | undefined;
  readonly pauseMs?: number | undefined;
  readonly passes?: number | undefined;
}

/** What GET /metrics serves: the exposition text and its content type. */
export interface MetricsSource {
  render(): Promise<{ readonly contentType: string; readonly body: string }>;
}

/**
 * A registry of its own for one part of ferry (two daemons in one process, as in the tests, do not mix):
 * every series carries `role`, beside the standard process_* and nodejs_* names (memory, CPU, event-loop
 * lag) that Node dashboards expect.
 */
export function metricsRegistry(role: string): Registry {
  const registry = new (prom().Registry)();
  registry.setDefaultLabels({ role });
  prom().collectDefaultMetrics({ register: registry });
  return registry;
}

/** The exposition text of `registry`, for GET /metrics. */
export async function renderMetrics(registry: Registry): Promise<{ readonly contentType: string; readonly body: string }> {
  return { contentType: registry.contentType, body: await registry.metrics() };
}

const PAUSE_BUCKETS_S = [0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5, 10, 30];
const TOTAL_BUCKETS_S = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600];
const PASS_BUCKETS = [1, 2, 3, 4, 5, 7, 10, 15, 20, 30];

/**
 * The Prometheus metrics of one daemon, in a registry of its own. Every series carries `role` (source or
 * target). The daemons feed it from the same events that /events carries; `running()` is read at scrape
 * time, so the gauge can never drift.
 */
export class DaemonMetrics implements MetricsSource {
  readonly registry: Registry;
  readonly #started: Counter;
  readonly #ended: Counter<'result' | 'code'>;
  readonly #bytes: Counter<'kind'>;
  readonly #pages: Counter<'encoding'>;
  readonly #recordBytes: Counter<'encoding'>;
  readonly #verifyFailures: Counter;
  readonly #verifyMismatchedPages: Counter;
  readonly #reconnects: Counter;
  readonly #pause: Histogram;
  readonly #total: Histogram;
  readonly #passes: Histogram;
  readonly #live: Record<keyof LiveFigures, Gauge<'migration_id'>>;

  constructor(role: 'source' | 'target', running: () => number) {
    this.registry = metricsRegistry(role);
    const registers = [this.registry];
    const { Counter, Gauge, Histogram } = prom();
    const counter = <L extends string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> => new Counter({ name, help, labelNames, registers });
    this.#started = counter('ferry_migrations_started_total', 'Migrations this daemon started (source) or accepted (target).');
    this.#ended = counter('ferry_migrations_ended_total', 'Migrations that ended, by result and FERRY_ERR_ code (empty when none).', ['result', 'code']);
    this.#bytes = counter('ferry_wire_bytes_total', role === 'source' ? 'Bytes sent to targets, by what they carried.' : 'Page bytes received from sources.', ['kind']);
    this.#pages = counter('ferry_pages_total', 'Pages sent, by encoding (zero pages are skipped: no payload).', ['encoding']);
    this.#recordBytes = counter('ferry_record_bytes_total', 'Bytes of page records (header and payload) sent, by encoding.', ['encoding']);
    this.#verifyFailures = counter('ferry_verify_failures_total', 'Verify rounds whose page-hash digests differed.');
    this.#verifyMismatchedPages = counter('ferry_verify_mismatched_pages_total', 'Pages a verify found different and had re-sent.');
    this.#reconnects = counter('ferry_reconnects_total', 'Connections resumed after a cut during pre-copy.');
    const histogram = (name: string, help: string, buckets: number[]): Histogram => new Histogram({ name, help, buckets, registers });
    this.#pause = histogram('ferry_migration_pause_seconds', 'How long the workload was paused, per migration that paused it.', PAUSE_BUCKETS_S);
    this.#total = histogram('ferry_migration_duration_seconds', 'Wall time of each migration, start to end.', TOTAL_BUCKETS_S);
    this.#passes = histogram('ferry_migration_passes', 'Passes per migration, the final pass included.', PASS_BUCKETS);
    new Gauge({ name: 'ferry_migrations_running', help: 'Migrations running now.', registers, collect() { this.set(running()); } });
    const gauge = (name: string, help: string): Gauge<'migration_id'> => new Gauge({ name, help, labelNames: ['migration_id'], registers });
    this.#live = {
      pass: gauge('ferry_migration_pass', 'The pass a running migration is in.'),
      dirtyRate: gauge('ferry_migration_dirty_rate_bytes_per_second', 'Bytes per second the workload dirties.'),
      sendRate: gauge('ferry_migration_send_rate_bytes_per_second', 'Bytes per second the newest pass put on the wire.'),
      throttle: gauge('ferry_migration_throttle_percent', 'Percent of the workload\'s time the throttle takes away.'),
      expectedPauseMs: gauge('ferry_migration_expected_pause_seconds', 'The pause if the workload stopped now.'),
    };
  }

  started(): void {
    this.#started.inc();
  }

  bytes(kind: ByteKind, count: number): void {
    if (count > 0) this.#bytes.inc({ kind }, count);
  }

  /** `count` pages of one encoding went out, in `recordBytes` bytes of records. */
  pages(encoding: PageEncodingName, count: number, recordBytes: number): void {
    if (count > 0) this.#pages.inc({ encoding }, count);
    if (recordBytes > 0) this.#recordBytes.inc({ encoding }, recordBytes);
  }

  verified(ok: boolean, mismatchedPages: number): void {
    if (!ok) this.#verifyFailures.inc();
    if (mismatchedPages > 0) this.#verifyMismatchedPages.inc(mismatchedPages);
  }

  reconnected(): void {
    this.#reconnects.inc();
  }

  /** Sets the figures given; the others keep their last value. */
  live(migrationId: string, figures: LiveFigures): void {
    for (const key of Object.keys(this.#live) as Array<keyof LiveFigures>) {
      const value = figures[key];
      if (value === undefined) continue;
      this.#live[key].set({ migration_id: migrationId }, key === 'expectedPauseMs' ? value / 1000 : value);
    }
  }

  /** The migration is over: counted by result, timed, and its live series dropped. */
  ended(migrationId: string, end: EndFigures): void {
    this.#ended.inc({ result: end.result, code: end.code ?? '' });
    if (end.totalMs !== undefined) this.#total.observe(end.totalMs / 1000);
    if (end.pauseMs !== undefined && end.pauseMs > 0) this.#pause.observe(end.pauseMs / 1000);
    if (end.passes !== undefined && end.passes > 0) this.#passes.observe(end.passes);
    for (const gauge of Object.values(this.#live)) gauge.remove({ migration_id: migrationId });
  }

  /** The exposition text and its content type, for GET /metrics. */
  render(): Promise<{ readonly contentType: string; readonly body: string }> {
    return renderMetrics(this.registry);
  }
}

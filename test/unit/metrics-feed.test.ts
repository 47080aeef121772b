/**
 * The daemons' metrics fed by hand-made event sequences: counters that only grow yet add up to the
 * summary even when a state blob's bytes were first seen as RAM, live series dropped at the end, a
 * resumed connection counted once, and the running gauge read at scrape time.
 */
import t from 'tap';
import { DaemonMetrics } from '@ferry/serve';
import { SourceMetricsFeed, type MigrationSummary } from '@ferry/agent-source';
import { TargetMetricsFeed } from '@ferry/agent-target';
import { parseExposition, valueOf, type Sample } from '../helpers/prometheus.js';

const scrape = async (metrics: DaemonMetrics): Promise<Sample[]> => parseExposition((await metrics.render()).body);

const SUMMARY: Omit<MigrationSummary, 'history'> = {
  result: 'committed', migrationId: 'm1', bytesSent: 10_000, totalMs: 4_000, pauseMs: 250, passes: 3, imageBytes: 65_536,
  pagesSent: 12, zeroPages: 2, rawPages: 5, lz4Pages: 3, deltaPages: 2, copyPages: 0,
  zeroBytes: 18, rawBytes: 6_000, lz4Bytes: 1_500, deltaBytes: 400, copyBytes: 0, packedBytesSaved: 0,
};

t.test('source: bytes by kind add up to bytesSent, pages and record bytes by encoding, timings', async (t) => {
  let running = 1;
  const metrics = new DaemonMetrics('source', () => running);
  const feed = new SourceMetricsFeed(metrics, 'm1');
  const progress = { event: 'progress', pass: 1, pagesSent: 0, bytesReceived: 0, rate: 0, imageBytes: 65_536, passFraction: 0.5, throttle: 20, rttMs: 1 } as const;
  feed.event({ ...progress, bytesSent: 4_000, dirtyRate: 1e6, sendRate: 5e6, expectedPauseMs: 300 });
  // A state blob goes out; a progress event counts its bytes before the state event names them.
  feed.event({ ...progress, bytesSent: 9_000 });
  feed.event({ event: 'state', name: 'qemu-state', bytes: 3_000 });
  feed.event({ event: 'verify', image: 'ram', ok: false, mismatchedPages: 4 });
  feed.event({ event: 'reconnected', pass: 1, attempts: 1, resumed: true, heldPages: 3 });

  const live = await scrape(metrics);
  t.equal(valueOf(live, 'ferry_migrations_running'), 1, 'the running gauge asks the daemon');
  t.equal(valueOf(live, 'ferry_migration_throttle_percent', { migration_id: 'm1' }), 20);
  t.equal(valueOf(live, 'ferry_migration_expected_pause_seconds', { migration_id: 'm1' }), 0.3, 'in seconds');
  t.equal(valueOf(live, 'ferry_wire_bytes_total', { kind: 'ram' }), 9_000, 'before the state event, its bytes looked like RAM');
  t.equal(valueOf(live, 'ferry_verify_failures_total'), 1);
  t.equal(valueOf(live, 'ferry_verify_mismatched_pages_total'), 4);
  t.equal(valueOf(live, 'ferry_reconnects_total'), 1);

  running = 0;
  feed.ended(SUMMARY);
  const after = await scrape(metrics);
  t.equal(valueOf(after, 'ferry_wire_bytes_total'), 10_000, 'the kinds add up to bytesSent');
  t.equal(valueOf(after, 'ferry_wire_bytes_total', { kind: 'state' }), 1_000, 'state gets only what RAM had not counted');
  t.equal(valueOf(after, 'ferry_pages_total', { encoding: 'xor_lz4' }), 2);
  t.equal(valueOf(after, 'ferry_record_bytes_total', { encoding: 'raw' }), 6_000);
  t.equal(valueOf(after, 'ferry_pages_total', { encoding: 'copy' }), undefined, 'no series for an encoding never used');
  t.equal(valueOf(after, 'ferry_migrations_ended_total', { result: 'committed', code: '' }), 1);
  t.equal(valueOf(after, 'ferry_migration_pause_seconds_sum'), 0.25);
  t.equal(valueOf(after, 'ferry_migration_pause_seconds_bucket', { le: '0.3' }), 1, 'in the 300 ms bucket');
  t.equal(valueOf(after, 'ferry_migration_duration_seconds_sum'), 4);
  t.equal(valueOf(after, 'ferry_migration_passes_sum'), 3);
  t.equal(valueOf(after, 'ferry_migration_throttle_percent', { migration_id: 'm1' }), undefined, 'live series dropped');
  t.equal(valueOf(after, 'ferry_migrations_running'), 0);
});

t.test('source: a rollback is counted with its code and no pause', async (t) => {
  const metrics = new DaemonMetrics('source', () => 0);
  new SourceMetricsFeed(metrics, 'm2').ended({ ...SUMMARY, migrationId: 'm2', result: 'rolled-back', error: { code: 'FERRY_ERR_DISCONNECTED', message: 'cut' } });
  const after = await scrape(metrics);
  t.equal(valueOf(after, 'ferry_migrations_ended_total', { result: 'rolled-back', code: 'FERRY_ERR_DISCONNECTED' }), 1);
  t.equal(valueOf(after, 'ferry_migration_pause_seconds_count'), 0, 'a rolled-back pause is not a migration pause');
  t.equal(valueOf(after, 'ferry_migrations_started_total'), 1);
});

t.test('target: started once, a resume after a detach, page bytes, passes and the end', async (t) => {
  const metrics = new DaemonMetrics('target', () => 0);
  const feed = new TargetMetricsFeed(metrics);
  feed.event({ event: 'attached', migrationId: 'm3', resumed: false });
  feed.event({ event: 'pass-end', migrationId: 'm3', pass: 0, pages: 10, bytes: 41_000 });
  feed.event({ event: 'detached', migrationId: 'm3', reason: 'cut' });
  feed.event({ event: 'attached', migrationId: 'm3', resumed: true });
  feed.event({ event: 'attached', migrationId: 'm3', resumed: true });
  feed.event({ event: 'pass-end', migrationId: 'm3', pass: 1, pages: 1, bytes: 4_100 });
  feed.event({ event: 'verify', migrationId: 'm3', image: 'ram', ok: true });
  const live = await scrape(metrics);
  t.equal(valueOf(live, 'ferry_migrations_started_total'), 1, 'a resumed connection is not a new migration');
  t.equal(valueOf(live, 'ferry_reconnects_total'), 1, 'one resume after one detach');
  t.equal(valueOf(live, 'ferry_wire_bytes_total', { kind: 'pages' }), 45_100);
  t.equal(valueOf(live, 'ferry_migration_pass', { migration_id: 'm3' }), 1);
  t.equal(valueOf(live, 'ferry_verify_failures_total'), 0);

  feed.event({ event: 'failed', migrationId: 'm3', code: 'FERRY_ERR_TIMEOUT', reason: 'idle' });
  const after = await scrape(metrics);
  t.equal(valueOf(after, 'ferry_migrations_ended_total', { result: 'failed', code: 'FERRY_ERR_TIMEOUT' }), 1);
  t.equal(valueOf(after, 'ferry_migration_passes_sum'), 2, 'passes 0 and 1');
  t.equal(valueOf(after, 'ferry_migration_pass', { migration_id: 'm3' }), undefined);
  t.ok(after.every((s) => s.labels['role'] === 'target'), 'every series says which daemon');
});

/**
 * Hooks and limits around the main path: --state-cmd blobs, the target's --on-commit environment and its
 * exit status, the /events feed, and --timeout with --on-timeout cancel (roll back) or force (pause anyway).
 */
import t, { type Test } from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { fillImage } from '@ferry/workload';
import { runMigrate, scratchDir, sha256, startTarget, startWorkload } from '../helpers/ferry.js';

const SIZE = 16 * 1024 * 1024;
/**
 * The timeout cases need only a writer that outruns the link: 16 MiB/s over a 4 MiB image re-dirties all
 * of it every quarter second, so 2 MB/s never catches up, and pass 0 and the forced final pass take about
 * 2 s each instead of 8.
 */
const HOT_SIZE = 4 * 1024 * 1024;

async function image(t: Test, size = SIZE): Promise<{ dir: string; image: string }> {
  const dir = scratchDir(t);
  const path = join(dir, 'vm.ram');
  await fillImage(path, size, { seed: 13 });
  return { dir, image: path };
}

t.test('--state-cmd blobs, --on-commit environment and the /events feed', async (t) => {
  const { dir, image: img } = await image(t);
  const envFile = join(dir, 'commit-env');
  const target = await startTarget(t, join(dir, 'target'), ['--on-commit', `env | grep ^FERRY_ | sort > ${envFile}`]);
  const events: Array<Record<string, unknown>> = [];
  const feed = new WebSocket(`${target.url}/events`);
  feed.on('message', (data: Buffer) => events.push(JSON.parse(data.toString('utf8')) as Record<string, unknown>));
  await new Promise((resolve) => feed.once('open', resolve));
  t.teardown(() => feed.terminate());

  const stateCmd = 'printf cpu-registers > "$FERRY_STATE_DIR/cpu" && head -c 100000 /dev/urandom > "$FERRY_STATE_DIR/devices"';
  const run = await runMigrate(t, ['--to', target.url, '--id', 'hooks', '--image', `ram=${img}`, '--state-cmd', stateCmd]);
  t.equal(run.code, 0, `committed (stderr: ${run.stderr.slice(-800)})`);
  const committed = join(dir, 'target', 'hooks');
  t.equal(readFileSync(join(committed, 'state', 'cpu'), 'utf8'), 'cpu-registers', 'a blob written by --state-cmd arrived');
  t.equal(readFileSync(join(committed, 'state', 'devices')).length, 100000, 'and the second one, whole');
  t.ok(run.events.some((e) => e['event'] === 'state' && e['name'] === 'devices'), 'the source reported the blob');
  const env = readFileSync(envFile, 'utf8');
  t.match(env, `FERRY_DIR=${committed}\n`);
  t.match(env, 'FERRY_MIGRATION_ID=hooks\n');
  t.match(env, `FERRY_IMAGE_RAM=${join(committed, 'ram')}\n`);
  t.match(env, `FERRY_STATE_CPU=${join(committed, 'state', 'cpu')}\n`);
  t.equal(await sha256(join(committed, 'ram')), await sha256(img), 'byte-identical');
  t.ok(events.some((e) => e['event'] === 'pass-end' && e['migrationId'] === 'hooks'), '/events carried pass-end');
  t.ok(events.some((e) => e['event'] === 'committed' && e['migrationId'] === 'hooks'), '/events carried the commit');
});

t.test('a failing --on-commit after GO: the source exits 4 and does not resume itself', async (t) => {
  const { dir, image: img } = await image(t);
  const marker = join(dir, 'resumed-on-source');
  const target = await startTarget(t, join(dir, 'target'), ['--on-commit', 'echo "no such VM" >&2; exit 7']);
  const run = await runMigrate(t, ['--to', target.url, '--id', 'hook-fails', '--image', `ram=${img}`, '--resume-cmd', `touch ${marker}`]);
  t.equal(run.code, 4, 'outcome unknown: exit 4');
  t.equal(run.summary['result'], 'unknown');
  t.match(String((run.summary['error'] as { message?: string } | undefined)?.message), /exit 7.*no such VM/, 'the hook\'s failure reaches the user');
  t.notOk(existsSync(marker), 'the source was not resumed');
  const manifest = JSON.parse(readFileSync(join(dir, 'target', 'hook-fails', 'manifest.json'), 'utf8')) as { outcome: string };
  t.equal(manifest.outcome, 'resume-failed', 'the target records that the files are committed but the resume failed');
});

/** A writer far faster than a 2 MB/s link: pre-copy would never converge on its own within the timeout. */
async function neverConverges(t: Test, onTimeout: 'cancel' | 'force') {
  const { dir, image: img } = await image(t, HOT_SIZE);
  const workload = await startWorkload(t, img, HOT_SIZE, 'compile', '16MiB/s');
  const marker = join(dir, 'rolled-back');
  const target = await startTarget(t, join(dir, 'target'), ['--resume-grace', '1']);
  const id = `timeout-${onTimeout}`;
  const run = await runMigrate(t, [
    '--to', target.url, '--id', id, '--image', `ram=${img}`, '--rate-limit', '2MB/s', '--timeout', '3', '--on-timeout', onTimeout,
    '--pause-cmd', `kill -STOP ${workload.pid}`, '--resume-cmd', `kill -CONT ${workload.pid}; touch ${marker}`,
  ]);
  return { dir, img, run, marker, id, target };
}

t.test('--timeout with --on-timeout cancel rolls back and keeps the workload on the source', async (t) => {
  const { dir, run, marker, id } = await neverConverges(t, 'cancel');
  t.equal(run.code, 3, 'exit 3');
  t.match(String((run.summary['error'] as { message?: string } | undefined)?.message), /did not converge within 3 s/);
  t.ok(existsSync(marker), 'the resume hook ran');
  t.notOk(existsSync(join(dir, 'target', id, 'ram')), 'nothing committed');
  t.ok(Number(run.summary['totalMs']) < 10_000, `it stopped soon after the timeout (${String(run.summary['totalMs'])} ms)`);
});

t.test('--timeout with --on-timeout force pauses anyway and commits', async (t) => {
  const { dir, img, run, id } = await neverConverges(t, 'force');
  t.equal(run.code, 0, `committed (stderr: ${run.stderr.slice(-800)})`);
  t.match(String(run.summary['stopReason']), /timeout/, 'the stop reason names the timeout');
  t.equal(await sha256(join(dir, 'target', id, 'ram')), await sha256(img), 'byte-identical to the paused image');
});

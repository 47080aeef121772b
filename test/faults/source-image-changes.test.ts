/**
 * A source image that changes size under ferry is an error that rolls back, naming the image: it used to
 * commit silently (a zero tail after a truncate, a dropped tail after a grow).
 */
import t, { type Test } from 'tap';
import { existsSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { fillImage } from '@ferry/workload';
import { runMigrate, scratchDir, startTarget } from '../helpers/ferry.js';

const MiB = 1024 * 1024;

async function setup(t: Test) {
  const dir = scratchDir(t);
  const image = join(dir, 'vm.ram');
  await fillImage(image, 16 * MiB, { seed: 4 });
  const target = await startTarget(t, join(dir, 'target'));
  return { dir, image, target, marker: join(dir, 'rolled-back') };
}

t.test('an image truncated during pre-copy rolls back with a message naming it', async (t) => {
  const { dir, image, target, marker } = await setup(t);
  let truncated = false;
  const run = await runMigrate(t, [
    '--to', target.url, '--id', 'shrinks', '--image', `ram=${image}`, '--rate-limit', '4MB/s', '--resume-cmd', `touch ${marker}`,
  ], (event) => {
    if (!truncated && event['event'] === 'progress' && Number(event['bytesSent']) > 1e6) {
      truncated = true;
      truncateSync(image, 8 * MiB);
    }
  });
  t.ok(truncated, 'the image was truncated mid-pass');
  t.equal(run.code, 3, `rolled back (stderr: ${run.stderr.slice(-500)})`);
  t.match(String((run.summary['error'] as { message?: string } | undefined)?.message), /image ram \(.*vm\.ram\) changed size during the migration: 16777216 bytes at the start, 8388608 now/);
  t.ok(existsSync(marker), 'the rollback hook ran');
  t.notOk(existsSync(join(dir, 'target', 'shrinks', 'ram')), 'nothing committed');
});

t.test('an image grown while paused rolls back before the commit', async (t) => {
  const { dir, image, target, marker } = await setup(t);
  const run = await runMigrate(t, [
    '--to', target.url, '--id', 'grows', '--image', `ram=${image}`, '--resume-cmd', `touch ${marker}`,
    '--pause-cmd', `truncate -s 24M ${image}`,
  ]);
  t.equal(run.code, 3, `rolled back (stderr: ${run.stderr.slice(-500)})`);
  t.match(String((run.summary['error'] as { message?: string } | undefined)?.message), /image ram \(.*\) changed size during the migration: 16777216 bytes at the start, 25165824 now/);
  t.ok(existsSync(marker), 'the rollback hook ran');
  t.notOk(existsSync(join(dir, 'target', 'grows', 'ram')), 'nothing committed');
});

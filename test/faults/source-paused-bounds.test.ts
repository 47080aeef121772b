/**
 * The workload is never left paused without a bound, and non-regular files cannot block ferry: a FIFO as
 * --image or --state is refused up front (opening one blocks and ignores signals), and a paused phase
 * that runs past --paused-timeout rolls back.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fillImage } from '@ferry/workload';
import { runMigrate, scratchDir, startTarget } from '../helpers/ferry.js';

const SIZE = 4 * 1024 * 1024;

t.test('a FIFO as --image or --state is refused before anything starts', async (t) => {
  const dir = scratchDir(t);
  const image = join(dir, 'vm.ram');
  await fillImage(image, SIZE, { seed: 2 });
  const fifo = join(dir, 'fifo');
  t.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo');
  const paused = join(dir, 'paused');
  const target = await startTarget(t, join(dir, 'target'));
  const asImage = await runMigrate(t, ['--to', target.url, '--image', `ram=${fifo}`, '--pause-cmd', `touch ${paused}`]);
  t.equal(asImage.code, 1, 'an image FIFO: error exit');
  t.match(asImage.stderr, /image ram: .*fifo is not a regular file/);
  const asState = await runMigrate(t, ['--to', target.url, '--image', `ram=${image}`, '--state', `cpu=${fifo}`, '--pause-cmd', `touch ${paused}`]);
  t.equal(asState.code, 1, 'a state FIFO: error exit');
  t.match(asState.stderr, /state blob cpu: .*fifo is not a regular file/);
  t.notOk(existsSync(paused), 'the workload was never paused');
});

t.test('a paused phase past --paused-timeout rolls back (a hung --state-cmd)', async (t) => {
  const dir = scratchDir(t);
  const image = join(dir, 'vm.ram');
  await fillImage(image, SIZE, { seed: 6 });
  const marker = join(dir, 'resumed');
  const target = await startTarget(t, join(dir, 'target'));
  const run = await runMigrate(t, [
    '--to', target.url, '--id', 'hung-state', '--image', `ram=${image}`, '--pause-cmd', 'true', '--resume-cmd', `touch ${marker}`,
    '--state-cmd', 'exec sleep 600', '--hook-timeout', '600', '--paused-timeout', '2',
  ]);
  t.equal(run.code, 3, `rolled back (stderr: ${run.stderr.slice(-500)})`);
  t.match(String((run.summary['error'] as { message?: string } | undefined)?.message),
    /the state phase did not finish within 2 s while the workload was paused \(--paused-timeout\)/);
  t.ok(existsSync(marker), 'the workload was resumed');
  t.ok(Number(run.summary['pauseMs']) >= 2000, `pauseMs is the real pause (${String(run.summary['pauseMs'])} ms), not 0`);
});

t.test('a target that stops answering while the workload is paused: rolled back at --paused-timeout', async (t) => {
  const dir = scratchDir(t);
  const image = join(dir, 'vm.ram');
  await fillImage(image, SIZE, { seed: 10 });
  const fifo = join(dir, 'go-on');
  t.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo');
  const marker = join(dir, 'resumed');
  const target = await startTarget(t, join(dir, 'target'));
  const run = await runMigrate(t, [
    '--to', target.url, '--id', 'stopped-target', '--image', `ram=${image}`, '--pause-cmd', 'true', '--resume-cmd', `touch ${marker}`,
    // Holds the state phase until the test has stopped the target; verify then waits for an answer that never comes.
    '--state-cmd', `cat ${fifo} > /dev/null`, '--paused-timeout', '2', '--reply-timeout', '600',
  ], (event) => {
    if (event['event'] !== 'paused') return;
    target.child.kill('SIGSTOP');
    void writeFile(fifo, 'go on\n');
  });
  t.equal(run.code, 3, `rolled back (stderr: ${run.stderr.slice(-500)})`);
  t.match(String((run.summary['error'] as { message?: string } | undefined)?.message),
    /the verify phase did not finish within 2 s while the workload was paused/);
  t.ok(existsSync(marker), 'the workload was resumed');
  target.child.kill('SIGCONT');
});

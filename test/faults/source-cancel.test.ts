/**
 * Cancellation is explicit: Ctrl-C while a slow pause hook runs stops that hook (and waits for it) before
 * the rollback runs the resume hook, so the workload is never left stopped after a reported rollback.
 * A real `ferry migrate`, a real workload process, real hook scripts.
 */
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fillImage } from '@ferry/workload';
import { waitForFile, processState } from '../helpers/files.js';
import { runMigrate, scratchDir, startTarget, startWorkload } from '../helpers/ferry.js';

const SIZE = 8 * 1024 * 1024;

t.test('Ctrl-C during a slow --pause-cmd: the pause hook ends before the resume hook runs', async (t) => {
  const dir = scratchDir(t);
  const image = join(dir, 'vm.ram');
  await fillImage(image, SIZE, { seed: 3 });
  const workload = await startWorkload(t, image, SIZE, 'web', '64KiB/s');
  const log = join(dir, 'hooks.log');
  const started = join(dir, 'pause-started');
  const pauseScript = join(dir, 'pause.sh');
  // Slow, and it stops the workload only at its end: the old race left it stopped after the rollback.
  writeFileSync(pauseScript, [
    `trap 'echo pause-ended >> ${log}; exit 143' TERM`,
    `echo pause-started >> ${log}`,
    `touch ${started}`,
    'sleep 120 & wait $!',
    `kill -STOP ${workload.pid}`,
    `echo pause-finished >> ${log}`,
  ].join('\n'));
  const target = await startTarget(t, join(dir, 'target'));
  const interrupted = waitForFile(started);
  interrupted.catch(() => {});
  let sentSigint = false;
  const run = await runMigrate(t, [
    '--to', target.url, '--id', 'cancel-pause', '--image', `ram=${image}`, '--policy', 'xen',
    '--pause-cmd', `sh ${pauseScript}`, '--resume-cmd', `echo resume >> ${log}; kill -CONT ${workload.pid}`,
    '--state-dir', join(dir, 'journal'),
  ], (event, child) => {
    if (event['event'] === 'pass-end' && event['stop'] === true && !sentSigint) {
      sentSigint = true;
      void interrupted.then(() => child.kill('SIGINT'));
    }
  });
  t.ok(sentSigint, 'pre-copy stopped and the pause hook started');
  t.equal(run.code, 3, `rolled back (stderr: ${run.stderr.slice(-800)})`);
  t.equal(run.summary['result'], 'rolled-back');
  t.same(readFileSync(log, 'utf8').trim().split('\n'), ['pause-started', 'pause-ended', 'resume'],
    'the pause hook was stopped and had ended before the resume hook ran');
  t.not(await processState(workload.pid), 'T', 'the workload runs');
  t.ok(Number(run.summary['pauseMs']) > 0, 'the summary counts the time the workload may have been paused');
});

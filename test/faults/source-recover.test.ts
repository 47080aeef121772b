/**
 * `kill -9` of `ferry migrate` leaves a journal; `ferry recover` reads it: after the pause and before GO
 * it resumes the workload on the source, after GO it refuses to. Real processes, real hook scripts.
 */
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fillImage } from '@ferry/workload';
import { processState, waitForFile } from '../helpers/files.js';
import { FERRY, runMigrate, scratchDir, startTarget, startWorkload } from '../helpers/ferry.js';

const SIZE = 8 * 1024 * 1024;

function recover(stateDir: string): Promise<{ code: number | null; stdout: string }> {
  const child = spawn(process.execPath, [FERRY, 'recover', '--state-dir', stateDir], { stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString('utf8'); });
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout })));
}

/** Kills the process group whose leader wrote its pid to `pidFile` (a hook left running by a kill -9). */
function killGroupAtEnd(t: Test, pidFile: string): void {
  t.teardown(() => {
    if (!existsSync(pidFile)) return;
    try { process.kill(-Number(readFileSync(pidFile, 'utf8').trim()), 'SIGKILL'); } catch { /* gone */ }
  });
}

t.test('kill -9 after the pause and before GO: ferry recover resumes the workload', async (t) => {
  const dir = scratchDir(t);
  const image = join(dir, 'vm.ram');
  await fillImage(image, SIZE, { seed: 8 });
  const workload = await startWorkload(t, image, SIZE, 'web', '64KiB/s');
  const stateDir = join(dir, 'journal');
  const collecting = join(dir, 'collecting');
  const hookPid = join(dir, 'state-hook.pid');
  killGroupAtEnd(t, hookPid);
  const marker = join(dir, 'resumed');
  const target = await startTarget(t, join(dir, 'target'));
  const stateHookRuns = waitForFile(collecting);
  stateHookRuns.catch(() => {});
  const run = await runMigrate(t, [
    '--to', target.url, '--id', 'killed', '--image', `ram=${image}`, '--policy', 'xen', '--state-dir', stateDir,
    '--pause-cmd', `kill -STOP ${workload.pid}`, '--resume-cmd', `kill -CONT ${workload.pid}; touch ${marker}`,
    // Holds the migration in its paused state phase until the kill.
    '--state-cmd', `echo $$ > ${hookPid}; touch ${collecting}; sleep 120`,
  ], (event, child) => {
    if (event['event'] === 'paused') void stateHookRuns.then(() => child.kill('SIGKILL'));
  });
  t.equal(run.code, null, 'ferry migrate was killed');
  t.equal(await processState(workload.pid), 'T', 'the workload is left stopped');
  const journal = JSON.parse(readFileSync(join(stateDir, 'killed', 'journal.json'), 'utf8')) as Record<string, unknown>;
  // The state hook starts during the final pass (once the disks are read), so the kill lands in either phase.
  t.match(journal, { phase: /^(final-pass|state)$/, paused: true, goSent: false }, 'the journal says: paused, no GO');
  t.ok(existsSync(join(stateDir, 'killed', 'state')), 'the state blobs were collected under the journal, not in the temp directory');

  const recovered = await recover(stateDir);
  t.equal(recovered.code, 0, `recover succeeds (${recovered.stdout})`);
  t.match(recovered.stdout, /after the pause and before GO: resuming/);
  t.ok(existsSync(marker), 'the recorded resume hook ran');
  t.not(await processState(workload.pid), 'T', 'the workload runs again');
  t.same(readdirSync(stateDir), [], 'the journal and its state blob folder are gone');
  t.same((await recover(stateDir)).code, 0, 'a second recover has nothing to do');
});

t.test('kill -9 after GO: ferry recover says GO was sent and does not resume', async (t) => {
  const dir = scratchDir(t);
  const image = join(dir, 'vm.ram');
  await fillImage(image, SIZE, { seed: 9 });
  const stateDir = join(dir, 'journal');
  const committing = join(dir, 'committing');
  const marker = join(dir, 'resumed');
  const hookPid = join(dir, 'commit-hook.pid');
  killGroupAtEnd(t, hookPid);
  const target = await startTarget(t, join(dir, 'target'), ['--on-commit', `echo $$ > ${hookPid}; touch ${committing}; sleep 120`]);
  const commitHookRuns = waitForFile(committing);
  commitHookRuns.catch(() => {});
  const run = await runMigrate(t, [
    '--to', target.url, '--id', 'after-go', '--image', `ram=${image}`, '--state-dir', stateDir, '--resume-cmd', `touch ${marker}`,
  ], (event, child) => {
    if (event['event'] === 'go') void commitHookRuns.then(() => child.kill('SIGKILL'));
  });
  t.equal(run.code, null, 'ferry migrate was killed');
  const recovered = await recover(stateDir);
  t.equal(recovered.code, 4, 'outcome unknown');
  t.match(recovered.stdout, /GO was sent to .*, do not resume/);
  t.notOk(existsSync(marker), 'the source was not resumed');
  target.child.kill('SIGKILL');
});

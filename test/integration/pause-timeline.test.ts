/**
 * The pause timeline of a real migration (CLI source, CLI target, loopback): its steps come in the order
 * the pause path runs them, the target's own figures (fsync, commit, resume) are in it, and the steps sum
 * to the pause. Order and sums only: how long each step takes is the benchmarks' business.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fillImage } from '@ferry/workload';
import { FERRY, runMigrate, scratchDir, startTarget } from '../helpers/ferry.js';

const ORDER = ['pause-hook', 'final-scan', 'final-wire', 'state', 'verify', 'target-fsync', 'commit-ready-rtt', 'go', 'target-commit', 'target-resume', 'resumed-rtt', 'other'];

/** True when `steps` follow ORDER (each step found after the one before). */
function inOrder(steps: readonly string[]): boolean {
  let at = 0;
  for (const step of steps) {
    const found = ORDER.indexOf(step, at);
    if (found < 0) return false;
    at = found + 1;
  }
  return true;
}

t.test('a committed migration\'s summary cuts its pause into ordered steps that sum to it', async (t) => {
  const dir = scratchDir(t);
  const image = join(dir, 'vm.ram');
  await fillImage(image, 8 * 1024 * 1024, { seed: 5 });
  const target = await startTarget(t, join(dir, 'target'));
  const run = await runMigrate(t, [
    '--to', target.url, '--id', 'timed', '--image', `ram=${image}`, '--pause-cmd', 'true',
    '--state-cmd', 'head -c 100000 /dev/zero > "$FERRY_STATE_DIR/devices"',
  ]);
  t.equal(run.code, 0, `committed (stderr: ${run.stderr.slice(-500)})`);
  const steps = run.summary['pauseTimeline'] as Array<{ step: string; ms: number }> | undefined;
  if (!steps) {
    t.fail('the summary has a pauseTimeline');
    return;
  }
  const names = steps.map((s) => s.step);
  t.ok(inOrder(names), `the steps come in pause-path order (${names.join(', ')})`);
  for (const step of ['pause-hook', 'final-scan', 'verify', 'target-fsync', 'go', 'target-commit', 'target-resume']) {
    t.ok(names.includes(step), `${step} is accounted for`);
  }
  t.equal(names.at(-1), 'other', 'what no step covers comes last');
  t.ok(steps.every((s) => s.ms >= 0), 'no step is negative');
  const sum = steps.reduce((total, s) => total + s.ms, 0);
  const pauseMs = Number(run.summary['pauseMs']);
  t.ok(Math.abs(sum - pauseMs) <= 2, `the steps sum to the pause (${sum.toFixed(1)} against ${pauseMs} ms)`);
});

t.test('a rolled-back migration\'s pause is accounted for up to the failure', async (t) => {
  const dir = scratchDir(t);
  const image = join(dir, 'vm.ram');
  await fillImage(image, 1024 * 1024, { seed: 6 });
  const target = await startTarget(t, join(dir, 'target'));
  const run = await runMigrate(t, ['--to', target.url, '--id', 'failing', '--image', `ram=${image}`, '--pause-cmd', 'true', '--state-cmd', 'exit 3']);
  t.not(run.code, 0, 'the failing state hook rolls the migration back');
  const steps = run.summary['pauseTimeline'] as Array<{ step: string; ms: number }> | undefined;
  if (!steps) {
    t.fail('the summary has a pauseTimeline');
    return;
  }
  const names = steps.map((s) => s.step);
  t.ok(inOrder(names), `in order (${names.join(', ')})`);
  t.notOk(names.includes('go'), 'no GO step: GO never went out');
  const sum = steps.reduce((total, s) => total + s.ms, 0);
  t.ok(Math.abs(sum - Number(run.summary['pauseMs'])) <= 2, `the steps sum to the pause (${sum.toFixed(1)} against ${String(run.summary['pauseMs'])} ms)`);
});

t.test('the human summary shows the pause parts on one line', async (t) => {
  const dir = scratchDir(t);
  const image = join(dir, 'vm.ram');
  await fillImage(image, 1024 * 1024, { seed: 7 });
  const target = await startTarget(t, join(dir, 'target'));
  const child = spawn(process.execPath, [FERRY, 'migrate', '--to', target.url, '--id', 'human', '--image', `ram=${image}`, '--state-dir', scratchDir(t, 'ferry-journal-')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  t.equal(code, 0, `committed (${output.slice(-500)})`);
  t.match(output, /^pause time\s+\d+ ms\npause parts\s+.*final-scan [\d.]+, .*verify [\d.]+.* \(ms\)$/m, 'one line of the pause\'s parts after the pause time');
});

/**
 * The duty cycle on a real process (SIGSTOP/SIGCONT, as --throttle-pid drives it): it stops and continues
 * the process, restore() leaves it running, hold() leaves it as it is for the pause hook.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import t, { type Test } from 'tap';
import { DutyCycle } from '@ferry/throttle';

const state = (pid: number): string => readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '')[0] ?? '?';

async function until(done: () => boolean): Promise<void> {
  while (!done()) await new Promise((resolve) => setTimeout(resolve, 5));
}

function busyChild(t: Test): number {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  t.teardown(() => { child.kill('SIGCONT'); child.kill('SIGKILL'); });
  return child.pid!;
}

const signals = (pid: number) => ({ stop: () => { process.kill(pid, 'SIGSTOP'); }, cont: () => { process.kill(pid, 'SIGCONT'); } });

t.test('a 90% cycle stops the process; restore() continues it', async (t) => {
  const pid = busyChild(t);
  const cycle = new DutyCycle(signals(pid));
  await cycle.set(90);
  await until(() => state(pid) === 'T');
  t.pass('the process was seen stopped');
  await until(() => cycle.stopped);
  await cycle.restore();
  t.equal(cycle.stopped, false);
  for (let i = 0; i < 20; i++) {
    t.not(state(pid), 'T', 'running after restore');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
});

t.test('hold() in a stopped phase leaves the process stopped, and the cycle never starts again', async (t) => {
  const pid = busyChild(t);
  const cycle = new DutyCycle(signals(pid));
  await cycle.set(90);
  await until(() => cycle.stopped && state(pid) === 'T');
  await cycle.hold();
  t.equal(state(pid), 'T', 'still stopped: the pause hook takes over');
  t.equal(cycle.stopped, false, 'the cycle no longer claims the stop: the pause owns it');
  await cycle.set(50);
  t.equal(cycle.level, 50);
  t.equal(state(pid), 'T', 'set() after hold() does not restart the cycle');
});

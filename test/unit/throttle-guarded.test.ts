/**
 * The guarded throttle driver keeps its guardian in step: armed before the driver first touches the
 * workload, disarmed only after it let go, never armed again once held for the pause (a cpu.max limit
 * excepted); and the journal keeps the newest undo steps until the migration ends.
 */
import t from 'tap';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { MigrationJournal, readJournals, type ThrottleDriver } from '@ferry/agent-source';
import { guarded, type ThrottleGuard, type UndoStep } from '@ferry/throttle';
import { scratchDir } from '../helpers/ferry.js';

const sigcont: UndoStep = { kind: 'sigcont', pid: 4242, startTime: '1' };
const cpuMax: UndoStep = { kind: 'cpu-max', file: '/x/cpu.max', value: 'max 100000' };

/** A driver and a guard that only write down, in order, what was asked of them. */
function recorded(step: UndoStep): { driver: ThrottleDriver; log: string[] } {
  const log: string[] = [];
  const inner: ThrottleDriver = {
    name: 'recorded',
    set: async (level) => { log.push(`set ${level}`); },
    hold: async () => { log.push('hold'); },
    restore: async () => { log.push('restore'); },
  };
  const guard = {
    set: async (undo: readonly UndoStep[]) => { log.push(undo.length === 0 ? 'disarm' : `arm ${undo.map((u) => u.kind).join()}`); },
    onChange: () => undefined,
    close: async () => undefined,
  } as unknown as ThrottleGuard;
  return { driver: guarded(inner, step, guard), log };
}

t.test('a stop/continue throttle: armed before the first stop, disarmed after the hold, never armed again', async (t) => {
  const { driver, log } = recorded(sigcont);
  await driver.set(20);
  await driver.set(0);
  await driver.set(30);
  await driver.hold();
  await driver.set(40);
  await driver.restore();
  t.same(log, ['arm sigcont', 'set 20', 'set 0', 'disarm', 'arm sigcont', 'set 30', 'hold', 'disarm', 'set 40', 'disarm', 'restore', 'disarm']);
});

t.test('a cpu.max throttle stays guarded through the hold until restore', async (t) => {
  const { driver, log } = recorded(cpuMax);
  await driver.set(20);
  await driver.hold();
  await driver.restore();
  t.same(log, ['arm cpu-max', 'set 20', 'hold', 'arm cpu-max', 'restore', 'disarm']);
});

t.test('the journal keeps the newest undo steps, and a removed journal stays removed', async (t) => {
  const stateDir = scratchDir(t);
  const journal = MigrationJournal.open(stateDir, 'j1', 'ws://target', {});
  journal.recordThrottle([sigcont]);
  t.same(readJournals(stateDir).entries[0]?.throttleUndo, [sigcont]);
  journal.recordThrottle([]);
  t.same(readJournals(stateDir).entries[0]?.throttleUndo, []);
  journal.remove();
  journal.recordThrottle([cpuMax]);
  t.notOk(existsSync(join(stateDir, 'j1')), 'a late restore does not bring the journal back');
});

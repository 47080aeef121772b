/**
 * The throttle's crash safety, pure half: what the guardian holds for a throttle state, how it reads its
 * pipe, what `ferry recover` undoes given a journal, and how a pid's start time is read.
 */
import t from 'tap';
import { startTimeOf } from '@ferry/throttle/proc-stat';
import { armedUndo, DISARMED, guardLine, guardMessage, throttleRecovery, undoSteps, type UndoStep } from '@ferry/throttle';

const sigcont: UndoStep = { kind: 'sigcont', pid: 4242, startTime: '987654' };
const cpuMax: UndoStep = { kind: 'cpu-max', file: '/sys/fs/cgroup/job/cpu.max', value: 'max 100000' };
const qmpCont: UndoStep = { kind: 'qmp-cont', socket: '/run/vm.qmp' };

t.test('the guardian is armed only while the throttle touches the workload, and for stops never after the hold', async (t) => {
  for (const step of [sigcont, qmpCont]) {
    t.same(armedUndo(step, false, false), [], `${step.kind}: full speed holds nothing`);
    t.same(armedUndo(step, true, false), [step], `${step.kind}: throttling holds its undo`);
    t.same(armedUndo(step, true, true), [], `${step.kind}: after the hold the pause owns the stop`);
  }
  t.same(armedUndo(cpuMax, true, true), [cpuMax], 'a cpu.max limit stays guarded through the pause: putting it back continues nothing');
  t.same(armedUndo(cpuMax, false, true), [], 'an unlimited cgroup holds nothing');
});

t.test('the guardian reads its pipe line by line; the newest valid list stands', async (t) => {
  let state = guardLine(DISARMED, guardMessage([sigcont]).trim());
  t.same(state.undo, [sigcont], 'armed');
  state = guardLine(state, '{"undo": [{"kind":"sigcont","pid":4242,"sta');
  t.same(state.undo, [sigcont], 'a line cut by the crash changes nothing');
  state = guardLine(state, '{"undo": [{"kind":"rm -rf","path":"/"}]}');
  t.same(state.undo, [sigcont], 'an unknown step is ignored, and the list with it');
  state = guardLine(state, '{"undo": [{"kind":"sigcont","pid":1,"startTime":"5"}]}');
  t.same(state.undo, [sigcont], 'pid 1 is never continued');
  state = guardLine(state, guardMessage([cpuMax, qmpCont]).trim());
  t.same(state.undo, [cpuMax, qmpCont], 'a new list replaces the old one');
  state = guardLine(state, guardMessage([]).trim());
  t.same(state.undo, [], 'an empty list disarms');
});

t.test('recover undoes every step before GO, and after GO only puts cpu.max back', async (t) => {
  t.same(throttleRecovery({ goSent: false, throttleUndo: [sigcont, cpuMax] }), { run: [sigcont, cpuMax], withheld: [], refused: [] });
  t.same(throttleRecovery({ goSent: false, throttleUndo: [qmpCont] }), { run: [qmpCont], withheld: [], refused: [] });
  t.same(throttleRecovery({ goSent: true, throttleUndo: [qmpCont, cpuMax] }), { run: [cpuMax], withheld: [qmpCont], refused: [] },
    'after GO a guest may run on the target: never continue it here');
  t.same(throttleRecovery({ goSent: false }), { run: [], withheld: [], refused: [] }, 'a journal without throttle: nothing');
  t.same(throttleRecovery({ goSent: false, throttleUndo: 'garbage' }), { run: [], withheld: [], refused: [] }, 'a corrupt record: nothing');
  t.same(undoSteps([sigcont, { kind: 'sigcont', pid: '12' }]), undefined, 'one invalid step rejects the list');
});

t.test('the start time comes from field 22 of /proc/PID/stat, even when the command name holds spaces and parentheses', async (t) => {
  const rest = 'S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 424242 19 20';
  t.equal(startTimeOf(`77 (node) ${rest}`), '424242');
  t.equal(startTimeOf(`77 (a (b) c) ${rest}`), '424242');
  t.equal(startTimeOf('77 (short) S 1'), undefined, 'a truncated line has none');
});

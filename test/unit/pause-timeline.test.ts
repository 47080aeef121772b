/** The pause cut into its parts from the marks the source sets: pure, so checked directly. */
import t from 'tap';
import { buildPauseTimeline, describePauseTimeline } from '@ferry/agent-source';

const sum = (steps: ReadonlyArray<{ ms: number }>): number => steps.reduce((s, x) => s + x.ms, 0);

t.test('each mark takes the stretch since the one before; what is left is other', async (t) => {
  const steps = buildPauseTimeline(100, 200, [
    { step: 'pause-hook', at: 103 },
    { step: 'final-scan', at: 140 },
    { step: 'final-wire', at: 150 },
    { step: 'verify', at: 160 },
    { step: 'commit-ready-rtt', at: 175, parts: [{ step: 'target-fsync', ms: 12 }] },
    { step: 'go', at: 176 },
    { step: 'resumed-rtt', at: 198, parts: [{ step: 'target-commit', ms: 5 }, { step: 'target-resume', ms: 15 }] },
  ]);
  t.same(steps, [
    { step: 'pause-hook', ms: 3 }, { step: 'final-scan', ms: 37 }, { step: 'final-wire', ms: 10 }, { step: 'verify', ms: 10 },
    { step: 'target-fsync', ms: 12 }, { step: 'commit-ready-rtt', ms: 3 }, { step: 'go', ms: 1 },
    { step: 'target-commit', ms: 5 }, { step: 'target-resume', ms: 15 }, { step: 'resumed-rtt', ms: 2 }, { step: 'other', ms: 2 },
  ]);
  t.equal(sum(steps), 100, 'the steps sum to the pause');
});

t.test('a target claiming more than the wait it sits in, or a mark out of order, never makes a step negative', async (t) => {
  const steps = buildPauseTimeline(0, 50, [
    { step: 'pause-hook', at: 10 },
    { step: 'final-scan', at: 5 }, // before the mark ahead of it: an empty step
    { step: 'resumed-rtt', at: 20, parts: [{ step: 'target-fsync', ms: 1e6 }, { step: 'target-commit', ms: -3 }] },
    { step: 'go', at: 80 }, // after the pause ended: cut at its end
  ]);
  t.ok(steps.every((s) => s.ms >= 0), 'no negative step');
  t.same(steps.find((s) => s.step === 'target-fsync'), { step: 'target-fsync', ms: 10 }, 'the target\'s figure is capped at its stretch');
  t.equal(sum(steps), 50, 'the steps still sum to the pause');
});

t.test('without marks the whole pause is other (a rollback right after the pause hook started)', async (t) => {
  t.same(buildPauseTimeline(7, 19.25, []), [{ step: 'other', ms: 12.3 }]);
});

t.test('the human line lists the steps that took time, in order', async (t) => {
  t.equal(describePauseTimeline([{ step: 'pause-hook', ms: 2.04 }, { step: 'state', ms: 0 }, { step: 'verify', ms: 11.5 }]), 'pause-hook 2.0, verify 11.5');
});

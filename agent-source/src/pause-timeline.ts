import type { PauseStep, PauseStepName } from '@ferry/serve';

/**
 * One point on the pause's critical path: `step` is the part of the pause that ended at `at`
 * (performance.now()). `parts` are durations the target measured itself inside that stretch (its fsync,
 * its commit): they are carved out of it, and what is left keeps the mark's own step name.
 */
export interface PauseMark {
  readonly step: PauseStepName;
  readonly at: number;
  readonly parts?: ReadonlyArray<{ readonly step: PauseStepName; readonly ms: number }>;
}

const round = (ms: number): number => Math.round(ms * 10) / 10;

/**
 * The pause cut into its parts: each mark's stretch since the mark before (the first since `pausedAt`),
 * in order, and `other` for what no mark covers (after the last mark up to `endedAt`: a rollback, or the
 * time between RESUMED and the clock stopping). A clock that went backwards or a target that claims more
 * than the stretch it sits in never yields a negative step: the steps always sum to the pause.
 */
export function buildPauseTimeline(pausedAt: number, endedAt: number, marks: readonly PauseMark[]): PauseStep[] {
  const steps: PauseStep[] = [];
  let from = pausedAt;
  for (const mark of marks) {
    const at = Math.min(Math.max(mark.at, from), endedAt);
    let left = at - from;
    for (const part of mark.parts ?? []) {
      const ms = Math.min(Math.max(part.ms, 0), left);
      steps.push({ step: part.step, ms: round(ms) });
      left -= ms;
    }
    steps.push({ step: mark.step, ms: round(left) });
    from = at;
  }
  steps.push({ step: 'other', ms: round(endedAt - from) });
  return steps;
}

/** One line for people: "pause-hook 3.1, final-scan 40.2, ...". Steps of 0 ms are left out. */
export function describePauseTimeline(steps: readonly PauseStep[]): string {
  return steps.filter((s) => s.ms > 0).map((s) => `${s.step} ${s.ms.toFixed(1)}`).join(', ');
}

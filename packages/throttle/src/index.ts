/**
 * @ferry/throttle: slowing a workload while pre-copy does not converge, and undoing that if ferry dies.
 * Drivers: a cgroup's CPU bandwidth limit (v1 or v2), a SIGSTOP/SIGCONT duty cycle of one process, a
 * QMP stop/cont duty cycle of a QEMU guest. Each comes guarded by a guardian process; the undo steps
 * are data, also kept in the journal for `ferry recover`.
 */
export { ThrottleSetupError, type SharedStopper, type Throttle } from './driver.js';
export { guarded, guardedThrottle, type GuardedThrottle, type ThrottleTarget } from './guarded.js';
export { ThrottleGuard, type UndoListener } from './guard.js';
export { QemuThrottle } from './qmp.js';
export { DutyCycle, DUTY_PERIOD_MS, type DutyCycleActions } from './duty-cycle.js';
export {
  armedUndo, describeStep, DISARMED, guardLine, guardMessage, throttleRecovery, undoSteps, type ThrottleJournal, type ThrottleRecovery, type UndoStep,
} from './undo.js';
export { runUndo, type StepOutcome } from './undo-run.js';

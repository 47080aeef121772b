/**
 * What undoes the throttle, as data: the steps the guardian process runs when `ferry migrate` dies
 * while throttling, and the steps `ferry migrate` records in its journal for `ferry recover`. Pure: no
 * I/O here; undo-run.ts runs the steps.
 *
 * A step is one of
 *   sigcont   continue the throttled process (--throttle-pid), only if it is still the same process
 *             (its start time in /proc/PID/stat, field 22, is unchanged: a pid may be reused)
 *   cpu-max   write the cpu.max found at start back (--cgroup)
 *   qmp-cont  QMP `cont` to the guest (--qmp)
 *
 * The guardian's input is one JSON line per change, `{"undo": [steps]}`; the newest complete line
 * stands. An empty list disarms it. When its input ends (ferry exited, cleanly or not) it runs the
 * newest list: ferry disarms it before a clean end and before the migration's own pause, so it only
 * ever undoes the throttle's own stops and limits.
 */

import { basename, normalize } from 'node:path';

export type UndoStep =
  | { readonly kind: 'sigcont'; readonly pid: number; readonly startTime: string }
  | { readonly kind: 'cpu-max'; readonly file: string; readonly value: string }
  | { readonly kind: 'qmp-cont'; readonly socket: string };

/** Continuing steps undo a stop; a cpu.max limit stops nothing, so putting it back is safe at any time. */
export const continues = (step: UndoStep): boolean => step.kind !== 'cpu-max';

/**
 * What the guardian must hold for a throttle whose undo step is `step`: nothing while it does not touch
 * the workload; once held for the pause, only a limit that stops nothing (the pause hook stops the
 * workload on purpose, and after GO it may run on the target: a crash then is for `ferry recover`).
 */
export function armedUndo(step: UndoStep, engaged: boolean, held: boolean): UndoStep[] {
  if (!engaged || (held && continues(step))) return [];
  return [step];
}

/** The guardian's state: the newest list of steps it was given. */
export interface GuardState {
  readonly undo: readonly UndoStep[];
}

export const DISARMED: GuardState = { undo: [] };

/** The guardian reads one line: a valid `{"undo": [...]}` replaces the list, anything else is ignored. */
export function guardLine(state: GuardState, line: string): GuardState {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return state;
  }
  const undo = isRecord(parsed) ? undoSteps(parsed['undo']) : undefined;
  return undo === undefined ? state : { undo };
}

/** The line that sets the guardian's list to `undo`. */
export const guardMessage = (undo: readonly UndoStep[]): string => `${JSON.stringify({ undo })}\n`;

/** The steps in `value` (from a guard line or a journal), or undefined if it is not a list of valid steps. */
export function undoSteps(value: unknown): UndoStep[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const steps: UndoStep[] = [];
  for (const item of value) {
    const step = undoStep(item);
    if (step === undefined) return undefined;
    steps.push(step);
  }
  return steps;
}

function undoStep(value: unknown): UndoStep | undefined {
  if (!isRecord(value)) return undefined;
  const { kind } = value;
  if (kind === 'sigcont' && Number.isInteger(value['pid']) && (value['pid'] as number) > 1 && typeof value['startTime'] === 'string') {
    return { kind, pid: value['pid'] as number, startTime: value['startTime'] };
  }
  if (kind === 'cpu-max' && typeof value['file'] === 'string' && typeof value['value'] === 'string') return { kind, file: value['file'], value: value['value'] };
  if (kind === 'qmp-cont' && typeof value['socket'] === 'string') return { kind, socket: value['socket'] };
  return undefined;
}

/** The journal of a killed migration, as far as undoing its throttle goes. */
export interface ThrottleJournal {
  /** The steps the journal last recorded (what the guardian held); anything else counts as none. */
  readonly throttleUndo?: unknown;
  /** GO was (or may have been) sent: the target may run the workload. */
  readonly goSent: boolean;
}

export interface ThrottleRecovery {
  /** What `ferry recover` runs. */
  readonly run: readonly UndoStep[];
  /** What it must not run, and why (for its output). */
  readonly withheld: readonly UndoStep[];
  /** Steps no journal written by ferry holds: never run, each with what is wrong. */
  readonly refused: readonly string[];
}

/**
 * What recover undoes of the throttle of a dead migration. Before GO every step is safe: the workload
 * belongs to the source. After GO a stopped workload may be running on the target, so only the cpu.max
 * limit goes back; continuing is left to the operator, as for the pause itself. A journal's cpu-max step
 * writes only a number to a cgroup's CPU limit file, whatever else the journal says.
 */
export function throttleRecovery(entry: ThrottleJournal): ThrottleRecovery {
  const steps = undoSteps(entry.throttleUndo) ?? [];
  const refused = steps.map(cpuLimitProblem).filter((p): p is string => p !== undefined);
  const safe = steps.filter((s) => cpuLimitProblem(s) === undefined);
  if (!entry.goSent) return { run: safe, withheld: [], refused };
  return { run: safe.filter((s) => !continues(s)), withheld: safe.filter(continues), refused };
}

const CGROUP_ROOT = '/sys/fs/cgroup/';
/** The values each CPU limit file takes: v2 "max 100000" or "50000 100000", v1 a quota or -1. */
const CPU_LIMIT_VALUES: Readonly<Record<string, RegExp>> = { 'cpu.max': /^(max|\d{1,19})( \d{1,19})?$/, 'cpu.cfs_quota_us': /^-?\d{1,19}$/ };

/** What is wrong with a cpu-max step taken from a journal, or undefined for a cgroup CPU limit and a number. */
function cpuLimitProblem(step: UndoStep): string | undefined {
  if (step.kind !== 'cpu-max') return undefined;
  const pattern = Object.hasOwn(CPU_LIMIT_VALUES, basename(step.file)) ? CPU_LIMIT_VALUES[basename(step.file)] : undefined;
  if (!step.file.startsWith(CGROUP_ROOT) || normalize(step.file) !== step.file || pattern === undefined) {
    return `${step.file} is not a cgroup CPU limit file (cpu.max or cpu.cfs_quota_us under ${CGROUP_ROOT})`;
  }
  return pattern.test(step.value) ? undefined : `${JSON.stringify(step.value)} is not a CPU limit for ${step.file}`;
}

/** Says what a step does, for the guardian's and recover's output. */
export function describeStep(step: UndoStep): string {
  switch (step.kind) {
    case 'sigcont': return `continue pid ${step.pid}`;
    case 'cpu-max': return `put ${step.file} back to "${step.value}"`;
    case 'qmp-cont': return `continue the guest at ${step.socket}`;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

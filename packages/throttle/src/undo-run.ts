/**
 * Runs undo steps (undo.ts): the I/O half, shared by the guardian process and `ferry recover`. Only
 * node: modules are loaded up front so that the guardian starts fast; the QMP client is loaded when a
 * guest has to be continued.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { startTimeOf } from './proc-stat.js';
import { describeStep, type UndoStep } from './undo.js';

/** How long to wait for the guest's QMP socket: it serves one client, and is free once ferry's connection is gone. */
const QMP_WAIT_MS = 10_000;

export interface StepOutcome {
  readonly step: UndoStep;
  readonly ok: boolean;
  readonly message: string;
}

/** Runs every step (one failing does not stop the others) and says how each went. */
export async function runUndo(steps: readonly UndoStep[]): Promise<StepOutcome[]> {
  const outcomes: StepOutcome[] = [];
  for (const step of steps) {
    try {
      outcomes.push({ step, ok: true, message: await runStep(step) });
    } catch (error) {
      outcomes.push({ step, ok: false, message: `could not ${describeStep(step)}: ${error instanceof Error ? error.message : String(error)}` });
    }
  }
  return outcomes;
}

async function runStep(step: UndoStep): Promise<string> {
  switch (step.kind) {
    case 'sigcont': return continueProcess(step.pid, step.startTime);
    case 'cpu-max':
      writeFileSync(step.file, step.value);
      return `${step.file} is back to "${step.value}"`;
    case 'qmp-cont': return continueGuest(step.socket);
  }
}

function continueProcess(pid: number, startTime: string): string {
  let now: string | undefined;
  try {
    now = startTimeOf(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return `pid ${pid} is gone: nothing to continue`;
  }
  if (now !== startTime) return `pid ${pid} is another process now: left alone`;
  process.kill(pid, 'SIGCONT');
  return `pid ${pid} continued`;
}

async function continueGuest(socket: string): Promise<string> {
  const { QmpClient } = await import('@ferry/qemu');
  let qmp;
  try {
    qmp = await QmpClient.connect(socket, { timeoutMs: QMP_WAIT_MS, commandTimeoutMs: QMP_WAIT_MS });
  } catch (error) {
    // No socket, or nobody listening on it all along: that QEMU has quit, and no guest waits to be continued.
    const code = ((error as Error).cause as NodeJS.ErrnoException | undefined)?.code;
    if (code === 'ENOENT' || code === 'ECONNREFUSED') return `the guest at ${socket} is gone: nothing to continue`;
    throw error;
  }
  try {
    await qmp.execute('cont');
  } finally {
    await qmp.close();
  }
  return `the guest at ${socket} runs again`;
}

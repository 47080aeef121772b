/**
 * The throttle's guardian: a small process `ferry migrate` starts (detached, in its own process group,
 * so a Ctrl-C or a kill of ferry's group does not reach it) with a pipe on its stdin. ferry writes what
 * would undo the throttle each time that changes (undo.ts); when the pipe closes, ferry has exited, and
 * whatever the newest list still holds is undone: a clean ferry empties the list first, a killed one
 * cannot. Run as `node guardian.js FERRY_PID`; it reports on stderr (ferry's, inherited) and exits.
 */
import { DISARMED, describeStep, guardLine, type GuardState } from './undo.js';
import { runUndo } from './undo-run.js';

const ferryPid = process.argv[2] ?? '?';
let state: GuardState = DISARMED;
let pending = '';

process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk: string) => {
  pending += chunk;
  let newline: number;
  while ((newline = pending.indexOf('\n')) >= 0) {
    state = guardLine(state, pending.slice(0, newline));
    pending = pending.slice(newline + 1);
  }
});
// An error on the pipe means the same as its end: ferry is gone. Nor may a closed stderr end the guardian.
process.stdin.on('error', () => undefined);
process.stderr.on('error', () => undefined);
process.stdin.on('close', () => void undo());

async function undo(): Promise<void> {
  if (state.undo.length === 0) return;
  say(`ferry (pid ${ferryPid}) exited while throttling the workload; undoing it: ${state.undo.map(describeStep).join(', ')}`);
  const outcomes = await runUndo(state.undo);
  for (const outcome of outcomes) say(outcome.message);
  process.exitCode = outcomes.every((o) => o.ok) ? 0 : 1;
}

function say(line: string): void {
  try {
    process.stderr.write(`ferry guard: ${line}\n`);
  } catch {
    // nobody reads ferry's stderr any more: the work matters, not the report
  }
}

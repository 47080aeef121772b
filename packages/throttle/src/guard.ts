/**
 * ferry's side of the guardian (guardian.ts): started the first time the throttle is about to touch the
 * workload, told what would undo the throttle each time that changes, and disarmed at a clean end. A
 * kill -9 of ferry closes the pipe with the newest list still armed, and the guardian undoes it.
 *
 * `set` resolves once the list is in the pipe (the kernel holds it even if ferry dies the next instant,
 * and the guardian reads it whenever it has started), so the driver touches the workload only after
 * that: there is no moment when the workload is stopped and the guardian does not know it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { guardMessage, type UndoStep } from './undo.js';

const GUARDIAN = fileURLToPath(new URL('./guardian.js', import.meta.url));

export type UndoListener = (undo: readonly UndoStep[]) => void;

export class ThrottleGuard {
  #child: ChildProcess | undefined;
  #failure: Error | undefined;
  #undo: readonly UndoStep[] = [];
  readonly #listeners: UndoListener[] = [];

  /** Listeners (the journal) hear every new list before the guardian does. */
  onChange(listener: UndoListener): void {
    this.#listeners.push(listener);
  }

  /** Arms the guardian with `undo` (an empty list disarms it); rejects if it cannot be told. */
  async set(undo: readonly UndoStep[]): Promise<void> {
    if (JSON.stringify(undo) === JSON.stringify(this.#undo)) return;
    this.#undo = undo;
    for (const listener of this.#listeners) listener(undo);
    if (undo.length > 0) this.#child ??= this.#spawn();
    if (this.#child !== undefined) await this.#write(this.#child, guardMessage(undo));
  }

  /**
   * The end of ferry's throttling: `disarm` when the workload is known to be back at full speed; without
   * it the guardian is left armed and undoes the newest list itself once the pipe closes here.
   */
  async close(disarm: boolean): Promise<void> {
    if (disarm) await this.set([]).catch(() => undefined);
    this.#child?.stdin?.end();
    this.#child = undefined;
  }

  #spawn(): ChildProcess {
    // Its own process group (detached): a Ctrl-C to ferry's group or a kill of that group leaves it be.
    // stderr is ferry's, so what it did after a crash is seen where ferry's messages were.
    const child = spawn(process.execPath, [GUARDIAN, String(process.pid)], { detached: true, stdio: ['pipe', 'ignore', 'inherit'] });
    child.on('error', (error) => { this.#failure = error; });
    child.stdin?.on('error', (error) => { this.#failure ??= error; });
    child.unref();
    (child.stdin as Socket | null)?.unref();
    return child;
  }

  #write(child: ChildProcess, line: string): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.#failure !== undefined || child.stdin === null) {
        reject(new Error(`the throttle's guardian is not running (${this.#failure?.message ?? 'no pipe'})`));
        return;
      }
      child.stdin.write(line, (error) => (error ? reject(new Error(`cannot reach the throttle's guardian: ${error.message}`)) : resolve()));
    });
  }
}

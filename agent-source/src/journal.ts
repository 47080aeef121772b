import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, FerryError } from '@ferry/protocol';
import { isPastPointOfNoReturn, type Phase } from './phases.js';

/**
 * A migration's journal: one small file per migration in the state directory, rewritten at every phase
 * change, so that after a `kill -9` of the source `ferry recover` can tell whether the workload was paused
 * and whether GO may have left, and resume it on the source only when it is safe. The directory also holds
 * the migration's temporary state blobs, so a killed migration leaves nothing in the temp directory.
 *
 *   <stateDir>/<migrationId>/journal.json   the entry below
 *   <stateDir>/<migrationId>/state/         state blobs collected after the pause
 */
export interface JournalEntry {
  readonly migrationId: string;
  /** The `ferry migrate` process; recover leaves a migration alone while it lives. */
  readonly pid: number;
  readonly target: string;
  readonly phase: Phase['name'];
  /** The pause hook was started: the workload may be stopped. */
  readonly paused: boolean;
  /** GO was (or may have been) sent: the target may run the workload; never resume it here. */
  readonly goSent: boolean;
  /** How to resume the workload on the source, as the CLI recorded it (hook command, QMP socket...). */
  readonly recovery: Readonly<Record<string, unknown>>;
  /** What would undo the throttle right now (the CLI's records; absent or empty: it touches nothing). */
  readonly throttleUndo?: readonly Readonly<Record<string, unknown>>[];
  readonly updatedAt: string;
}

const JOURNAL_FILE = 'journal.json';

/** $XDG_RUNTIME_DIR/ferry, else /run/user/UID/ferry when that exists, else <tmp>/ferry-UID. */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env['XDG_RUNTIME_DIR']) return join(env['XDG_RUNTIME_DIR'], 'ferry');
  const uid = userInfo().uid;
  const runUser = join('/run/user', String(uid));
  try {
    readdirSync(runUser);
    return join(runUser, 'ferry');
  } catch {
    return join(tmpdir(), `ferry-${uid}`);
  }
}

export class MigrationJournal {
  readonly #dir: string;
  #entry: JournalEntry;
  #removed = false;

  private constructor(dir: string, entry: JournalEntry) {
    this.#dir = dir;
    this.#entry = entry;
  }

  /**
   * Starts the journal of `migrationId` in `stateDir` (created private to this user). An earlier journal
   * of the same id that recover still has to act on (its process runs, or it paused and sent no GO) is never
   * overwritten; one whose GO was sent only informs, and a new migration with that id replaces it.
   */
  static open(stateDir: string, migrationId: string, target: string, recovery: Readonly<Record<string, unknown>>): MigrationJournal {
    const dir = join(stateDir, migrationId);
    const earlier = readJournals(stateDir).find((e) => e.migrationId === migrationId);
    if (earlier) {
      const advice = adviseRecovery(earlier, isAlive(earlier.pid));
      if (advice.action === 'running' || advice.action === 'resume') throw new FerryError(ErrorCode.Conflict, `${advice.message} (journal in ${stateDir}; run ferry recover first)`);
    }
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw new FerryError(ErrorCode.Io, `cannot keep the migration journal in ${stateDir} (--state-dir): ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    const journal = new MigrationJournal(dir, {
      migrationId, pid: process.pid, target, phase: 'connecting', paused: false, goSent: false, recovery, updatedAt: new Date().toISOString(),
    });
    journal.#write();
    return journal;
  }

  /** Where state blobs are collected (emptied before use). */
  get blobDir(): string {
    return join(this.#dir, 'state');
  }

  /** Records `phase`; written only when the phase name (or what recover must know) changes. */
  record(phase: Phase): void {
    const paused = this.#entry.paused || phase.name === 'pausing';
    const goSent = this.#entry.goSent || isPastPointOfNoReturn(phase);
    if (phase.name === this.#entry.phase && paused === this.#entry.paused && goSent === this.#entry.goSent) return;
    this.#entry = { ...this.#entry, phase: phase.name, paused, goSent, updatedAt: new Date().toISOString() };
    this.#write();
  }

  /** Records what would undo the throttle now (after the migration ended: nothing left to record). */
  recordThrottle(undo: readonly Readonly<Record<string, unknown>>[]): void {
    if (this.#removed) return;
    this.#entry = { ...this.#entry, throttleUndo: undo, updatedAt: new Date().toISOString() };
    this.#write();
  }

  /** The migration ended with a known outcome: nothing to recover, the journal goes. */
  remove(): void {
    this.#removed = true;
    rmSync(this.#dir, { recursive: true, force: true });
  }

  #write(): void {
    const path = join(this.#dir, JOURNAL_FILE);
    writeFileSync(`${path}.tmp`, `${JSON.stringify(this.#entry)}\n`, { mode: 0o600 });
    renameSync(`${path}.tmp`, path);
  }
}

/** Every journal in `stateDir` (unreadable ones are skipped: they cannot be acted on). */
export function readJournals(stateDir: string): JournalEntry[] {
  let names: string[];
  try {
    names = readdirSync(stateDir);
  } catch {
    return [];
  }
  const entries: JournalEntry[] = [];
  for (const name of names) {
    try {
      entries.push(JSON.parse(readFileSync(join(stateDir, name, JOURNAL_FILE), 'utf8')) as JournalEntry);
    } catch {
      // not a journal
    }
  }
  return entries;
}

/** Removes a journal (and its leftover state blobs) once recover has dealt with it. */
export function removeJournal(stateDir: string, migrationId: string): void {
  rmSync(join(stateDir, migrationId), { recursive: true, force: true });
}

/** True while a process with this pid exists (EPERM: it exists but belongs to someone else). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export type RecoveryAdvice =
  | { readonly action: 'running'; readonly message: string }
  | { readonly action: 'nothing'; readonly message: string }
  | { readonly action: 'resume'; readonly message: string }
  | { readonly action: 'go-sent'; readonly message: string };

/** What recover should do with a journal, given whether its process still runs. Pure. */
export function adviseRecovery(entry: JournalEntry, processAlive: boolean): RecoveryAdvice {
  const id = entry.migrationId;
  if (processAlive) return { action: 'running', message: `migration ${id} is still running (pid ${entry.pid}); leave it be` };
  if (entry.goSent) {
    return { action: 'go-sent', message: `migration ${id}: GO was sent to ${entry.target}, do not resume: the workload may run on the target (check it there)` };
  }
  if (!entry.paused) return { action: 'nothing', message: `migration ${id} ended in ${entry.phase} before the pause: the workload was never paused` };
  return { action: 'resume', message: `migration ${id} was killed in ${entry.phase} after the pause and before GO: resuming the workload on the source` };
}

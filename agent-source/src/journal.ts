/**
 * A migration's journal: one small file per migration in the state directory, rewritten at every phase
 * change, so that after a `kill -9` of the source `ferry recover` can tell whether the workload was paused
 * and whether GO may have left, and resume it on the source only when it is safe. The directory also holds
 * the migration's temporary state blobs, so a killed migration leaves nothing in the temp directory.
 * recover acts only on journals this user alone could have written (journal-trust.ts).
 *
 *   <stateDir>/<migrationId>/journal.json   a JournalEntry (journal-trust.ts, beside the check of each field)
 *   <stateDir>/<migrationId>/state/         state blobs collected after the pause
 */
import { lstatSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, FerryError } from '@ferry/protocol';
import { isPastPointOfNoReturn, type Phase } from './phases.js';
import { processStartTime } from '@ferry/throttle/proc-stat';
import { currentUid, parseJournal, privacyProblem, readPrivateFile, UntrustedJournal, type JournalEntry } from './journal-trust.js';

const JOURNAL_FILE = 'journal.json';

/**
 * Where journals live unless --state-dir says otherwise: a directory only its user can write, never a
 * shared one like /tmp (where another user could create it first and plant journals). root: /run/ferry
 * (the same for every root shell and service); others: $XDG_RUNTIME_DIR/ferry, else ~/.local/state/ferry.
 */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env, uid = currentUid(), home = homedir()): string {
  if (uid === 0) return '/run/ferry';
  if (env['XDG_RUNTIME_DIR']) return join(env['XDG_RUNTIME_DIR'], 'ferry');
  return join(home, '.local', 'state', 'ferry');
}

/** Creates the state directory (0700) if needed and refuses one that is not this user's alone. */
function ensureStateDir(stateDir: string): void {
  let problem: string | undefined;
  try {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    problem = privacyProblem(stateDir, 'directory');
  } catch (error) {
    throw new FerryError(ErrorCode.Io, `cannot keep the migration journal in ${stateDir} (--state-dir): ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  if (problem) throw new FerryError(ErrorCode.Untrusted, `cannot keep the migration journal in ${stateDir} (--state-dir): ${problem}`);
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
    ensureStateDir(stateDir);
    const { entries, refused } = readJournals(stateDir);
    const mine = refused.find((r) => r.folder === migrationId);
    if (mine) throw new FerryError(ErrorCode.Untrusted, `${mine.path}: ${mine.reason} (move it away or use another --id)`);
    const earlier = entries.find((e) => e.migrationId === migrationId);
    if (earlier) {
      const advice = adviseRecovery(earlier, isRunning(earlier));
      if (advice.action === 'running' || advice.action === 'resume') throw new FerryError(ErrorCode.Conflict, `${advice.message} (journal in ${stateDir}; run ferry recover first)`);
    }
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw new FerryError(ErrorCode.Io, `cannot keep the migration journal in ${stateDir} (--state-dir): ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    const startTime = processStartTime(process.pid);
    const journal = new MigrationJournal(dir, {
      migrationId, pid: process.pid, ...(startTime !== undefined ? { pidStartTime: startTime } : {}), target, phase: 'connecting', paused: false, goSent: false,
      recovery, updatedAt: new Date().toISOString(),
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

/** A journal recover will not act on, and why. */
export interface RefusedJournal {
  readonly folder: string;
  readonly path: string;
  readonly reason: string;
}

export interface JournalScan {
  readonly entries: JournalEntry[];
  readonly refused: RefusedJournal[];
}

/**
 * Every journal in `stateDir` that this user alone could have written; the others are listed with what
 * is wrong. A state directory that is not this user's alone is refused whole (FERRY_ERR_UNTRUSTED);
 * one that does not exist holds nothing. Entries without a journal.json are not journals.
 */
export function readJournals(stateDir: string): JournalScan {
  let names: string[];
  try {
    const problem = privacyProblem(stateDir, 'directory');
    if (problem) throw new FerryError(ErrorCode.Untrusted, `the state directory ${problem}; ferry recover acts only on journals this user alone could have written`);
    names = readdirSync(stateDir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { entries: [], refused: [] };
    throw error;
  }
  const entries: JournalEntry[] = [];
  const refused: RefusedJournal[] = [];
  for (const folder of names.sort()) {
    const path = join(stateDir, folder, JOURNAL_FILE);
    try {
      const entry = readJournal(join(stateDir, folder), path, folder);
      if (entry) entries.push(entry);
    } catch (error) {
      refused.push({ folder, path, reason: error instanceof Error ? error.message : String(error) });
    }
  }
  return { entries, refused };
}

/** The journal in `folderPath`, undefined when it holds none; throws what makes it untrusted. */
function readJournal(folderPath: string, path: string, folder: string): JournalEntry | undefined {
  const folderStats = lstatSync(folderPath);
  if (!folderStats.isDirectory() && !folderStats.isSymbolicLink()) return undefined;
  const folderProblem = privacyProblem(folderPath, 'directory', folderStats);
  if (folderProblem) throw new UntrustedJournal(folderProblem);
  let stats;
  try {
    stats = lstatSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const problem = privacyProblem(path, 'file', stats);
  if (problem) throw new UntrustedJournal(problem);
  try {
    return parseJournal(readPrivateFile(path), folder);
  } catch (error) {
    if (error instanceof UntrustedJournal && !error.message.startsWith(path)) throw new UntrustedJournal(`${path} ${error.message}`);
    throw error;
  }
}

/** Removes a journal (and its leftover state blobs) once recover has dealt with it; the id is a checked folder name. */
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

/**
 * Whether the journal's `ferry migrate` still runs: its pid exists and started when the journal says
 * (a pid reused by another process is not it). A journal without a start time, or a process whose
 * /proc entry cannot be read, counts by its pid alone: leaving a migration be is the safe mistake.
 */
export function isRunning(entry: Pick<JournalEntry, 'pid' | 'pidStartTime'>): boolean {
  if (!isAlive(entry.pid)) return false;
  if (entry.pidStartTime === undefined) return true;
  const now = processStartTime(entry.pid);
  return now === undefined || now === entry.pidStartTime;
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

/**
 * What makes a journal trustworthy enough for `ferry recover` to act on it: recover runs the journal's
 * resume command, connects to its QMP socket, continues its pid and deletes its folder, so a journal
 * must be one that only this user (or root) could have written. That is checked on the file system
 * (lstat: the state directory, the migration's folder and journal.json are this user's, not symbolic
 * links, and not writable by group or others) and then on the content (every field has its type, the
 * migration id is a valid name and the folder's own).
 */
import { constants, fstatSync, lstatSync, openSync, closeSync, readFileSync, type Stats } from 'node:fs';
import { isValidName } from '@ferry/protocol';
import type { Phase } from './phases.js';

/** The user whose files ferry trusts: this process's uid. */
export const currentUid = (): number => process.getuid?.() ?? 0;

/** What is wrong with `path` as a private directory or file of this user, or undefined when nothing is. */
export function privacyProblem(path: string, kind: 'directory' | 'file', stats: Stats = lstatSync(path)): string | undefined {
  if (stats.isSymbolicLink()) return `${path} is a symbolic link: not trusted`;
  if (kind === 'directory' ? !stats.isDirectory() : !stats.isFile()) return `${path} is not a ${kind}`;
  const uid = currentUid();
  if (stats.uid !== uid) return `${path} is owned by uid ${stats.uid}, not by this user (uid ${uid}): not trusted`;
  if ((stats.mode & 0o022) !== 0) return `${path} is writable by group or others (mode ${(stats.mode & 0o777).toString(8)}): not trusted`;
  return undefined;
}

/** Reads a file only if it is private to this user (opened without following a link, checked on the open file). */
export function readPrivateFile(path: string): string {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const problem = privacyProblem(path, 'file', fstatSync(fd));
    if (problem) throw new UntrustedJournal(problem);
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

export class UntrustedJournal extends Error {
  override readonly name = 'UntrustedJournal';
}

const PHASES: ReadonlySet<string> = new Set<Phase['name']>([
  'connecting', 'handshake', 'precopy', 'pausing', 'final-pass', 'state', 'verify', 'commit-wait', 'go-sent', 'done', 'rollback', 'unknown',
]);

/** One migration's journal.json. */
export interface JournalEntry {
  readonly migrationId: string;
  /** The `ferry migrate` process; recover leaves a migration alone while it lives. */
  readonly pid: number;
  /** When that process started (/proc/PID/stat): a pid reused by another process is not the migration. */
  readonly pidStartTime?: string;
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

/** The journal in `text`, found in folder `folder`; throws UntrustedJournal saying what is wrong. */
export function parseJournal(text: string, folder: string): JournalEntry {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UntrustedJournal(`not JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (!isRecord(value)) throw new UntrustedJournal('not a JSON object');
  const { migrationId, pid, pidStartTime, target, phase, paused, goSent, recovery, updatedAt } = value;
  if (!isValidName(migrationId)) throw new UntrustedJournal(`migration id ${JSON.stringify(migrationId)} is not allowed`);
  if (migrationId !== folder) throw new UntrustedJournal(`names migration ${JSON.stringify(migrationId)} but lies in folder ${JSON.stringify(folder)}`);
  if (!Number.isSafeInteger(pid) || (pid as number) <= 0) throw new UntrustedJournal(`pid ${JSON.stringify(pid)} is not a process id`);
  if (pidStartTime !== undefined && (typeof pidStartTime !== 'string' || !/^\d+$/.test(pidStartTime))) throw new UntrustedJournal('pidStartTime is not a number of clock ticks');
  if (typeof phase !== 'string' || !PHASES.has(phase)) throw new UntrustedJournal(`phase ${JSON.stringify(phase)} is not a phase of ferry migrate`);
  if (typeof paused !== 'boolean' || typeof goSent !== 'boolean') throw new UntrustedJournal('paused and goSent must be true or false');
  if (typeof target !== 'string' || typeof updatedAt !== 'string') throw new UntrustedJournal('target and updatedAt must be text');
  const throttleUndo = value['throttleUndo'];
  if (throttleUndo !== undefined && (!Array.isArray(throttleUndo) || !throttleUndo.every(isRecord))) throw new UntrustedJournal('throttleUndo is not a list of steps');
  return {
    migrationId, pid: pid as number, ...(pidStartTime !== undefined ? { pidStartTime } : {}), target, phase: phase as Phase['name'], paused, goSent,
    recovery: parseRecovery(recovery), ...(throttleUndo !== undefined ? { throttleUndo } : {}), updatedAt,
  };
}

/** The recipe's fields recover uses, each of its type (the CLI wrote them; anything else is refused). */
function parseRecovery(value: unknown): Readonly<Record<string, unknown>> {
  if (!isRecord(value)) throw new UntrustedJournal('recovery is not an object');
  const text = (key: string): void => {
    if (value[key] !== undefined && typeof value[key] !== 'string') throw new UntrustedJournal(`recovery.${key} is not text`);
  };
  text('resumeCmd');
  text('qmp');
  text('diskDir');
  const timeout = value['hookTimeoutMs'];
  if (timeout !== undefined && (!Number.isSafeInteger(timeout) || (timeout as number) <= 0)) throw new UntrustedJournal('recovery.hookTimeoutMs is not a positive number');
  const disks = value['disks'];
  if (disks !== undefined && (!Array.isArray(disks) || !disks.every(isValidName))) throw new UntrustedJournal('recovery.disks is not a list of disk names');
  return value;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

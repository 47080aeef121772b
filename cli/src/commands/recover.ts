import { rm } from 'node:fs/promises';
import { basename } from 'node:path';
import { ErrorCode, FerryError } from '@ferry/protocol';
import { adviseRecovery, defaultStateDir, isRunning, privacyProblem, readJournals, removeJournal, type JournalEntry, type RecoveryAdvice } from '@ferry/agent-source';
import { runHook } from '@ferry/serve';
import { describeStep, runUndo, throttleRecovery } from '@ferry/throttle';
import { HELP_FLAG, parseFlags } from '../flags.js';
import { DISK_DIR_PREFIX } from '../source-disks.js';
import { EXIT } from '../usage.js';

const HELP = `ferry recover [--state-dir DIR] [--id ID] [--json]

After 'ferry migrate' was killed (kill -9, a crash, a reboot of the tool but not the host), reads the
migrations' journals and says what happened. A migration killed after the pause and before GO had its
workload stopped and running nowhere: recover resumes it on the source the way the migration would have
rolled back (its --resume-cmd, or QMP cont with --qmp). When GO was sent, the target may run the workload:
recover does not resume it and exits 4; check the target.

A migration killed while its throttle (--throttle auto) slowed the workload: the guardian process that
'ferry migrate' starts undoes the throttle at once (continues a stopped guest or --throttle-pid process,
puts a --cgroup's cpu.max back). The journal records the same steps; recover runs them again in case
the guardian could not, except after GO, when it only puts cpu.max back.

recover acts only on journals this user alone could have written: the state directory, each
migration's folder and journal.json must be owned by this user, not symbolic links and not writable by
group or others, and the migration id must be its folder's name; anything else is refused (exit 1),
named, and left in place. A journal's throttle steps write only numbers to cgroup CPU limit files.

  --state-dir DIR   where 'ferry migrate' kept its journal (default: /run/ferry for root, else
                    $XDG_RUNTIME_DIR/ferry, else ~/.local/state/ferry)
  --id ID           only this migration
  --json            one JSON line per migration
`;

export const RECOVER_FLAGS = { 'state-dir': { type: 'string' }, id: { type: 'string' }, json: { type: 'boolean' }, ...HELP_FLAG } as const;

export async function recoverCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, RECOVER_FLAGS);
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const stateDir = values['state-dir'] ?? defaultStateDir();
  const scan = readJournals(stateDir);
  const wanted = (id: string): boolean => values.id === undefined || id === values.id;
  const entries = scan.entries.filter((e) => wanted(e.migrationId));
  const refused = scan.refused.filter((r) => wanted(r.folder));
  for (const { folder, reason } of refused) say(values.json, { migrationId: folder, action: 'refused', message: `not acting on journal ${folder}: ${reason}` });
  if (entries.length === 0 && refused.length === 0) {
    say(values.json, { migrationId: values.id ?? null, action: 'nothing', message: `no migration journal${values.id ? ` for ${values.id}` : ''} in ${stateDir}: nothing to recover` });
    return 0;
  }
  let code: number = refused.length > 0 ? EXIT.error : EXIT.committed;
  for (const entry of entries) {
    const advice = adviseRecovery(entry, isRunning(entry));
    say(values.json, { migrationId: entry.migrationId, action: advice.action, message: advice.message });
    const throttleUndone = advice.action === 'running' || await undoThrottle(entry, (message) => say(values.json, { migrationId: entry.migrationId, action: 'throttle', message }));
    const outcome = await act(stateDir, entry, advice, { keepJournal: !throttleUndone });
    if (outcome.message) say(values.json, { migrationId: entry.migrationId, action: advice.action, message: outcome.message });
    code = Math.max(code, outcome.code);
  }
  return code;
}

/** Acts on the advice; `keepJournal` (a throttle step failed) keeps the journal for another try and exits 1. */
async function act(stateDir: string, entry: JournalEntry, advice: RecoveryAdvice, { keepJournal = false } = {}): Promise<{ code: number; message?: string }> {
  const done = keepJournal ? EXIT.error : EXIT.committed;
  switch (advice.action) {
    case 'running':
      return { code: EXIT.committed };
    case 'go-sent':
      return { code: EXIT.unknown };
    case 'nothing': {
      // Best effort: the workload runs either way; what could not be removed is said.
      const left = await removeDiskTracking(entry).then(() => undefined, (error: unknown) => (error instanceof Error ? error.message : String(error)));
      if (!keepJournal) removeJournal(stateDir, entry.migrationId);
      return { code: done, ...(left ? { message: left } : {}) };
    }
    case 'resume':
      try {
        await resumeOnSource(entry.recovery);
        await removeDiskTracking(entry);
      } catch (error) {
        return { code: EXIT.error, message: `resuming failed, the journal stays: ${error instanceof Error ? error.message : String(error)}` };
      }
      if (!keepJournal) removeJournal(stateDir, entry.migrationId);
      return { code: done, message: `the workload of ${entry.migrationId} runs on the source again` };
  }
}

/**
 * Undoes what the throttle of a dead migration still held (the guardian has usually done it already;
 * every step is safe to repeat). False when a step failed: the journal then stays for another try.
 */
async function undoThrottle(entry: JournalEntry, report: (message: string) => void): Promise<boolean> {
  const { run, withheld, refused } = throttleRecovery(entry);
  for (const step of withheld) report(`GO was sent: not going to ${describeStep(step)} (the workload may run on the target)`);
  for (const problem of refused) report(`throttle step refused: ${problem}; the journal stays`);
  const outcomes = await runUndo(run);
  for (const outcome of outcomes) report(`throttle: ${outcome.ok ? outcome.message : `${outcome.message}; the journal stays`}`);
  return refused.length === 0 && outcomes.every((o) => o.ok);
}

/** The recipe `ferry migrate` recorded: QEMU's cont after the user's resume command, as the rollback does. */
async function resumeOnSource(recovery: Readonly<Record<string, unknown>>): Promise<void> {
  const timeoutMs = typeof recovery['hookTimeoutMs'] === 'number' ? recovery['hookTimeoutMs'] : 60_000;
  const resumeCmd = recovery['resumeCmd'];
  if (typeof resumeCmd === 'string') await runHook({ name: 'resume', command: resumeCmd, timeoutMs, echo: true });
  const qmp = recovery['qmp'];
  if (typeof qmp === 'string') {
    const { QemuSourceDriver } = await import('@ferry/qemu');
    const qemu = await QemuSourceDriver.connect(qmp);
    try {
      await qemu.resume();
    } finally {
      await qemu.close();
    }
  }
}

/**
 * The dirty bitmaps, NBD exports and FUSE views a killed `ferry migrate --disk` left on the source QEMU,
 * then the private folder the views and sockets lived in: removed only when it is still what ferry made
 * (a ferry-disks- folder of this user's, no link, not writable by others), else named and left alone.
 */
async function removeDiskTracking(entry: JournalEntry): Promise<void> {
  const { qmp, disks, diskDir } = entry.recovery;
  if (typeof qmp !== 'string' || !Array.isArray(disks) || disks.length === 0) return;
  const { QmpClient, diskBitmapPrefix, removeDiskLeftovers } = await import('@ferry/qemu');
  const client = await QmpClient.connect(qmp);
  try {
    for (const disk of disks) {
      if (typeof disk === 'string') await removeDiskLeftovers(client, diskBitmapPrefix(entry.migrationId, disk));
    }
  } finally {
    await client.close();
  }
  if (typeof diskDir !== 'string') return;
  const problem = basename(diskDir).startsWith(DISK_DIR_PREFIX) ? privacyProblem(diskDir, 'directory') : `${diskDir} is not a folder ferry made for disk views`;
  if (problem) throw new FerryError(ErrorCode.Untrusted, `not removing the disk views' folder: ${problem}`);
  await rm(diskDir, { recursive: true, force: true });
}

function say(json: boolean | undefined, line: { migrationId: string | null; action: string; message: string }): void {
  process.stdout.write(json ? `${JSON.stringify(line)}\n` : `${line.message}\n`);
}

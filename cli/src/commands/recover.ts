import { rm } from 'node:fs/promises';
import { adviseRecovery, isAlive, readJournals, removeJournal, type JournalEntry, type RecoveryAdvice } from '@ferry/agent-source';
import { runHook } from '@ferry/serve';
import { HELP_FLAG, parseFlags } from '../flags.js';
import { stateDirFrom } from '../migrate-options.js';
import { diskViewPath } from '../source-disks.js';
import { EXIT } from '../usage.js';

const HELP = `ferry recover [--state-dir DIR] [--id ID] [--json]

After 'ferry migrate' was killed (kill -9, a crash, a reboot of the tool but not the host), reads the
migrations' journals and says what happened. A migration killed after the pause and before GO had its
workload stopped and running nowhere: recover resumes it on the source the way the migration would have
rolled back (its --resume-cmd, or QMP cont with --qmp). When GO was sent, the target may run the workload:
recover does not resume it and exits 4; check the target.

  --state-dir DIR   where 'ferry migrate' kept its journal (default $XDG_RUNTIME_DIR/ferry)
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
  const stateDir = stateDirFrom(values);
  const entries = readJournals(stateDir).filter((e) => values.id === undefined || e.migrationId === values.id);
  if (entries.length === 0) {
    say(values.json, { migrationId: values.id ?? null, action: 'nothing', message: `no migration journal${values.id ? ` for ${values.id}` : ''} in ${stateDir}: nothing to recover` });
    return 0;
  }
  let code: number = EXIT.committed;
  for (const entry of entries) {
    const advice = adviseRecovery(entry, isAlive(entry.pid));
    say(values.json, { migrationId: entry.migrationId, action: advice.action, message: advice.message });
    const outcome = await act(stateDir, entry, advice);
    if (outcome.message) say(values.json, { migrationId: entry.migrationId, action: advice.action, message: outcome.message });
    code = Math.max(code, outcome.code);
  }
  return code;
}

async function act(stateDir: string, entry: JournalEntry, advice: RecoveryAdvice): Promise<{ code: number; message?: string }> {
  switch (advice.action) {
    case 'running':
      return { code: EXIT.committed };
    case 'go-sent':
      return { code: EXIT.unknown };
    case 'nothing':
      await removeDiskTracking(entry).catch(() => undefined); // best effort: the workload runs either way
      removeJournal(stateDir, entry.migrationId);
      return { code: EXIT.committed };
    case 'resume':
      try {
        await resumeOnSource(entry.recovery);
        await removeDiskTracking(entry);
      } catch (error) {
        return { code: EXIT.error, message: `resuming failed, the journal stays: ${error instanceof Error ? error.message : String(error)}` };
      }
      removeJournal(stateDir, entry.migrationId);
      return { code: EXIT.committed, message: `the workload of ${entry.migrationId} runs on the source again` };
  }
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

/** The dirty bitmaps, NBD exports and FUSE views a killed `ferry migrate --disk` left on the source QEMU. */
async function removeDiskTracking(entry: JournalEntry): Promise<void> {
  const { qmp, disks } = entry.recovery;
  if (typeof qmp !== 'string' || !Array.isArray(disks) || disks.length === 0) return;
  const { QmpClient, diskBitmapPrefix, removeDiskLeftovers } = await import('@ferry/qemu');
  const client = await QmpClient.connect(qmp);
  try {
    for (const disk of disks) {
      if (typeof disk !== 'string') continue;
      await removeDiskLeftovers(client, diskBitmapPrefix(entry.migrationId, disk));
      await rm(diskViewPath(entry.migrationId, disk), { force: true });
    }
  } finally {
    await client.close();
  }
}

function say(json: boolean | undefined, line: { migrationId: string | null; action: string; message: string }): void {
  process.stdout.write(json ? `${JSON.stringify(line)}\n` : `${line.message}\n`);
}

import { migrate, type MigrationSummary } from '@ferry/agent-source';
import { HELP_FLAG, LOG_FLAGS, parseFlags } from '../flags.js';
import { createLogger } from '../logging.js';
import { readMigrateRequest } from '../migrate-options.js';
import { MIGRATE_ARG_SPEC } from '../migrate-plan.js';
import { humanSink, jsonSink } from '../progress.js';
import { buildSourceSeams } from '../source-seams.js';
import { EXIT } from '../usage.js';

const HELP = `ferry migrate --to ws[s]://HOST:PORT --image NAME=PATH [options]

Migrates the image files (and state blobs) to a ferry target while the workload keeps running,
pausing it only for the final pass. Nothing is lost on failure: before the commit point the workload
is resumed on the source and ferry exits 3.

  --image NAME=PATH      an image to move (repeatable); QEMU: the memory-backend-file, e.g. ram=/dev/shm/vm.ram
  --state NAME=PATH      a file sent after the pause (repeatable)
  --state-cmd CMD        run after the pause; every file it writes into $FERRY_STATE_DIR is sent as state
  --pause-cmd CMD        stops the workload (e.g. kill -STOP $PID)
  --resume-cmd CMD       resumes it on the source after a failure (e.g. kill -CONT $PID)
  --qmp SOCKET           a QEMU guest: pause = stop, device state with x-ignore-shared, rollback = cont
  --disk NAME=NODE       with --qmp: migrate the guest disk NODE (a block node or device, raw file) as image
                         NAME; QEMU dirty bitmaps find its changed blocks (repeatable), e.g. vda=vda
  --dirty-log MODE       how pre-copy finds an --image's dirty pages: auto (default: the kernel's soft-dirty
                         log when it keeps one and the writer is known, else hashing), soft-dirty (insist),
                         hash (read and hash every page each pass)
  --dirty-pid PID        the process that writes the image through a shared mapping (with --qmp: found)
  --keep-source          with --qmp: leave the source QEMU paused after the commit instead of quitting it
  --policy P             smart (default), xen or downtime
  --max-downtime MS      a promise: pause only when the expected pause fits MS (every policy); if it never
                         does, --timeout and --on-timeout decide
  --throttle MODE        auto (default): slow the workload when pre-copy does not converge, through
                         --cgroup PATH (its CPU limit: v2 cpu.max, v1 cpu.cfs_quota_us),
                         --throttle-pid PID (SIGSTOP/SIGCONT duty cycle) or the --qmp guest
                         (stop/cont duty cycle); off: never
  --delta-cache BYTES    XOR-delta cache of sent pages (default 256MiB); --no-delta turns deltas off
  --compress MODE        auto (default: LZ4 while the link is the bottleneck), always, never
  --rate-limit RATE      cap the sending rate, e.g. 100mbit or 12MB/s (instead of pacing to the link)
  --no-pacing            send as fast as the socket takes pages; by default the source measures the link
                         from the target's ACKs and paces itself to it, so no queue builds ahead of the pause
  --token-file F         bearer token for the target; --ca F verifies a wss:// target
  --tls-client-cert F --tls-client-key F   client certificate for mutual TLS
  --reconnect-timeout S  after a cut during pre-copy, reconnect and resume for up to S seconds (default 30;
                         0: roll back at once)
  --reply-timeout S      how long to wait for any one answer from the target (default 60)
  --timeout SECONDS      limit on pre-copy; --on-timeout cancel (default: roll back) or force (pause anyway)
  --hook-timeout S       kill a hook command (pause, resume, state) that runs longer than S seconds (default 60)
  --paused-timeout S     roll back when one paused phase (final pass, state, verify, commit wait) takes over S (default 120)
  --state-dir DIR        the journal 'ferry recover' reads after a crash (default /run/ferry for root,
                         else $XDG_RUNTIME_DIR/ferry, else ~/.local/state/ferry; private to this user)
  --id ID                migration id (default: generated); --workers N scan threads (default cores-1)
  --page-size BYTES      the page size the image is scanned and sent in (default 4096)
  --json                 NDJSON progress on stdout; the last line is the summary
  --log-level L, --log-file F
Sizes, rates and durations: see 'ferry --help'.
`;

/** After the summary, how long output may take to flush before the process exits regardless. */
const EXIT_GRACE_MS = 2000;

export const MIGRATE_COMMAND_FLAGS = { ...MIGRATE_ARG_SPEC, json: { type: 'boolean' }, ...LOG_FLAGS, ...HELP_FLAG } as const;

export async function migrateCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, MIGRATE_COMMAND_FLAGS);
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const { plan, options } = readMigrateRequest(values);
  const logger = createLogger(values['log-level'], values['log-file'], 'ferry-migrate');
  const sink = values.json ? jsonSink() : humanSink(process.stderr.isTTY === true);
  const { close, options: withDisks, ...seams } = await buildSourceSeams(plan, options, logger);
  const controller = new AbortController();
  const onSignal = (): void => controller.abort();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let summary: MigrationSummary;
  try {
    summary = await migrate(withDisks, { ...seams, logger, onEvent: (e) => sink.event(e), signal: controller.signal });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await close().catch(() => {});
  }
  sink.summary(summary);
  if (summary.error && !values.json) process.stderr.write(`ferry migrate: ${summary.error.message}\n`);
  // The summary is the end: nothing left behind (a stuck read, a hook's pipe) may keep the process alive.
  setTimeout(() => process.exit(process.exitCode ?? EXIT.error), EXIT_GRACE_MS).unref();
  switch (summary.result) {
    case 'committed': return EXIT.committed;
    case 'rolled-back': return EXIT.rolledBack;
    case 'unknown': return EXIT.unknown;
  }
}

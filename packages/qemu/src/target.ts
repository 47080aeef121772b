/**
 * The target side of a QEMU migration, run by `ferry target --qemu-cmd` in two steps:
 *
 *   startTargetQemu (ahead of GO, while the source's last passes are still arriving)
 *     spawn QEMU (template + -incoming defer + our -qmp), detached, output to WORKDIR/qemu.log
 *     qmp_capabilities; migrate-set-capabilities x-ignore-shared (and events) on
 *   load (after GO, the images and the `qemu-state` blob complete and fsynced)
 *     migrate-incoming from the device-state file (or a socket ferry writes it into); wait for completed
 *     cont; query-status must say running; disconnect QMP; QEMU keeps running on its own
 *
 * Starting early is safe because an incoming QEMU neither runs the guest nor touches its memory or disks
 * before the migration completes: it leaves ROM contents out of RAM while in INMIGRATE, keeps block nodes
 * inactive (it re-reads them when they are activated), and maps the shared RAM file, whose page cache
 * sees every page ferry writes after. `launchTargetQemu` does both steps at once.
 *
 * Any failure kills the QEMU it started and throws a QemuLaunchError that carries the tail of qemu.log
 * (QEMU explains a refused device state there, then exits).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { QEMU_LAUNCH_FILES } from '@ferry/protocol';
import { silentLogger, type QemuLogger } from './logger.js';
import { setCapabilities, waitForMigration, waitForRunState } from './migration.js';
import { QmpClient } from './qmp.js';
import { MAX_SOCKET_PATH, STATE_SOCKET, stateIn } from './state-stream.js';
import { expandQemuTemplate, TemplateError } from './template.js';

export interface LaunchTargetOptions {
  /** The QEMU command line with `{image:NAME}` placeholders (and ideally `-incoming defer`). */
  readonly template: string;
  /** Image name → received file path. */
  readonly images: Record<string, string>;
  /** The received `qemu-state` blob. */
  readonly deviceStatePath: string;
  /** Where qmp.sock and qemu.log go. */
  readonly workDir: string;
  readonly logger?: QemuLogger;
  /** Limit for the whole launch (start, load, cont). Default 60 s. */
  readonly timeoutMs?: number;
}

export interface LaunchedQemu {
  readonly pid: number;
  readonly qmpPath: string;
}

export class QemuLaunchError extends Error {
  override readonly name = 'QemuLaunchError';
  /** The last lines QEMU wrote to qemu.log. */
  readonly logTail: string;

  constructor(message: string, logTail: string, cause: unknown) {
    super(logTail.length > 0 ? `${message}; qemu.log: ${logTail}` : message, { cause });
    this.logTail = logTail;
  }
}

/** The argv launchTargetQemu runs: the expanded template, `-incoming defer` if missing, our QMP socket. */
export function targetQemuArgv(template: string, images: Record<string, string>, qmpPath: string): string[] {
  const argv = expandQemuTemplate(template, images);
  const incoming = argv.findIndex((arg) => arg === '-incoming' || arg === '--incoming');
  if (incoming < 0) {
    argv.push('-incoming', 'defer');
  } else if (argv[incoming + 1] !== 'defer') {
    throw new TemplateError(`the QEMU command has '-incoming ${argv[incoming + 1] ?? ''}': ferry feeds the device state itself, use '-incoming defer'`);
  }
  argv.push('-qmp', `unix:${qmpPath},server=on,wait=off`);
  return argv;
}

/** Starts the target QEMU on the received images, loads the device state into it and lets it run. */
export async function launchTargetQemu(options: LaunchTargetOptions): Promise<LaunchedQemu> {
  const started = await startTargetQemu(options);
  return started.load(options.deviceStatePath);
}

export type StartTargetOptions = Omit<LaunchTargetOptions, 'deviceStatePath'>;

/** A target QEMU waiting for its device state (`-incoming defer`): load it once, or kill it. */
export interface StartedQemu {
  readonly pid: number;
  /** Loads the device state, resumes the guest and lets QEMU run on its own. */
  load(deviceStatePath: string): Promise<LaunchedQemu>;
  /** Kills QEMU while it still waits for its device state (a rollback); a loaded QEMU runs on. Never throws. */
  kill(): Promise<void>;
}

/**
 * Where the target QEMU's monitor socket goes, and its device-state socket beside it: its migration
 * folder, or, when a path there would be too long for a unix socket, a private folder of its own
 * (mkdtemp, 0700), removed with a QEMU that is killed or fails. Never a guessable name in the shared temp
 * folder, where another local user could put something first.
 */
function qmpSocketPath(workDir: string): string {
  const dir = Buffer.byteLength(join(workDir, STATE_SOCKET)) <= MAX_SOCKET_PATH ? workDir : mkdtempSync(join(tmpdir(), 'ferry-qmp-'));
  return join(dir, QEMU_LAUNCH_FILES.monitor);
}

/** Where a target QEMU writes its log (from `logStart` on), and how to remove its private socket folder. */
interface LaunchSite {
  readonly log: QemuLogger;
  readonly logPath: string;
  readonly logStart: number;
  readonly dropSockets: () => void;
}

/** A target QEMU started and answering on QMP, waiting for its device state. */
interface WaitingQemu {
  readonly pid: number;
  readonly child: ChildProcess;
  readonly qmp: QmpClient;
  readonly qmpPath: string;
  readonly timeoutMs: number;
  /** Rejects when QEMU exits. */
  readonly exited: Promise<never>;
  readonly where: LaunchSite;
}

/** Starts the target QEMU on the images (files at their final paths) and leaves it waiting for the device state. */
export async function startTargetQemu(options: StartTargetOptions): Promise<StartedQemu> {
  const launched = await launch(options);
  const { pid, qmp, child, where } = launched;
  let loaded = false;
  return {
    pid,
    load: async (deviceStatePath) => {
      const running = await runFromState(launched, deviceStatePath);
      loaded = true;
      return running;
    },
    kill: async () => {
      if (loaded) return;
      await qmp.close().catch(() => undefined);
      await killAndDrop(child, where);
      where.log.info({ pid }, 'target QEMU killed (the migration did not commit)');
    },
  };
}

/** A step of the launch, or QEMU's exit if that comes first. */
const orExit = <T>(exited: Promise<never>, step: Promise<T>): Promise<T> => Promise.race([step, exited]);

/** Spawns QEMU and connects to its monitor; on failure QEMU is killed and the error says why. */
async function launch(options: StartTargetOptions): Promise<WaitingQemu> {
  const log = options.logger ?? silentLogger;
  const timeoutMs = options.timeoutMs ?? 60_000;
  const qmpPath = qmpSocketPath(options.workDir);
  const socketFolder = dirname(qmpPath);
  const logPath = join(options.workDir, QEMU_LAUNCH_FILES.log);
  const where: LaunchSite = {
    log, logPath, logStart: sizeOf(logPath),
    // A private folder of its own goes with a QEMU that is killed or fails; a running QEMU keeps its monitor there.
    dropSockets: () => { if (socketFolder !== options.workDir) rmSync(socketFolder, { recursive: true, force: true }); },
  };
  const begun = performance.now();
  let argv: string[];
  let child: ChildProcess;
  try {
    // The template names the images a source announced: one that does not fit fails here, after the folder exists.
    argv = targetQemuArgv(options.template, options.images, qmpPath);
    rmSync(qmpPath, { force: true });
    child = await spawnDetached(argv, logPath, where.logStart);
  } catch (error) {
    where.dropSockets();
    throw error;
  }
  const pid = child.pid!;
  log.info({ pid, argv, log: where.logPath }, 'started target QEMU');
  const exited = new Promise<never>((_resolve, reject) => {
    child.once('exit', (code, signal) => reject(new Error(`QEMU exited (${signal ?? `code ${code}`})`)));
  });
  exited.catch(() => undefined);
  let qmp: QmpClient | undefined;
  try {
    qmp = await orExit(exited, QmpClient.connect(qmpPath, { timeoutMs, commandTimeoutMs: timeoutMs }));
    await orExit(exited, setCapabilities(qmp, { 'x-ignore-shared': true, events: true }));
  } catch (error) {
    await qmp?.close().catch(() => undefined);
    throw await launchFailure(child, exited, error, where);
  }
  log.info({ pid, startMs: Math.round(performance.now() - begun) }, 'target QEMU waits for its device state');
  return { pid, child, qmp, qmpPath, timeoutMs, exited, where };
}

/** Loads the device state into the waiting QEMU and lets the guest run; on failure QEMU is killed. */
async function runFromState(launched: WaitingQemu, deviceStatePath: string): Promise<LaunchedQemu> {
  const { pid, qmp, qmpPath, timeoutMs, exited, child, where } = launched;
  try {
    const loading = performance.now();
    const stream = stateIn(qmp, deviceStatePath, dirname(qmpPath));
    try {
      await orExit(exited, qmp.execute('migrate-incoming', { uri: stream.uri }));
      await orExit(exited, Promise.all([stream.transfer(), waitForMigration(qmp, timeoutMs)]));
    } finally {
      stream.close();
    }
    const loadMs = Math.round(performance.now() - loading);
    await orExit(exited, qmp.execute('cont'));
    await orExit(exited, waitForRunState(qmp, (s) => s.running, timeoutMs));
    await qmp.close();
    child.unref();
    where.log.info({ pid, loadMs, contMs: Math.round(performance.now() - loading) - loadMs }, 'target QEMU running');
    return { pid, qmpPath };
  } catch (error) {
    await qmp.close().catch(() => undefined);
    throw await launchFailure(child, exited, error, where);
  }
}

/** Kills the QEMU that failed and explains why: its exit says more than the QMP socket closing first. */
async function launchFailure(
  child: ChildProcess,
  exited: Promise<never>,
  error: unknown,
  where: LaunchSite,
): Promise<QemuLaunchError> {
  // QEMU that refuses the device state exits; give it a moment to say so.
  const exit = await Promise.race([exited.catch((e: Error) => e), new Promise((resolve) => setTimeout(resolve, 1000, undefined))]);
  await killAndDrop(child, where);
  const reason = exit instanceof Error ? exit.message : error instanceof Error ? error.message : String(error);
  where.log.warn({ pid: child.pid, err: reason }, 'target QEMU failed');
  return new QemuLaunchError(`target QEMU failed: ${reason}`, logTail(where.logPath, where.logStart), error);
}

function spawnDetached(argv: string[], logPath: string, logStart: number): Promise<ChildProcess> {
  const [command, ...args] = argv;
  if (command === undefined) throw new TemplateError('the QEMU command is empty');
  const fd = openSync(logPath, 'a');
  try {
    const child = spawn(command, args, { detached: true, stdio: ['ignore', fd, fd] });
    return new Promise((resolve, reject) => {
      child.once('spawn', () => resolve(child));
      child.once('error', (error) => {
        reject(new QemuLaunchError(`target QEMU failed: cannot start ${command}: ${error.message}`, logTail(logPath, logStart), error));
      });
    });
  } finally {
    closeSync(fd);
  }
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/** Kills a QEMU that will not run on (a rollback, a failed launch) and removes its private socket folder. */
async function killAndDrop(child: ChildProcess, where: LaunchSite): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const gone = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await Promise.race([gone, new Promise((resolve) => setTimeout(resolve, 5000))]);
  }
  where.dropSockets();
}

/** The last lines this QEMU wrote to qemu.log (from byte `start` on), joined on one line for an error. */
function logTail(path: string, start: number, maxChars = 1500): string {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const end = sizeOf(path);
    const from = Math.max(start, end - maxChars);
    const buffer = Buffer.alloc(Math.max(0, end - from));
    const n = readSync(fd, buffer, 0, buffer.length, from);
    return buffer.subarray(0, n).toString('utf8').trim().split('\n').slice(-10).join(' | ');
  } catch {
    return '';
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

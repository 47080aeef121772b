/**
 * Real QEMU for the end-to-end tests: the test guest (scripts/build-guest.sh), a source QEMU whose RAM
 * is a shared file in /dev/shm, the matching --qemu-cmd template for the target, and the guest's
 * heartbeats read from the serial log files. Every QEMU started here, or named by a pid file, is killed
 * when the test ends.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { shellQuote } from '@ferry/qemu';
import type { Test } from 'tap';
import { runMigrate, startTarget, type MigrateRun, type RunningProcess, type Teardown } from './ferry.js';
import { repoPath } from './repo.js';
import { until } from './wait.js';

export const QEMU = 'qemu-system-x86_64';

export interface Guest {
  readonly kernel: string;
  readonly initrd: string;
}

/** Why the QEMU tests cannot run here, or undefined when they can. */
export function qemuMissing(): string | undefined {
  const version = spawnSync(QEMU, ['--version'], { encoding: 'utf8' });
  if (version.error || version.status !== 0) return `${QEMU} is not installed (bash scripts/install-qemu.sh)`;
  if (!existsSync('/dev/shm')) return 'no /dev/shm';
  return undefined;
}

/** Builds the test guest when needed (it skips what is up to date) and returns its files. */
export function buildGuest(): Guest {
  const build = spawnSync('bash', [repoPath('scripts', 'build-guest.sh')], { encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`scripts/build-guest.sh failed: ${build.stderr}`);
  const dir = repoPath('.cache', 'guest');
  return { kernel: join(dir, 'kernel'), initrd: join(dir, 'initramfs.gz') };
}

export interface GuestOptions {
  readonly guest: Guest;
  /** The QEMU command and any leading options (default `qemu-system-x86_64`), e.g. another build with -L. */
  readonly qemu?: readonly string[];
  /** RAM size in MiB (the file is exactly this big). */
  readonly ramMiB?: number;
  /** memtouch: MiB it fills, pages per second it rewrites, seconds per verify sweep. */
  readonly touchMiB?: number;
  readonly rate?: number;
  readonly sweep?: number;
  /** Milliseconds between heartbeats (default 500); a bench timing the blackout from the gap wants ~20. */
  readonly heartbeatMs?: number;
  /** A virtio-blk disk the workload writes (image name `vda` in ferry, node and drive `vda` in QEMU). */
  readonly disk?: GuestDisk;
}

export interface GuestDisk {
  /** The source's raw disk file (the target's is ferry's `{disk:vda}`). */
  readonly path: string;
  /** MiB of it the workload writes and re-reads, and blocks per second it writes. */
  readonly mib?: number;
  readonly rate?: number;
  /**
   * The target opens ferry's received file with snapshot=on (default), so the guest's writes there go
   * to a temporary overlay and the received file stays as ferry wrote it, for comparison. false: the
   * target guest writes the received file itself, as the source did (to migrate it on again).
   */
  readonly targetSnapshot?: boolean;
  /** The source disk's format (default raw); ferry always delivers a raw file. */
  readonly format?: 'raw' | 'qcow2';
}

/**
 * The QEMU options both ends share (same machine, same devices, so the device state loads), with the
 * RAM at `ramPath` and the serial console at `serialPath`. No QMP, no -incoming: each side adds its own.
 */
export function guestArgs(options: GuestOptions, ramPath: string, serialPath: string): string[] {
  const ram = options.ramMiB ?? 256;
  const disk = options.disk;
  const diskCmdline = disk ? ` memtouch.disk=/dev/vda memtouch.dmib=${disk.mib ?? 16} memtouch.drate=${disk.rate ?? 100}` : '';
  // no_timer_check: on a loaded host a TCG guest's timer can miss the kernel's boot-time IO-APIC check,
  // which then panics ("IO-APIC + timer doesn't work!"); seen here at a load average of 36.
  const cmdline = `console=ttyS0 quiet no_timer_check panic=-1 memtouch.mib=${options.touchMiB ?? 64} memtouch.rate=${options.rate ?? 2000} memtouch.sweep=${options.sweep ?? 4} memtouch.hb=${options.heartbeatMs ?? 500}${diskCmdline}`;
  return [
    '-machine', 'pc,memory-backend=mem', '-accel', 'tcg', '-m', `${ram}M`,
    '-object', `memory-backend-file,id=mem,size=${ram}M,mem-path=${ramPath.replaceAll(',', ',,')},share=on`,
    '-kernel', options.guest.kernel, '-initrd', options.guest.initrd, '-append', cmdline,
    '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
    '-serial', `file:${serialPath}`,
  ];
}

/** The disk: a raw file node `vda` on virtio-blk; the device id is the same on both sides, so the device state loads. */
function sourceDiskArgs(path: string, format: 'raw' | 'qcow2' = 'raw'): string[] {
  return [
    '-blockdev', `driver=file,filename=${path.replaceAll(',', ',,')},node-name=vda-file`,
    '-blockdev', `driver=${format},file=vda-file,node-name=vda`,
    '-device', 'virtio-blk-pci,drive=vda,id=vda-dev',
  ];
}

function targetDiskArgs(disk: GuestDisk): string[] {
  if (disk.targetSnapshot === false) return sourceDiskArgs('{disk:vda}');
  return ['-drive', 'file={disk:vda},format=raw,if=none,id=vda,snapshot=on', '-device', 'virtio-blk-pci,drive=vda,id=vda-dev'];
}

/** The `ferry target --qemu-cmd` template for the same guest: RAM `{image:ram}`, its own serial log and pid file. */
export function targetTemplate(options: GuestOptions, serialPath: string, pidFile: string, extra: readonly string[] = []): string {
  const args = [...guestArgs(options, '{image:ram}', serialPath), ...(options.disk ? targetDiskArgs(options.disk) : [])];
  return [...(options.qemu ?? [QEMU]), ...args, '-incoming', 'defer', '-pidfile', pidFile, ...extra].map((arg) => (/^[\w@%+=:,./{}-]+$/.test(arg) ? arg : shellQuote(arg))).join(' ');
}

/** A scratch folder in /dev/shm whose QEMUs are killed, then removed, when the test ends. */
export class QemuScratch {
  readonly dir: string;
  readonly #children: ChildProcess[] = [];
  readonly #pidFiles: string[] = [];

  constructor(t: Teardown, prefix = 'ferry-qemu-') {
    this.dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), prefix));
    t.teardown(async () => {
      const pids = [...this.#children.map((child) => child.pid), ...this.#pidFiles.map(pidInFile)];
      const killed = pids.filter((pid): pid is number => pid !== undefined && kill(pid));
      // QEMU holds the RAM files mapped: the folder goes once every QEMU has exited, not while one still writes.
      await until(() => !killed.some(isRunning), `QEMU processes ${killed.join(' ')} exit after SIGKILL`, 10_000);
      rmSync(this.dir, { recursive: true, force: true });
    });
  }

  path(name: string): string {
    return join(this.dir, name);
  }

  /** Kills the process named in `file` (QEMU's -pidfile) at teardown, if it still runs. */
  killAtEnd(file: string): void {
    this.#pidFiles.push(file);
  }

  track(child: ChildProcess): void {
    this.#children.push(child);
  }
}

function pidInFile(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 1 ? pid : undefined;
  } catch {
    return undefined; // no pid file: QEMU never started
  }
}

/** SIGKILL; false when there was no such process. */
function kill(pid: number): boolean {
  try {
    process.kill(pid, 'SIGKILL');
    return true;
  } catch {
    return false;
  }
}

/** Whether `pid` still runs: an exited process its parent has not reaped yet (a zombie) does not. */
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return false;
  }
}

export interface RunningQemu {
  readonly child: ChildProcess;
  readonly ramPath: string;
  readonly qmpPath: string;
  readonly serialPath: string;
  readonly exited: Promise<number | null>;
  log(): string;
}
/** The source of a migration is a RunningQemu that already prints heartbeats. */
export type SourceQemu = RunningQemu;

/** Spawns QEMU for the guest as `name` (RAM NAME.ram, QMP NAME.qmp, serial NAME-serial.log in the scratch folder). */
export function spawnQemu(scratch: QemuScratch, options: GuestOptions, name: string, extra: readonly string[] = []): RunningQemu {
  const ramPath = scratch.path(`${name}.ram`);
  const qmpPath = scratch.path(`${name}.qmp`);
  const serialPath = scratch.path(`${name}-serial.log`);
  const [command, ...prefix] = options.qemu ?? [QEMU];
  const disk = options.disk ? sourceDiskArgs(options.disk.path, options.disk.format) : [];
  const args = [...prefix, ...guestArgs(options, ramPath, serialPath), ...disk, '-qmp', `unix:${qmpPath},server=on,wait=off`, ...extra];
  const child = spawn(command!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  scratch.track(child);
  let output = '';
  const collect = (chunk: Buffer) => (output = (output + chunk.toString('utf8')).slice(-10000));
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  child.on('error', (error) => (output += `\n${error.message}`));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return { child, ramPath, qmpPath, serialPath, exited, log: () => output };
}

/** Starts the source QEMU (RAM in the scratch folder, so in /dev/shm) and waits for its first heartbeats. */
export async function startSourceQemu(scratch: QemuScratch, options: GuestOptions, extra: readonly string[] = [], name = 'source'): Promise<SourceQemu> {
  const source = spawnQemu(scratch, options, name, extra);
  await waitForHeartbeats(source.serialPath, (beats) => beats.length >= 3, 90_000, source.exited).catch((error: Error) => {
    throw new Error(`${error.message}; QEMU said: ${source.log()}`);
  });
  return source;
}

export interface Heartbeat {
  readonly counter: number;
  readonly ok: number;
  readonly bad: number;
}

/**
 * The `HB <counter> ok=<n> bad=<n>` lines of a serial log, in order. Here and below a line counts only
 * once it ends (`\n`): QEMU writes the console to the file as the guest sends it, so a poll can land
 * inside a line (a FATAL reason cut short, a count missing its last digit).
 */
export function readHeartbeats(serialPath: string): Heartbeat[] {
  let text: string;
  try {
    text = readFileSync(serialPath, 'utf8');
  } catch {
    return [];
  }
  const beats: Heartbeat[] = [];
  for (const match of text.matchAll(/^HB (\d+) ok=(\d+) bad=(\d+)\r?\n/gm)) {
    beats.push({ counter: Number(match[1]), ok: Number(match[2]), bad: Number(match[3]) });
  }
  return beats;
}

export interface DiskBeat {
  readonly counter: number;
  readonly written: number;
  readonly ok: number;
  readonly bad: number;
  readonly sweeps: number;
}

/** The `DISK <counter> written=<n> ok=<n> bad=<n> sweeps=<n>` lines of a serial log, in order. */
export function readDiskBeats(serialPath: string): DiskBeat[] {
  let text: string;
  try {
    text = readFileSync(serialPath, 'utf8');
  } catch {
    return [];
  }
  return [...text.matchAll(/^DISK (\d+) written=(\d+) ok=(\d+) bad=(\d+) sweeps=(\d+)\r?\n/gm)].map((m) => ({
    counter: Number(m[1]), written: Number(m[2]), ok: Number(m[3]), bad: Number(m[4]), sweeps: Number(m[5]),
  }));
}

/** The reason guest/init printed before powering off (`init: FATAL: ...`), if it did. */
export function guestFatal(serialPath: string): string | undefined {
  try {
    return /^init: FATAL: (.*?)\r?\n/m.exec(readFileSync(serialPath, 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

/** Polls a serial log until `done(heartbeats)`; rejects on timeout, when the guest says it gave up, or when `exited` settles first. */
export async function waitForHeartbeats(
  serialPath: string,
  done: (beats: Heartbeat[]) => boolean,
  timeoutMs: number,
  exited?: Promise<unknown>,
): Promise<Heartbeat[]> {
  const deadline = Date.now() + timeoutMs;
  let gone = false;
  void exited?.then(() => (gone = true));
  for (;;) {
    const beats = readHeartbeats(serialPath);
    if (done(beats)) return beats;
    const tail = () => {
      try {
        return readFileSync(serialPath, 'utf8').slice(-500);
      } catch {
        return '(no serial log)';
      }
    };
    const fatal = guestFatal(serialPath);
    if (fatal) throw new Error(`the guest gave up: ${fatal}; serial log ends: ${tail()}`);
    if (gone) throw new Error(`QEMU exited; serial log ends: ${tail()}`);
    if (Date.now() > deadline) throw new Error(`heartbeats not as expected within ${timeoutMs} ms; serial log ends: ${tail()}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** True while `pid` exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A `ferry target --once` whose --qemu-cmd starts the guest: where it writes, logs and records its QEMU. */
export interface QemuTarget extends RunningProcess {
  readonly url: string;
  readonly dir: string;
  readonly serialPath: string;
  readonly pidPath: string;
}

/** Starts a target that runs the guest of `options` on commit (`extra`: more `ferry target` flags); its QEMU is killed when the test ends. */
export async function startQemuTarget(t: Teardown, scratch: QemuScratch, options: GuestOptions, extra: readonly string[] = []): Promise<QemuTarget> {
  const dir = scratch.path('target');
  const serialPath = scratch.path('target-serial.log');
  const pidPath = scratch.path('target-qemu.pid');
  scratch.killAtEnd(pidPath);
  mkdirSync(dir);
  const target = await startTarget(t, dir, ['--qemu-cmd', targetTemplate(options, serialPath, pidPath), ...extra]);
  return { ...target, dir, serialPath, pidPath };
}

/** Runs `ferry migrate ARGS`, kills the target at the first event `killOn` accepts, and checks the rollback (exit 3). */
export async function migrateKillingTarget(
  t: Test,
  target: RunningProcess,
  args: string[],
  killOn: (event: Record<string, unknown>) => boolean,
): Promise<MigrateRun> {
  let killedAt: string | undefined;
  const run = await runMigrate(t, args, (event) => {
    if (killedAt === undefined && killOn(event)) {
      killedAt = JSON.stringify(event);
      target.child.kill('SIGKILL');
    }
  });
  t.ok(killedAt !== undefined, `the target was killed at ${killedAt ?? 'no event'}`);
  t.equal(run.code, 3, 'migrate exits 3 (rolled back)');
  if (run.code !== 3) t.comment(run.stderr.slice(-3000));
  return run;
}

import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode, FerryError } from '@ferry/protocol';

/** One shell hook to run: the source's pause/resume/state hooks and the target's --on-commit. */
export interface HookRun {
  /** What the hook is for, as the user knows it: "pause", "--on-commit"... (used in messages). */
  readonly name: string;
  readonly command: string;
  /** Added to this process's environment. */
  readonly env?: Readonly<Record<string, string>> | undefined;
  /** The hook is killed after this long and the run fails. */
  readonly timeoutMs: number;
  /** Aborting kills the hook; the run settles only once the hook has exited, rejecting with the reason. */
  readonly signal?: AbortSignal | undefined;
  /** Also copy the hook's stdout and stderr to this process's stderr (an operator watching the target). */
  readonly echo?: boolean | undefined;
}

export const DEFAULT_HOOK_TIMEOUT_MS = 60_000;
/** After SIGTERM, how long a hook gets to clean up before SIGKILL. */
const KILL_GRACE_MS = 2000;
const STDERR_TAIL_CHARS = 2000;
/** How often a stopped hook's process group is looked at until the last of it has exited. */
const GROUP_POLL_MS = 10;
/** After SIGKILL, the time a member stuck in the kernel gets before the hook counts as ended anyway. */
const KILLED_WAIT_MS = 100;

/**
 * Runs `command` through /bin/sh in its own process group, so that a timeout or an abort stops the hook
 * and everything it started (not just the shell). Resolves when it exits 0; otherwise rejects with a
 * FerryError (code Hook) that names the hook and carries the tail of its stderr. It never settles while
 * the hook still runs: a caller that goes on to undo what the hook did can rely on it having stopped.
 */
export function runHook(run: HookRun): Promise<void> {
  if (run.signal?.aborted) return Promise.reject(abortReason(run.signal));
  return watch(spawnShell(['-c', run.command], run, 'ignore'), run);
}

/** A hook whose process is already running, waiting for the word to run its command. */
export interface PreparedHook {
  /** Runs the command now, as runHook would (the timeout counts from here). */
  run(signal?: AbortSignal): Promise<void>;
  /** The command will not run: the waiting shell exits without running it (resolves once it has). */
  discard(): Promise<void>;
}

/**
 * Starts the shell of a hook ahead of time and leaves it waiting on its stdin: `run` then costs a pipe
 * write instead of a fork and exec of this process, which grows with its memory (tens of ms for the
 * pause hook of a large migration on a loaded machine). The command still runs through /bin/sh with
 * stdin from /dev/null, in the shell's own process group. A shell that is gone by then (killed by
 * someone) is replaced by a fresh runHook.
 */
export function prepareHook(hook: Omit<HookRun, 'signal'>): PreparedHook {
  // `$1` is the command: the waiting shell execs `sh -c` on it (no fork), as runHook would run it.
  const child = spawnShell(['-c', 'read -r _ || exit 0; exec </dev/null; exec /bin/sh -c "$1"', 'ferry-hook', hook.command], hook, 'pipe');
  let used = false;
  child.stdin?.on('error', () => {}); // a shell that died early: run() falls back to a fresh one
  child.once('error', () => {});
  const gone = child.exitCode !== null || child.pid === undefined ? Promise.resolve() : new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  return {
    run(signal) {
      if (used) return Promise.reject(new FerryError(ErrorCode.Internal, `the ${hook.name} hook was already run`));
      used = true;
      const run = { ...hook, signal };
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined || !child.stdin?.writable) {
        child.stdin?.destroy();
        return runHook(run);
      }
      if (signal?.aborted) {
        child.stdin.end();
        return gone.then(() => Promise.reject(abortReason(signal)));
      }
      const done = watch(child, run);
      child.stdin.end('\n');
      return done;
    },
    discard() {
      if (used) return gone;
      used = true;
      child.stdin?.end();
      return gone;
    },
  };
}

function spawnShell(args: readonly string[], run: Omit<HookRun, 'signal'>, stdin: 'ignore' | 'pipe'): ChildProcess {
  return spawn('/bin/sh', args, {
    env: { ...process.env, ...run.env },
    stdio: [stdin, run.echo ? 'pipe' : 'ignore', 'pipe'],
    detached: true,
  });
}

/** Settles once the hook's process has exited, and when it was stopped, all of its process group: see runHook. */
function watch(child: ChildProcess, run: HookRun): Promise<void> {
  return new Promise((resolve, reject) => {
    const label = `${run.name} hook "${run.command}"`;
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      if (run.echo) process.stderr.write(chunk);
      stderr = (stderr + chunk.toString('utf8')).slice(-STDERR_TAIL_CHARS);
    });
    if (run.echo) child.stdout?.on('data', (chunk: Buffer) => process.stderr.write(chunk));
    let stopped: FerryError | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    let killed = false;
    const stop = (why: FerryError): void => {
      if (stopped || child.exitCode !== null || child.pid === undefined) return;
      stopped = why;
      killGroup(child.pid, 'SIGTERM');
      killTimer = setTimeout(() => {
        killed = true;
        killGroup(child.pid!, 'SIGKILL');
      }, KILL_GRACE_MS);
    };
    const timer = setTimeout(() => stop(new FerryError(ErrorCode.Hook, `${label} did not finish within ${run.timeoutMs / 1000} s and was killed`)), run.timeoutMs);
    const onAbort = (): void => stop(abortReason(run.signal!));
    run.signal?.addEventListener('abort', onAbort, { once: true });
    const settle = (error: FerryError | undefined): void => {
      clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      run.signal?.removeEventListener('abort', onAbort);
      if (error) reject(error);
      else resolve();
    };
    child.once('error', (error) => settle(new FerryError(ErrorCode.Hook, `${label} could not start: ${error.message}`, { cause: error })));
    // 'exit', not 'close': a hook may leave a background process holding its stderr open.
    // What it started in the background is left alone (a resume hook may start a daemon).
    child.once('exit', (code, signal) => {
      // The pipes stay open and read: a script the shell started (still in its TERM trap, or a daemon
      // a resume hook left behind) would die of SIGPIPE at its next write to a closed one. Unref'd,
      // they do not keep this process alive.
      unrefPipe(child.stderr);
      unrefPipe(child.stdout);
      setImmediate(() => {
        // A stopped hook settles once its whole group is gone: the shell may exit at the SIGTERM while a
        // script it started still runs its trap (SIGKILL after the grace ends that too).
        if (stopped) return void groupGone(child.pid!, () => killed).then(() => settle(stopped));
        if (code === 0) return settle(undefined);
        const how = signal ? `failed (killed by ${signal})` : `failed (exit ${code})`;
        const tail = stderr.trim().split('\n').slice(-3).join(' | ');
        settle(new FerryError(ErrorCode.Hook, `${label} ${how}${tail ? `: ${tail}` : ''}`));
      });
    });
  });
}

/**
 * Resolves once no process of the group `pgid` is left running. A member that has exited but was not yet
 * reaped (a zombie: its parent, the hook's shell, is gone and PID 1 in a container may reap late or
 * never) counts as gone; so does, once SIGKILL has been sent, one stuck in the kernel.
 */
async function groupGone(pgid: number, killed: () => boolean): Promise<void> {
  while (groupRuns(pgid)) {
    if (killed()) {
      await sleep(KILLED_WAIT_MS);
      return;
    }
    await sleep(GROUP_POLL_MS);
  }
}

/** Whether a process of group `pgid` runs: from /proc (state and group of each process), else kill(-pgid, 0). */
function groupRuns(pgid: number): boolean {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code !== 'ESRCH';
    }
  }
  return entries.some((entry) => {
    if (!/^\d+$/.test(entry)) return false;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      return false; // exited meanwhile
    }
    // pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses, so read after the last ')'.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(pgrp) === pgid && state !== 'Z' && state !== 'X';
  });
}

function unrefPipe(stream: Readable | null): void {
  (stream as Socket | null)?.unref();
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is gone already
  }
}

function abortReason(signal: AbortSignal): FerryError {
  const reason: unknown = signal.reason;
  return reason instanceof FerryError ? reason : new FerryError(ErrorCode.Aborted, reason instanceof Error ? reason.message : 'cancelled');
}

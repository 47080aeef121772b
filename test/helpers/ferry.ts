/**
 * Test harness: the real `ferry` CLI in child processes, real sockets on loopback, real files in /dev/shm.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { repoPath } from './repo.js';

export const FERRY = repoPath('cli', 'bin', 'ferry.js');

export interface Teardown {
  teardown(fn: () => unknown): void;
}

/** A fresh directory in /dev/shm (page cache speed) removed when the test ends. */
export function scratchDir(t: Teardown, prefix = 'ferry-test-'): string {
  const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface RunningProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  stderr(): string;
}

function track(child: ChildProcess, t: Teardown): RunningProcess {
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString('utf8')).slice(-20000); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    }
  });
  return { child, exited, stderr: () => stderr };
}

/** Runs `ferry target --once` on 127.0.0.1:0 and resolves with its URL once it listens. */
export async function startTarget(t: Teardown, dir: string, extra: string[] = []): Promise<RunningProcess & { url: string }> {
  const child = spawn(process.execPath, [FERRY, 'target', '--listen', '127.0.0.1:0', '--dir', dir, '--once', ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const running = track(child, t);
  const url = await firstJsonLine(child, (line) => (line['event'] === 'listening' ? String(line['url']) : undefined), running);
  return { ...running, url };
}

/** Runs `ferry workload` on an existing image and resolves once it writes. */
export async function startWorkload(
  t: Teardown,
  image: string,
  size: number,
  profile: 'web' | 'compile' | 'jvm',
  rate: string,
): Promise<RunningProcess & { pid: number }> {
  const child = spawn(process.execPath, [FERRY, 'workload', '--image', image, '--size', String(size), '--profile', profile, '--rate', rate], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const running = track(child, t);
  await firstJsonLine(child, (line) => (line['event'] === 'ready' ? true : undefined), running);
  return { ...running, pid: child.pid! };
}

export interface MigrateRun {
  readonly code: number | null;
  readonly events: Array<Record<string, unknown>>;
  readonly summary: Record<string, unknown>;
  readonly stderr: string;
}

/**
 * Runs `ferry migrate --json`; `onEvent` sees each progress event as it arrives (to cut links, kill
 * processes or send signals at the right moment) and gets the child to act on. `ferry`: another build's
 * CLI (a benchmark's before/after).
 */
export async function runMigrate(
  t: Teardown,
  args: string[],
  onEvent?: (event: Record<string, unknown>, child: ChildProcess) => void,
  ferry = FERRY,
): Promise<MigrateRun> {
  // Journals go to a scratch directory unless the test names one: never into the user's runtime directory.
  const journal = args.includes('--state-dir') ? [] : ['--state-dir', scratchDir(t, 'ferry-journal-')];
  const child = spawn(process.execPath, [ferry, 'migrate', '--json', ...journal, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const running = track(child, t);
  const events: Array<Record<string, unknown>> = [];
  const lines = createInterface({ input: child.stdout! });
  lines.on('line', (line) => {
    let event: Record<string, unknown>;
    try {
      event = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    events.push(event);
    onEvent?.(event, child);
  });
  const code = await running.exited;
  await new Promise((resolve) => setImmediate(resolve));
  return { code, events, summary: events.at(-1) ?? {}, stderr: running.stderr() };
}

export function sha256(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path).on('data', (chunk) => hash.update(chunk)).on('end', () => resolve(hash.digest('hex'))).on('error', reject);
  });
}

/**
 * How long a started process may take to print its ready line before the test gives up on it: a guard
 * against a hang, not a goal. Test files run in parallel on a small, shared machine, where starting Node
 * can take many seconds.
 */
const READY_TIMEOUT_MS = 120_000;

function firstJsonLine<T>(
  child: ChildProcess,
  pick: (line: Record<string, unknown>) => T | undefined,
  running: RunningProcess,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => reject(new Error(`no ready line within ${READY_TIMEOUT_MS / 1000} s; stderr: ${running.stderr()}`)), READY_TIMEOUT_MS);
    lines.on('line', (line) => {
      try {
        const value = pick(JSON.parse(line) as Record<string, unknown>);
        if (value !== undefined) {
          clearTimeout(timer);
          resolve(value);
        }
      } catch {
        // not JSON: ignore
      }
    });
    void running.exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`process exited (${code}) before it was ready; stderr: ${running.stderr()}`));
    });
  });
}

/** A Teardown outside tap (the benchmarks use this harness too): `run` undoes what was registered, last first. */
export class TeardownList implements Teardown {
  readonly #steps: Array<() => unknown> = [];

  teardown(fn: () => unknown): void {
    this.#steps.push(fn);
  }

  async run(): Promise<void> {
    for (const step of this.#steps.splice(0).reverse()) await step();
  }
}

/** `ferry target` or `ferry source` as a long-running daemon; resolves with the URL it prints once it listens. */
export async function startDaemon(t: Teardown, args: string[]): Promise<string> {
  const child = spawn(process.execPath, [FERRY, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const running = track(child, t);
  return firstJsonLine(child, (line) => (line['event'] === 'listening' ? String(line['url']) : undefined), running);
}

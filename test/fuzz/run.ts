/**
 * `npm run fuzz`: mutation fuzz of recorded sessions against a live `ferry target` process with its
 * default limits. Prints one result line: frames sent, sessions, crashes, the target's peak RSS, and
 * files touched outside its --dir. Exit 1 when the target crashed or wrote outside --dir.
 *
 *   npm run fuzz -- [--frames N] [--seconds S] [--seed S] [--concurrency C]
 *
 * --seconds stops early (the line then says how many frames were sent); the default is no time limit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { WebSocket } from 'ws';
import { encodeControl, MessageType } from '@ferry/protocol';
import { FERRY } from '../helpers/ferry.js';
import { peakRss } from '../helpers/target-client.js';
import { mutateSession, Random } from './mutate.js';
import { recordSessions, type Recording } from './record.js';

const { values } = parseArgs({ options: { frames: { type: 'string' }, seconds: { type: 'string' }, seed: { type: 'string' }, concurrency: { type: 'string' } } });
const TOTAL_FRAMES = Number(values.frames ?? 1_000_000);
const SEED = Number(values.seed ?? 1);
const CONCURRENCY = Number(values.concurrency ?? 4);
const DEADLINE = performance.now() + Number(values.seconds ?? Infinity) * 1000;
const SESSION_CLOSE_WAIT_MS = 500;

interface Target { readonly child: ChildProcess; readonly url: string; readonly pid: number }

async function startTarget(dir: string, extra: string[] = []): Promise<Target> {
  const child = spawn(process.execPath, [FERRY, 'target', '--listen', '127.0.0.1:0', '--dir', dir, '--log-level', 'fatal', ...extra], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const event = JSON.parse(line) as { event?: string; url?: string };
      if (event.event === 'listening' && event.url) resolve(event.url);
    });
    child.once('exit', (code) => reject(new Error(`target exited ${code} before listening`)));
  });
  return { child, url, pid: child.pid! };
}

/** Every path under `root` (except `skip`) with its size and mtime, to find files touched by the target. */
function snapshot(root: string, skip: string): Map<string, string> {
  const seen = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (path === skip) continue;
      const stat = statSync(path, { throwIfNoEntry: false });
      if (!stat) continue;
      seen.set(path, `${stat.size}:${stat.mtimeMs}`);
      if (stat.isDirectory() && dir === root) walk(path);
    }
  };
  walk(root);
  return seen;
}

function touched(before: Map<string, string>, after: Map<string, string>): string[] {
  const changed = [...after].filter(([path, mark]) => before.get(path) !== mark).map(([path]) => path);
  return [...changed, ...[...before.keys()].filter((path) => !after.has(path))];
}

/** Sends one session's frames, then ABORT, and waits (briefly) for the target to close the connection. */
function playSession(url: string, frames: readonly Uint8Array[]): Promise<void> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${url}/migrate`, { maxPayload: 64 * 1024 * 1024 });
    const done = (): void => { clearTimeout(timer); ws.terminate(); resolve(); };
    const timer = setTimeout(done, SESSION_CLOSE_WAIT_MS);
    ws.on('error', done);
    ws.on('close', done);
    ws.on('open', () => {
      for (const frame of frames) ws.send(frame);
      ws.send(encodeControl({ type: MessageType.Abort, reason: 'fuzz session over' }));
    });
  });
}

/** Removes session folders the target has finished with, so a long run does not fill /dev/shm. */
function sweep(dir: string): void {
  for (const name of readdirSync(dir)) {
    try {
      const outcome = (JSON.parse(readFileSync(join(dir, name, 'manifest.json'), 'utf8')) as { outcome: string }).outcome;
      if (outcome === 'failed' || outcome === 'committed' || outcome === 'resume-failed') rmSync(join(dir, name), { recursive: true, force: true });
    } catch {
      // in use, or not a session folder: leave it
    }
  }
}

async function main(): Promise<void> {
  const root = mkdtempSync('/dev/shm/ferry-fuzz-');
  const dir = join(root, 'target');
  const recordings: Recording[] = await recordSessions(root, async (recordDir) => (await startTarget(recordDir, ['--once'])).url);
  const outside = snapshot(root, dir);
  const shmBefore = new Set(readdirSync('/dev/shm'));
  let target = await startTarget(dir);
  let crashes = 0;
  let finished = false; // set before the run's own SIGTERM, which is no crash
  let frames = 0;
  let sessions = 0;
  let peak = 0;
  const started = performance.now();
  const random = new Random(SEED);
  const watchCrash = (current: Target): void => void current.child.once('exit', (code, signal) => {
    if (current !== target || finished) return;
    crashes++;
    writeFileSync(join(root, `crash-${crashes}.txt`), `target exited ${code ?? signal} after ${frames} frames\n`);
    void startTarget(dir).then((next) => { target = next; watchCrash(next); });
  });
  watchCrash(target);
  const worker = async (): Promise<void> => {
    while (frames < TOTAL_FRAMES && performance.now() < DEADLINE) {
      const recording = recordings[random.below(recordings.length)]!;
      const session = mutateSession(recording, `fuzz-${sessions++}`, random);
      frames += session.length + 1;
      await playSession(target.url, session);
      if (sessions % 2000 === 0) {
        peak = Math.max(peak, peakRss(target.pid));
        sweep(dir);
        process.stderr.write(`fuzz: ${frames} frames, ${sessions} sessions, ${crashes} crashes\n`);
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  peak = Math.max(peak, peakRss(target.pid));
  const health = await fetch(`${target.url.replace('ws', 'http')}/status`).then((r) => r.status).catch(() => 0);
  finished = true;
  target.child.kill('SIGTERM');
  // Other programs use /dev/shm too: of its new entries only those named like a fuzz session count.
  const strays = readdirSync('/dev/shm').filter((n) => !shmBefore.has(n) && n.includes('fuzz-') && !n.startsWith('ferry-fuzz-'));
  const outsideTouched = [...touched(outside, snapshot(root, dir)).filter((p) => !/crash-\d+\.txt$/.test(p)), ...strays.map((n) => `/dev/shm/${n}`)];
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(`fuzz: ${frames} frames in ${sessions} sessions (${seconds.toFixed(0)} s, seed ${SEED}): ${crashes} crashes, target peak RSS ${(peak / 1024 / 1024).toFixed(0)} MiB, ${outsideTouched.length} files touched outside --dir, /status after: ${health}\n`);
  for (const path of outsideTouched) process.stdout.write(`  touched outside --dir: ${path}\n`);
  if (crashes === 0 && outsideTouched.length === 0) rmSync(root, { recursive: true, force: true });
  else process.stdout.write(`  evidence kept in ${root}\n`);
  process.exitCode = crashes > 0 || outsideTouched.length > 0 || health !== 200 ? 1 : 0;
}

await main();

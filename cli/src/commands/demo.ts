import { spawn, type ChildProcess } from 'node:child_process';
import { createReadStream, existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { migrate, type MigrationSummary } from '@ferry/agent-source';
import { startTarget } from '@ferry/agent-target';
import { fillImage } from '@ferry/workload';
import { HELP_FLAG, parseFlags } from '../flags.js';
import { readMigrateRequest } from '../migrate-options.js';
import { formatBytes, parseRate, parseSize } from '../units.js';
import { EXIT, UsageError } from '../usage.js';

const FERRY_BIN = fileURLToPath(new URL('../../bin/ferry.js', import.meta.url));
const PROFILES = new Set(['web', 'compile', 'jvm']);

export const DEMO_FLAGS = {
  profile: { type: 'string' }, size: { type: 'string' }, rate: { type: 'string' }, 'log-level': { type: 'string' }, ...HELP_FLAG,
} as const;

interface DemoRun {
  readonly label: string;
  readonly summary: MigrationSummary;
  readonly identical: boolean;
}

/**
 * `ferry demo`: a live workload on a realistic image, migrated over loopback with the smart policy and
 * XOR deltas, then again with Xen's policy and no deltas as the baseline, CloudNet-style.
 */
export async function demoCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, DEMO_FLAGS);
  if (values.help) {
    process.stdout.write('ferry demo [--profile web|compile|jvm] [--size BYTES] [--rate RATE] [--log-level L]\n  defaults: jvm, 256MiB, 16MiB/s; migrates over loopback with ferry\'s defaults, then with --policy xen --no-delta\n');
    return 0;
  }
  const profile = values.profile ?? 'jvm';
  if (!PROFILES.has(profile)) throw new UsageError(`--profile ${profile} is not one of web, compile, jvm`);
  const size = parseSize(values.size ?? '256MiB', '--size');
  const rate = parseRate(values.rate ?? '16MiB/s', '--rate');
  const work = await mkdtemp(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'ferry-demo-'));
  const logger = pino({ level: values['log-level'] ?? 'warn' }, pino.destination({ fd: 2, sync: true }));
  // A token of its own, so that no other local user can push a migration into the demo's target meanwhile.
  const token = randomBytes(32).toString('hex');
  const target = await startTarget({ host: '127.0.0.1', port: 0, dir: join(work, 'target'), logger, token });
  say(`ferry demo: ${formatBytes(size)} image, live '${profile}' workload dirtying ${formatBytes(rate)}/s, target at ${target.url}`);
  try {
    const runs: DemoRun[] = [];
    for (const [label, extra] of [
      ['ferry (smart stop, XOR deltas)', { policy: 'smart' }],
      ['baseline (xen stop, no deltas)', { policy: 'xen', 'no-delta': true }],
    ] as const) {
      runs.push(await demoRun(label, extra, { work, size, profile, rate, targetUrl: target.url, token, logger }));
    }
    process.stdout.write(comparisonTable(runs));
    return runs.every((r) => r.summary.result === 'committed' && r.identical) ? EXIT.committed : EXIT.error;
  } finally {
    await target.close();
    await rm(work, { recursive: true, force: true });
  }
}

async function demoRun(
  label: string,
  extra: { policy: string; 'no-delta'?: boolean },
  env: { work: string; size: number; profile: string; rate: number; targetUrl: string; token: string; logger: pino.Logger },
): Promise<DemoRun> {
  const id = `demo-${extra.policy}-${Date.now().toString(36)}`;
  const image = join(env.work, `${id}.img`);
  say(`\n${label}: filling the image...`);
  await fillImage(image, env.size, { seed: 42 });
  const workload = await startWorkload(image, env);
  try {
    const options = { ...readMigrateRequest({ to: env.targetUrl, image: [`ram=${image}`], id, ...extra }).options, token: env.token };
    const pid = workload.pid;
    const summary = await migrate(options, {
      logger: env.logger,
      hooks: {
        pause: async () => void process.kill(pid, 'SIGSTOP'),
        resume: async () => void process.kill(pid, 'SIGCONT'),
        collectState: async () => [],
        committed: async () => {},
      },
      onEvent: (event) => {
        if (event.event === 'pass-end') say(`  ${event.final ? 'final pass' : 'pass'} ${event.pass}: ${event.dirtyPages} dirty pages, ${formatBytes(event.bytesSent)}${event.stop && !event.final ? `  -> ${event.reason}` : ''}`);
      },
    });
    // The workload is still stopped: the source image is exactly what was paused.
    const identical = summary.result === 'committed' && (await sha256(image)) === (await sha256(join(env.work, 'target', id, 'ram')));
    say(`  ${summary.result}; target image ${identical ? 'identical to' : 'DIFFERENT from'} the paused source image`);
    return { label, summary, identical };
  } finally {
    workload.kill('SIGKILL');
    await rm(image, { force: true });
  }
}

async function startWorkload(image: string, env: { size: number; profile: string; rate: number }): Promise<ChildProcess & { pid: number }> {
  const child = spawn(process.execPath, [FERRY_BIN, 'workload', '--image', image, '--size', String(env.size), '--profile', env.profile, '--rate', String(env.rate)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the demo workload exited early (status ${code})`)));
    lines.on('line', (line) => {
      if (line.includes('"ready"')) resolve();
    });
  });
  child.removeAllListeners('exit');
  return child as ChildProcess & { pid: number };
}

function comparisonTable(runs: readonly DemoRun[]): string {
  const rows: Array<[string, (s: MigrationSummary) => string]> = [
    ['data sent', (s) => formatBytes(s.bytesSent)],
    ['total time', (s) => `${s.totalMs} ms`],
    ['pause time', (s) => `${s.pauseMs} ms`],
    ['passes', (s) => String(s.passes)],
    ['pages raw', (s) => String(s.rawPages)],
    ['pages lz4', (s) => String(s.lz4Pages)],
    ['pages xor-delta', (s) => String(s.deltaPages)],
    ['pages zero', (s) => String(s.zeroPages)],
    ['result', (s) => s.result],
  ];
  const widths = [16, ...runs.map((r) => Math.max(r.label.length, 12))];
  const cell = (text: string, i: number) => text.padEnd(widths[i] ?? 12);
  const lines = [['', ...runs.map((r) => r.label)].map(cell).join('  ')];
  for (const [name, value] of rows) lines.push([name, ...runs.map((r) => value(r.summary))].map(cell).join('  '));
  const [ferry, base] = runs;
  if (ferry && base && ferry.summary.bytesSent > 0) {
    lines.push('', `ferry sent ${(base.summary.bytesSent / ferry.summary.bytesSent).toFixed(1)}x less data than the baseline.`);
  }
  return `\n${lines.join('\n')}\n`;
}

function sha256(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path).on('data', (chunk) => hash.update(chunk)).on('end', () => resolve(hash.digest('hex'))).on('error', reject);
  });
}

const say = (text: string): void => void process.stderr.write(`${text}\n`);

import { stat } from 'node:fs/promises';
import { fillImage, isProfileName, PROFILES, startWorkload, type ProfileName, type WorkloadStats } from '@ferry/workload';
import { HELP_FLAG, parseFlags } from '../flags.js';
import { parseCount, parseDuration, parseRate, parseSize } from '../units.js';
import { UsageError } from '../usage.js';

const HELP = `ferry workload --image PATH --size BYTES [--profile web|compile|jvm] [--rate RATE] [--fill] [--seed N]
               [--duration SECONDS]

Dirties an image file the way a running guest dirties its memory, so that it can be migrated live.
  --image PATH         the image file (written in place, never grown)
  --size BYTES         its size, e.g. 256MiB; must match the file unless --fill creates it
  --profile NAME       web (hot set, small updates), compile (whole pages, sequential runs),
                       jvm (8-64 bytes per page over half the image); default jvm
  --rate RATE          dirty bytes per second, in pages touched; default 16MiB/s
  --fill               first (re)create the image with realistic content (zero, text, random pages)
  --seed N             seed for --fill and for the writes; default 1
  --duration SECONDS   stop after this long; default: until SIGTERM or SIGINT
Prints {"event":"ready",...} once writing, and {"event":"stopped",...} on exit. SIGSTOP/SIGCONT pause it
without a catch-up burst afterwards.
`;

export const WORKLOAD_FLAGS = {
  image: { type: 'string' }, size: { type: 'string' }, profile: { type: 'string' }, rate: { type: 'string' },
  fill: { type: 'boolean' }, seed: { type: 'string' }, duration: { type: 'string' }, ...HELP_FLAG,
} as const;

interface Settings {
  readonly image: string;
  readonly size: number;
  readonly profile: ProfileName;
  readonly rate: number;
  readonly fill: boolean;
  readonly seed: number;
  readonly durationMs: number | undefined;
}

/** `ferry workload`: a synthetic dirtying workload; the migration pauses it with SIGSTOP. */
export async function workloadCommand(argv: string[]): Promise<number> {
  const settings = parseSettings(argv);
  if (settings === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  const fill = settings.fill ? await fillImage(settings.image, settings.size, { seed: settings.seed }) : undefined;
  if (!fill) await checkImage(settings.image, settings.size);

  let failed: Error | undefined;
  let finish = (): void => {};
  const finished = new Promise<void>((resolve) => { finish = resolve; });
  const workload = startWorkload({
    path: settings.image, size: settings.size, profile: settings.profile,
    rateBytesPerSec: settings.rate, seed: settings.seed,
    onError: (error) => { failed = error; finish(); },
  });
  const onSignal = (): void => finish();
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  const timer = settings.durationMs === undefined ? undefined : setTimeout(finish, settings.durationMs);
  printLine({ event: 'ready', pid: process.pid, profile: settings.profile, rateBytesPerSec: settings.rate, ...(fill ? { fill } : {}) });
  try {
    await finished;
  } finally {
    clearTimeout(timer);
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
  const stats: WorkloadStats = await workload.stop();
  if (failed) throw new Error(`writing ${settings.image} failed after ${stats.pagesWritten} pages: ${failed.message}`);
  printLine({ event: 'stopped', ...stats });
  return 0;
}

function parseSettings(argv: string[]): Settings | 'help' {
  const { values } = parseFlags(argv, WORKLOAD_FLAGS);
  if (values.help) return 'help';
  if (values.image === undefined) throw new UsageError('--image PATH is required');
  if (values.size === undefined) throw new UsageError('--size BYTES is required, e.g. --size 256MiB');
  const profile = values.profile ?? 'jvm';
  if (!isProfileName(profile)) throw new UsageError(`--profile ${profile} is not one of ${PROFILES.join(', ')}`);
  const size = parseSize(values.size, '--size');
  const rate = parseRate(values.rate ?? '16MiB/s', '--rate');
  if (size <= 0 || size % 4096 !== 0) throw new UsageError(`--size ${values.size} must be a positive multiple of 4096 bytes`);
  if (rate <= 0) throw new UsageError(`--rate ${values.rate ?? ''} must be above zero`);
  return {
    image: values.image, size, profile, rate, fill: values.fill ?? false,
    seed: values.seed === undefined ? 1 : parseCount(values.seed, '--seed', 0, 0xffff_ffff),
    durationMs: values.duration === undefined ? undefined : Math.round(parseDuration(values.duration, '--duration', 's')),
  };
}

async function checkImage(path: string, size: number): Promise<void> {
  let actual: number;
  try {
    actual = (await stat(path)).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`image ${path} does not exist; give --fill to create it`);
    throw error;
  }
  if (actual !== size) throw new Error(`image ${path} is ${actual} bytes but --size says ${size}; give the file's size, or --fill to recreate it`);
}

function printLine(record: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(record)}\n`);
}

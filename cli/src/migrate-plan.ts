/**
 * The flags of `ferry migrate`, read once into a plan: every check that needs no file and no process
 * happens here, in one pure step, before anything is connected or built. `ferry migrate` parses its
 * command line into MigrateArgs and `ferry source` takes the same keys as the JSON body of POST
 * /migrations; both go through parseMigratePlan, so a request that names contradicting options gets a
 * 400 that says why instead of failing to start. migrate-options.ts reads the files the plan names;
 * source-seams.ts builds hooks, disks, dirty logs, throttle and journal from it.
 */
import { checkDistinctVariables, checkImageName, isValidName } from '@ferry/protocol';
import {
  DEFAULT_DELTA_CACHE_BYTES, DEFAULT_PAGE_SIZE, DEFAULT_PAUSED_TIMEOUT_MS, DEFAULT_RECONNECT_TIMEOUT_MS, DEFAULT_REPLY_TIMEOUT_MS, DEFAULT_VERIFY_RETRIES,
  isDirtyLogMode, isPolicyName, type DirtyLogMode, type MigrateOptions,
} from '@ferry/agent-source';
import type { ArgsOf, FlagSpec } from './flags.js';
import { pairs } from './name-pairs.js';
import { parseCount, parseDuration, parseRate, parseSize } from './units.js';
import { hookTimeoutMs } from './hook-timeout.js';
import { UsageError } from './usage.js';

/** The flags of `ferry migrate`, declared once; MigrateArgs is derived from this table. */
export const MIGRATE_ARG_SPEC = {
  to: { type: 'string' },
  image: { type: 'string', multiple: true },
  state: { type: 'string', multiple: true },
  'state-cmd': { type: 'string' },
  'pause-cmd': { type: 'string' },
  'resume-cmd': { type: 'string' },
  qmp: { type: 'string' },
  disk: { type: 'string', multiple: true },
  'keep-source': { type: 'boolean' },
  policy: { type: 'string' },
  'max-downtime': { type: 'string' },
  'delta-cache': { type: 'string' },
  'no-delta': { type: 'boolean' },
  compress: { type: 'string' },
  'rate-limit': { type: 'string' },
  'no-pacing': { type: 'boolean' },
  'token-file': { type: 'string' },
  ca: { type: 'string' },
  'tls-client-cert': { type: 'string' },
  'tls-client-key': { type: 'string' },
  id: { type: 'string' },
  timeout: { type: 'string' },
  'on-timeout': { type: 'string' },
  workers: { type: 'string' },
  'page-size': { type: 'string' },
  'reply-timeout': { type: 'string' },
  'reconnect-timeout': { type: 'string' },
  'hook-timeout': { type: 'string' },
  'paused-timeout': { type: 'string' },
  'state-dir': { type: 'string' },
  throttle: { type: 'string' },
  'throttle-pid': { type: 'string' },
  cgroup: { type: 'string' },
  'dirty-log': { type: 'string' },
  'dirty-pid': { type: 'string' },
} as const satisfies FlagSpec;

/** The migrate options as parsed from argv, or as posted as JSON to `ferry source`. */
export type MigrateArgs = ArgsOf<typeof MIGRATE_ARG_SPEC>;

/** The options the agent gets, less what is read from files (the token and TLS material). */
export type TransferPlan = Omit<MigrateOptions, 'token' | 'ca' | 'clientCert' | 'clientKey'>;

/** The workload the throttle slows (--throttle auto); undefined: none (--throttle off, or nothing names the workload). */
export type ThrottlePlan =
  | { readonly kind: 'cgroup'; readonly dir: string }
  | { readonly kind: 'pid'; readonly pid: number }
  | { readonly kind: 'qmp'; readonly socket: string };

export interface MigratePlan {
  readonly transfer: TransferPlan;
  /** Files read before the migration starts: --token-file, --ca, --tls-client-cert, --tls-client-key. */
  readonly files: { readonly token?: string; readonly ca?: string; readonly clientCert?: string; readonly clientKey?: string };
  readonly hooks: { readonly pauseCmd?: string; readonly resumeCmd?: string; readonly stateCmd?: string; readonly timeoutMs: number };
  /** --qmp: a QEMU guest, left paused after the commit with --keep-source. */
  readonly qemu: { readonly qmp: string; readonly keepSource: boolean } | undefined;
  /** --disk NAME=NODE: guest disks migrated as images (only with --qmp). */
  readonly disks: ReadonlyArray<{ readonly name: string; readonly node: string }>;
  readonly dirtyLog: { readonly mode: DirtyLogMode; readonly pid: number | undefined };
  readonly throttle: ThrottlePlan | undefined;
  /** Where the journal for `ferry recover` lives (--state-dir). */
  readonly stateDir: string;
}

/** What the host decides when a flag is left out: a fresh migration id, scan threads, the state directory. */
export interface PlanDefaults {
  newId(): string;
  readonly workers: number;
  readonly stateDir: string;
}

/** Reads `args` into a plan, or throws a UsageError (or UnitError) naming the flag. Pure: no file, process or clock is touched. */
export function parseMigratePlan(args: MigrateArgs, defaults: PlanDefaults): MigratePlan {
  checkCombinations(args);
  const images = pairs(args.image ?? [], '--image');
  const disks = pairs(args.disk ?? [], '--disk');
  checkImageNames(images.map(([name]) => name), disks.map(([name]) => name));
  const qemu = args.qmp !== undefined ? { qmp: args.qmp, keepSource: args['keep-source'] === true } : undefined;
  return {
    transfer: transferPlan(args, images, defaults),
    files: definedOnly({ token: args['token-file'], ca: args.ca, clientCert: args['tls-client-cert'], clientKey: args['tls-client-key'] }),
    hooks: { ...definedOnly({ pauseCmd: args['pause-cmd'], resumeCmd: args['resume-cmd'], stateCmd: args['state-cmd'] }), timeoutMs: hookTimeoutMs(args['hook-timeout']) },
    qemu,
    disks: disks.map(([name, node]) => ({ name, node })),
    dirtyLog: dirtyLogPlan(args),
    throttle: throttlePlan(args),
    stateDir: args['state-dir'] ?? defaults.stateDir,
  };
}

/**
 * The options that contradict each other or need another one. Each would otherwise be accepted and then
 * ignored, or fail only once the migration is being set up.
 */
function checkCombinations(args: MigrateArgs): void {
  const given = (flag: keyof MigrateArgs): boolean => args[flag] !== undefined && args[flag] !== false;
  if (!args.to) throw new UsageError('--to ws://HOST:PORT is required');
  if (!/^wss?:\/\//.test(args.to)) throw new UsageError(`--to ${args.to} must start with ws:// or wss://`);
  if (!args.image?.length) throw new UsageError('at least one --image NAME=PATH is required');
  const rules: Array<[boolean, string]> = [
    [given('cgroup') && given('throttle-pid'), 'give --cgroup or --throttle-pid, not both: the throttle slows one workload'],
    [given('disk') && !given('qmp'), '--disk NAME=NODE needs --qmp SOCKET (the disk is tracked by QEMU)'],
    [given('keep-source') && !given('qmp'), '--keep-source needs --qmp: it leaves the source QEMU paused instead of quitting it'],
    [given('no-delta') && given('delta-cache'), 'give --no-delta or --delta-cache, not both: --no-delta keeps no delta cache'],
    [given('no-pacing') && given('rate-limit'), 'give --rate-limit or --no-pacing, not both: a rate limit already sets the pace'],
    [given('on-timeout') && !given('timeout'), '--on-timeout says what happens at --timeout: give --timeout SECONDS too'],
    [given('tls-client-cert') !== given('tls-client-key'), '--tls-client-cert and --tls-client-key go together'],
    [(given('ca') || given('tls-client-cert')) && !args.to.startsWith('wss://'), '--ca and --tls-client-cert are for a wss:// target; --to is ws://'],
    [args['dirty-log'] === 'hash' && given('dirty-pid'), '--dirty-pid names the writer for the soft-dirty log; --dirty-log hash reads no log'],
  ];
  for (const [broken, message] of rules) if (broken) throw new UsageError(message);
}

function transferPlan(args: MigrateArgs, images: ReadonlyArray<[string, string]>, defaults: PlanDefaults): TransferPlan {
  const policy = oneOf(args.policy ?? 'smart', '--policy', isPolicyName, 'smart, xen, downtime');
  const maxDowntimeMs = args['max-downtime'] !== undefined ? parseDuration(args['max-downtime'], '--max-downtime', 'ms') : undefined;
  if (policy === 'downtime' && maxDowntimeMs === undefined) throw new UsageError('--policy downtime needs --max-downtime MS');
  const migrationId = args.id ?? defaults.newId();
  if (!isValidName(migrationId)) throw new UsageError(`--id ${migrationId} is not allowed: use 1-64 of A-Z a-z 0-9 . _ -, not starting with -`);
  const duration = (flag: 'reply-timeout' | 'paused-timeout', fallback: number): number =>
    args[flag] !== undefined ? parseDuration(args[flag], `--${flag}`, 's') : fallback;
  return {
    url: args.to!,
    migrationId,
    images: images.map(([name, path]) => ({ name, path })),
    pageSize: args['page-size'] !== undefined ? parseSize(args['page-size'], '--page-size') : DEFAULT_PAGE_SIZE,
    stateFiles: pairs(args.state ?? [], '--state').map(([name, path]) => ({ name, path })),
    policy,
    maxDowntimeMs,
    delta: !args['no-delta'],
    deltaCacheBytes: args['delta-cache'] !== undefined ? parseSize(args['delta-cache'], '--delta-cache') : DEFAULT_DELTA_CACHE_BYTES,
    compress: oneOf(args.compress ?? 'auto', '--compress', isIn(['auto', 'always', 'never'] as const), 'auto, always, never'),
    rateLimitBytesPerSec: args['rate-limit'] !== undefined ? parseRate(args['rate-limit'], '--rate-limit') : undefined,
    pacing: !args['no-pacing'],
    workers: args.workers !== undefined ? parseCount(args.workers, '--workers') : defaults.workers,
    timeoutMs: args.timeout !== undefined ? parseDuration(args.timeout, '--timeout', 's') : undefined,
    onTimeout: oneOf(args['on-timeout'] ?? 'cancel', '--on-timeout', isIn(['cancel', 'force'] as const), 'cancel, force'),
    throttle: oneOf(args.throttle ?? 'auto', '--throttle', isIn(['auto', 'off'] as const), 'auto, off'),
    replyTimeoutMs: duration('reply-timeout', DEFAULT_REPLY_TIMEOUT_MS),
    verifyRetries: DEFAULT_VERIFY_RETRIES,
    reconnectTimeoutMs: args['reconnect-timeout'] !== undefined ? parseDuration(args['reconnect-timeout'], '--reconnect-timeout', 's', { allowZero: true }) : DEFAULT_RECONNECT_TIMEOUT_MS,
    pausedTimeoutMs: duration('paused-timeout', DEFAULT_PAUSED_TIMEOUT_MS),
  };
}

function dirtyLogPlan(args: MigrateArgs): MigratePlan['dirtyLog'] {
  const mode = oneOf(args['dirty-log'] ?? 'auto', '--dirty-log', isDirtyLogMode, 'auto, soft-dirty, hash');
  const pid = args['dirty-pid'] !== undefined ? processId(args['dirty-pid'], '--dirty-pid') : undefined;
  if (mode === 'soft-dirty' && pid === undefined && args.qmp === undefined) {
    throw new UsageError('--dirty-log soft-dirty needs --dirty-pid PID (the process that writes the image through a shared mapping) or --qmp');
  }
  return { mode, pid };
}

/** --cgroup or --throttle-pid when given (they name the workload itself), else the --qmp guest. */
function throttlePlan(args: MigrateArgs): ThrottlePlan | undefined {
  const pid = args['throttle-pid'] !== undefined ? processId(args['throttle-pid'], '--throttle-pid') : undefined;
  if (args.throttle === 'off') return undefined;
  if (args.cgroup !== undefined) return { kind: 'cgroup', dir: args.cgroup };
  if (pid !== undefined) {
    // The duty cycle ends stopped or running at the pause; only a pause hook makes that the same thing.
    if (args['pause-cmd'] === undefined && args.qmp === undefined) throw new UsageError('--throttle-pid needs --pause-cmd (e.g. kill -STOP PID) and --resume-cmd, or --qmp');
    return { kind: 'pid', pid };
  }
  return args.qmp !== undefined ? { kind: 'qmp', socket: args.qmp } : undefined;
}

/** The target's rules for image names (--image and --disk together), checked before anything connects: its refusal would come only after the HELLO. */
function checkImageNames(images: readonly string[], disks: readonly string[]): void {
  const clash = disks.find((name) => images.includes(name));
  if (clash !== undefined) throw new UsageError(`--disk ${clash} has the name of an --image`);
  try {
    for (const name of [...images, ...disks]) checkImageName(name);
    checkDistinctVariables([...images, ...disks], 'FERRY_IMAGE_', 'images');
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

function processId(text: string, flag: string): number {
  const pid = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(pid) || pid <= 1) throw new UsageError(`${flag} ${text} must be a process id above 1`);
  return pid;
}

function oneOf<T extends string>(value: string, flag: string, accepts: (value: string) => value is T, names: string): T {
  if (!accepts(value)) throw new UsageError(`${flag} ${value} is not one of ${names}`);
  return value;
}

const isIn = <T extends string>(values: readonly T[]) => (value: string): value is T => (values as readonly string[]).includes(value);

/** The object without its undefined values (exactOptionalPropertyTypes). */
function definedOnly<T extends Record<string, string | undefined>>(record: T): { [K in keyof T]?: string } {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined)) as { [K in keyof T]?: string };
}

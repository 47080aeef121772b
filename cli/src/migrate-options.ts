import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { randomBytes } from 'node:crypto';
import { checkDistinctVariables, checkImageName, isValidName } from '@ferry/protocol';
import {
  DEFAULT_DELTA_CACHE_BYTES, DEFAULT_PAGE_SIZE, DEFAULT_PAUSED_TIMEOUT_MS, DEFAULT_RECONNECT_TIMEOUT_MS, DEFAULT_REPLY_TIMEOUT_MS, DEFAULT_VERIFY_RETRIES, isPolicyName,
  defaultStateDir, type MigrateOptions, type StateBlob,
} from '@ferry/agent-source';
import { DEFAULT_HOOK_TIMEOUT_MS } from '@ferry/serve';
import type { SourceHookCommands } from './source-hooks.js';
import type { ArgsOf, FlagSpec } from './flags.js';
import { parseCount, parseDuration, parseRate, parseSize } from './units.js';
import { UsageError } from './usage.js';
import { checkDiskArgs } from './source-disks.js';
import { checkDirtyLogArgs } from './dirty-logs.js';

/**
 * The flags of `ferry migrate`, declared once: the command line parses them and `ferry source` takes the
 * same keys as JSON (POST /migrations). MigrateArgs is derived from this table.
 */
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

export function migrateOptionsFrom(args: MigrateArgs): MigrateOptions {
  if (!args.to) throw new UsageError('--to ws://HOST:PORT is required');
  if (!/^wss?:\/\//.test(args.to)) throw new UsageError(`--to ${args.to} must start with ws:// or wss://`);
  if (!args.image?.length) throw new UsageError('at least one --image NAME=PATH is required');
  checkDiskArgs(args);
  checkImageNames([...pairs(args.image, '--image'), ...pairs(args.disk ?? [], '--disk')].map(([name]) => name));
  checkDirtyLogArgs(args);
  const policy = args.policy ?? 'smart';
  if (!isPolicyName(policy)) throw new UsageError(`--policy ${policy} is not one of smart, xen, downtime`);
  const compress = args.compress ?? 'auto';
  if (compress !== 'auto' && compress !== 'always' && compress !== 'never') throw new UsageError(`--compress ${compress} is not one of auto, always, never`);
  const onTimeout = args['on-timeout'] ?? 'cancel';
  if (onTimeout !== 'cancel' && onTimeout !== 'force') throw new UsageError(`--on-timeout ${onTimeout} is not one of cancel, force`);
  const throttle = args.throttle ?? 'auto';
  if (throttle !== 'auto' && throttle !== 'off') throw new UsageError(`--throttle ${throttle} is not one of auto, off`);
  const maxDowntimeMs = args['max-downtime'] !== undefined ? parseDuration(args['max-downtime'], '--max-downtime', 'ms') : undefined;
  if (policy === 'downtime' && maxDowntimeMs === undefined) throw new UsageError('--policy downtime needs --max-downtime MS');
  const id = args.id ?? `m-${new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14)}-${randomBytes(3).toString('hex')}`;
  if (!isValidName(id)) throw new UsageError(`--id ${id} is not allowed: use 1-64 of A-Z a-z 0-9 . _ -, not starting with -`);
  return {
    url: args.to,
    migrationId: id,
    images: pairs(args.image, '--image').map(([name, path]) => ({ name, path })),
    pageSize: args['page-size'] !== undefined ? parseSize(args['page-size'], '--page-size') : DEFAULT_PAGE_SIZE,
    stateFiles: pairs(args.state ?? [], '--state').map(([name, path]): StateBlob => ({ name, path })),
    policy,
    maxDowntimeMs,
    delta: !args['no-delta'],
    deltaCacheBytes: args['delta-cache'] !== undefined ? parseSize(args['delta-cache'], '--delta-cache') : DEFAULT_DELTA_CACHE_BYTES,
    compress,
    rateLimitBytesPerSec: args['rate-limit'] !== undefined ? parseRate(args['rate-limit'], '--rate-limit') : undefined,
    workers: args.workers !== undefined ? parseCount(args.workers, '--workers') : Math.max(1, availableParallelism() - 1),
    timeoutMs: args.timeout !== undefined ? parseDuration(args.timeout, '--timeout', 's') : undefined,
    onTimeout,
    throttle,
    replyTimeoutMs: args['reply-timeout'] !== undefined ? parseDuration(args['reply-timeout'], '--reply-timeout', 's') : DEFAULT_REPLY_TIMEOUT_MS,
    verifyRetries: DEFAULT_VERIFY_RETRIES,
    reconnectTimeoutMs: args['reconnect-timeout'] !== undefined ? parseDuration(args['reconnect-timeout'], '--reconnect-timeout', 's', { allowZero: true }) : DEFAULT_RECONNECT_TIMEOUT_MS,
    pausedTimeoutMs: args['paused-timeout'] !== undefined ? parseDuration(args['paused-timeout'], '--paused-timeout', 's') : DEFAULT_PAUSED_TIMEOUT_MS,
    token: args['token-file'] !== undefined ? readToken(args['token-file']) : undefined,
    ca: args.ca !== undefined ? readFileOrUsage(args.ca, '--ca') : undefined,
    clientCert: args['tls-client-cert'] !== undefined ? readFileOrUsage(args['tls-client-cert'], '--tls-client-cert') : undefined,
    clientKey: args['tls-client-key'] !== undefined ? readFileOrUsage(args['tls-client-key'], '--tls-client-key') : undefined,
  };
}

/** The hook commands and their timeout (--hook-timeout SECONDS, for every hook). */
export function sourceHookCommands(args: MigrateArgs): SourceHookCommands {
  return {
    pauseCmd: args['pause-cmd'], resumeCmd: args['resume-cmd'], stateCmd: args['state-cmd'],
    qmp: args.qmp, keepSource: args['keep-source'] === true,
    hookTimeoutMs: hookTimeoutMs(args['hook-timeout']),
  };
}

export const hookTimeoutMs = (text: string | undefined): number =>
  text !== undefined ? parseDuration(text, '--hook-timeout', 's') : DEFAULT_HOOK_TIMEOUT_MS;

/** Where the journal for `ferry recover` lives (--state-dir). */
export const stateDirFrom = (args: MigrateArgs): string => args['state-dir'] ?? defaultStateDir();

/** The target's rules for image names, checked before anything connects: its refusal would come only after the HELLO. */
function checkImageNames(names: readonly string[]): void {
  try {
    for (const name of names) checkImageName(name);
    checkDistinctVariables(names, 'FERRY_IMAGE_', 'images');
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

/** NAME=PATH options (--image, --state, --base): valid, distinct names. */
export function pairs(values: readonly string[], flag: string): Array<[string, string]> {
  const seen = new Set<string>();
  return values.map((value) => {
    const at = value.indexOf('=');
    const name = value.slice(0, at);
    const path = value.slice(at + 1);
    if (at <= 0 || !path) throw new UsageError(`${flag} ${value} must be NAME=PATH`);
    if (!isValidName(name)) throw new UsageError(`${flag} name "${name}" is not allowed: use 1-64 of A-Z a-z 0-9 . _ -, not starting with -`);
    if (seen.has(name)) throw new UsageError(`${flag} name "${name}" is given twice`);
    seen.add(name);
    return [name, path];
  });
}

export function readToken(path: string): string {
  const token = readFileOrUsage(path, '--token-file').toString('utf8').trim();
  if (!token) throw new UsageError(`--token-file ${path} is empty`);
  return token;
}

export function readFileOrUsage(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new UsageError(`${flag} ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

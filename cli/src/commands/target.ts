import { startTarget, DEFAULT_RESUME_GRACE_MS, type TargetLimits } from '@ferry/agent-target';
import type { PreAuthLimits } from '@ferry/serve';
import { buildCommitHooks } from '../commit-hooks.js';
import { parseListen } from '../listen.js';
import { ALLOW_HOST_FLAG, HELP_FLAG, LOG_FLAGS, parseFlags, type ArgsOf } from '../flags.js';
import { createLogger } from '../logging.js';
import { hookTimeoutMs } from '../hook-timeout.js';
import { readFileOrUsage, readToken } from '../token-file.js';
import { parseBases } from '../base-option.js';
import { writeLine } from '../daemon-line.js';
import { parseCount, parseDuration, parseSize } from '../units.js';
import { EXIT, UsageError } from '../usage.js';

const HELP = `ferry target --listen HOST:PORT --dir DIR [options]

Receives migrations into DIR/<migrationId>/ (sparse images, state/ blobs, manifest.json).
Prints {"event":"listening","url":...} on stdout once it accepts connections. The same port serves
GET /status, GET /metrics (Prometheus) and a live page at GET / (a browser logs in once with the token).

  --token-file F          require "Authorization: Bearer <token>" (without it: loopback clients only)
  --insecure              accept clients from anywhere without a token (trusted networks only)
  --allow-host NAME       answer to requests for Host NAME, e.g. the name sources use in --to (repeatable);
                          IP addresses, localhost and the --listen host always work, any other Host is
                          refused (DNS rebinding), as is any request with another web page's Origin
  --pre-auth-timeout S    close a connection that has not authenticated within S seconds (default 3; or e.g. 500ms)
  --max-pre-auth N        connections waiting to authenticate at once (default 64); when full, the oldest
                          is closed to make room, so idle sockets cannot lock sources out
  --max-pre-auth-per-address N   of those, from one remote address (default 8; its oldest makes room)
  --tls-cert F --tls-key F  serve wss://; --tls-ca F also requires client certificates signed by F
  --once                  exit after one migration: 0 committed, 1 failed
  --on-commit CMD         run after GO with FERRY_DIR, FERRY_MIGRATION_ID, FERRY_IMAGE_<NAME>, FERRY_STATE_<NAME>;
                          its exit status decides whether the source hears RESUMED
  --hook-timeout S        kill --on-commit after S seconds (default 60) and fail the commit as if it had failed
  --qemu-cmd TEMPLATE     start the guest here on commit: a QEMU command line with {image:NAME} placeholders
                          ({disk:NAME} for a guest disk sent with ferry migrate --disk)
  --base NAME=PATH[,page=BYTES][,id=ID]
                          an older copy of image NAME: only pages that differ are sent (repeatable). Used
                          only with that page size (default 4096) and, with id=, only by that migration;
                          a source that uses it learns the hash of each of its pages
  --resume-grace S        keep a session cut during pre-copy for S seconds for its source to resume (default 60);
                          a session that received no pages yet is not kept; at most --max-migrations are kept,
                          besides the --max-migrations connected ones
  --idle-timeout S        drop a connected session that moves no bytes for S seconds (default 60; 0: never)
  --max-table-memory B    page-table memory for all migrations together, charged as pages arrive (default
                          64MiB, about 32 GiB of 4 KiB-page images); a HELLO that could need more is refused
  --max-image-size B, --max-images N, --max-blob-size B, --max-message-size B, --max-migrations N
                          limits on what a source may send, and on migrations received at once
  --json                  print {"event":"migration-end",...} on stdout as each migration ends (--once always
                          does); progress events are on the WebSocket /events
  --log-level L, --log-file F
`;

export const TARGET_FLAGS = {
  listen: { type: 'string' }, dir: { type: 'string' }, 'token-file': { type: 'string' }, insecure: { type: 'boolean' },
  'tls-cert': { type: 'string' }, 'tls-key': { type: 'string' }, 'tls-ca': { type: 'string' }, once: { type: 'boolean' },
  'on-commit': { type: 'string' }, 'hook-timeout': { type: 'string' }, 'qemu-cmd': { type: 'string' }, base: { type: 'string', multiple: true },
  'resume-grace': { type: 'string' }, 'idle-timeout': { type: 'string' }, 'max-table-memory': { type: 'string' }, 'max-image-size': { type: 'string' }, 'max-images': { type: 'string' },
  'max-blob-size': { type: 'string' }, 'max-message-size': { type: 'string' }, 'max-migrations': { type: 'string' },
  'pre-auth-timeout': { type: 'string' }, 'max-pre-auth': { type: 'string' }, 'max-pre-auth-per-address': { type: 'string' },
  json: { type: 'boolean' }, ...ALLOW_HOST_FLAG, ...LOG_FLAGS, ...HELP_FLAG,
} as const;

type TargetArgs = ArgsOf<typeof TARGET_FLAGS>;

export async function targetCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, TARGET_FLAGS);
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const { host, port } = parseListen(values.listen);
  if (!values.dir) throw new UsageError('--dir DIR is required');
  if ((values['tls-cert'] === undefined) !== (values['tls-key'] === undefined)) throw new UsageError('--tls-cert and --tls-key go together');
  if (values['tls-ca'] && !values['tls-cert']) throw new UsageError('--tls-ca needs --tls-cert and --tls-key');
  const logger = createLogger(values['log-level'], values['log-file'], 'ferry-target');
  const target = await startTarget({
    host, port, dir: values.dir, logger,
    token: values['token-file'] !== undefined ? readToken(values['token-file']) : undefined,
    insecure: values.insecure === true,
    allowHosts: values['allow-host'],
    preAuth: preAuthFrom(values),
    limits: limitsFrom(values),
    bases: parseBases(values.base ?? []),
    ...buildCommitHooks(values['on-commit'], values['qemu-cmd'], hookTimeoutMs(values['hook-timeout']), logger),
    resumeGraceMs: values['resume-grace'] !== undefined ? parseDuration(values['resume-grace'], '--resume-grace', 's', { allowZero: true }) : DEFAULT_RESUME_GRACE_MS,
    idleTimeoutMs: values['idle-timeout'] !== undefined ? parseDuration(values['idle-timeout'], '--idle-timeout', 's', { allowZero: true }) : undefined,
    tls: values['tls-cert'] ? {
      cert: readFileOrUsage(values['tls-cert'], '--tls-cert'), key: readFileOrUsage(values['tls-key']!, '--tls-key'),
      ca: values['tls-ca'] !== undefined ? readFileOrUsage(values['tls-ca'], '--tls-ca') : undefined,
    } : undefined,
  });
  writeLine({ event: 'listening', url: target.url, port: target.port });
  return new Promise<number>((resolve) => {
    const stop = (): void => void target.close().then(() => resolve(EXIT.error));
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    target.onMigrationEnd((end) => {
      if (values.json || values.once) writeLine({ event: 'migration-end', ...end });
      if (!values.once) return;
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      // Give the source a moment to read RESUMED before the sockets go.
      setTimeout(() => void target.close().then(() => resolve(end.outcome === 'committed' ? EXIT.committed : EXIT.error)), 100);
    });
  });
}

function limitsFrom(values: TargetArgs): Partial<TargetLimits> {
  const size = (text: string | undefined, flag: string): number | undefined => (text !== undefined ? parseSize(text, flag) : undefined);
  const count = (text: string | undefined, flag: string): number | undefined => (text !== undefined ? parseCount(text, flag) : undefined);
  const limits: Partial<Record<keyof TargetLimits, number | undefined>> = {
    maxImageBytes: size(values['max-image-size'], '--max-image-size'),
    maxBlobBytes: size(values['max-blob-size'], '--max-blob-size'),
    maxMessageBytes: size(values['max-message-size'], '--max-message-size'),
    maxTableBytes: size(values['max-table-memory'], '--max-table-memory'),
    maxImages: count(values['max-images'], '--max-images'),
    maxMigrations: count(values['max-migrations'], '--max-migrations'),
  };
  return Object.fromEntries(Object.entries(limits).filter(([, value]) => value !== undefined)) as Partial<TargetLimits>;
}

function preAuthFrom(values: TargetArgs): Partial<PreAuthLimits> {
  const limits: Partial<Record<keyof PreAuthLimits, number | undefined>> = {
    timeoutMs: values['pre-auth-timeout'] !== undefined ? parseDuration(values['pre-auth-timeout'], '--pre-auth-timeout', 's') : undefined,
    maxConnections: values['max-pre-auth'] !== undefined ? parseCount(values['max-pre-auth'], '--max-pre-auth') : undefined,
    maxPerAddress: values['max-pre-auth-per-address'] !== undefined ? parseCount(values['max-pre-auth-per-address'], '--max-pre-auth-per-address') : undefined,
  };
  return Object.fromEntries(Object.entries(limits).filter(([, value]) => value !== undefined)) as Partial<PreAuthLimits>;
}

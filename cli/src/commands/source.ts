import { ALLOW_HOST_FLAG, argsFromJson, HELP_FLAG, LOG_FLAGS, parseFlags } from '../flags.js';
import { createLogger } from '../logging.js';
import { startSource, type MigrationRequest } from '@ferry/agent-source';
import { silentLogger } from '@ferry/qemu';
import { readMigrateRequest } from '../migrate-options.js';
import { MIGRATE_ARG_SPEC } from '../migrate-plan.js';
import { buildSourceSeams } from '../source-seams.js';
import { parseListen } from '../listen.js';
import { writeLine } from '../daemon-line.js';
import { readPrivateToken } from '../token-file.js';
import { UsageError } from '../usage.js';

const HELP = `ferry source --listen HOST:PORT --token-file F [--allow-host NAME ...] [--log-level L] [--log-file F]

A daemon that runs migrations on request. POST /migrations takes the options of 'ferry migrate' as JSON
(Content-Type: application/json), keys without the leading dashes, e.g.
{"to":"ws://...","image":["ram=/dev/shm/vm.ram"]}, and answers {"migrationId":...}; an unknown key, a
value of the wrong type, or options that contradict each other get a 400 that says why. GET /status lists
the migrations; the WebSocket /events streams their progress; GET /metrics serves Prometheus metrics and
GET / a live page (a browser logs in once with the token). Every route wants the token.
Prints {"event":"listening","url":...} on stdout and runs until SIGINT or SIGTERM.

  --token-file F       required: clients send "Authorization: Bearer <token>". A request can name hook
                       commands and files, which run and are read as this daemon's user, so F must be
                       this user's and not readable by others (chmod 600)
  --allow-host NAME    answer to requests for Host NAME (repeatable); IP addresses, localhost and the
                       --listen host always work; any other Host is refused (DNS rebinding)
  --log-level L, --log-file F   default level info

Requests from web pages are refused: an Origin header other than this daemon's own gets 403.
`;

export const SOURCE_FLAGS = { listen: { type: 'string' }, 'token-file': { type: 'string' }, ...ALLOW_HOST_FLAG, ...LOG_FLAGS, ...HELP_FLAG } as const;

export async function sourceCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, SOURCE_FLAGS);
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const { host, port } = parseListen(values.listen);
  if (values['token-file'] === undefined) {
    throw new UsageError('--token-file F is required: a request names commands and files that run and are read as this user, so every client must hold the token');
  }
  const token = readPrivateToken(values['token-file']);
  const logger = createLogger(values['log-level'] ?? 'info', values['log-file'], 'ferry-source');
  const daemon = await startSource({ host, port, logger, token, allowHosts: values['allow-host'], parseRequest: migrationRequest });
  writeLine({ event: 'listening', url: daemon.url });
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await daemon.close();
  return 0;
}

/**
 * A POSTed body, read like the flags of `ferry migrate` into the same plan: an unknown key, a value of
 * the wrong type, a bad or contradicting option is the client's 400 now; the seams are built once accepted.
 */
function migrationRequest(body: unknown): MigrationRequest {
  const { plan, options } = readMigrateRequest(argsFromJson(body, MIGRATE_ARG_SPEC));
  return { options, prepare: () => buildSourceSeams(plan, options, silentLogger) };
}

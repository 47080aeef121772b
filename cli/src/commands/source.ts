import { HELP_FLAG, LOG_FLAGS, parseFlags } from '../flags.js';
import { createLogger } from '../logging.js';
import { readToken } from '../migrate-options.js';
import { SourceDaemon } from '../source-daemon.js';
import { parseListen } from '../listen.js';

const SOURCE_FLAGS = { listen: { type: 'string' }, 'token-file': { type: 'string' }, ...LOG_FLAGS, ...HELP_FLAG } as const;

export async function sourceCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, SOURCE_FLAGS);
  if (values.help) {
    process.stdout.write('ferry source --listen HOST:PORT [--token-file F]\n  POST /migrations {"to":"ws://...","image":["ram=/dev/shm/vm.ram"],...}; GET /status; WebSocket /events\n');
    return 0;
  }
  const { host, port } = parseListen(values.listen);
  const logger = createLogger(values['log-level'] ?? 'info', values['log-file'], 'ferry-source');
  const daemon = new SourceDaemon(logger, values['token-file'] ? readToken(values['token-file']) : undefined);
  const url = await daemon.listen(host, port);
  process.stdout.write(`${JSON.stringify({ event: 'listening', url })}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await daemon.close();
  return 0;
}

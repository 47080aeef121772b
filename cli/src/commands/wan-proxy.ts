import { startWanProxy } from '@ferry/wan';
import { HELP_FLAG, LOG_FLAGS, parseFlags } from '../flags.js';
import { parseListen } from '../listen.js';
import { createLogger } from '../logging.js';
import { parseDuration, parseRate } from '../units.js';
import { UsageError } from '../usage.js';

const HELP = `ferry wan-proxy --listen HOST:PORT --to HOST:PORT [--delay MS] [--rate RATE] [--jitter MS]

A TCP proxy that emulates a WAN link, for machines without tc netem: every byte in each direction is
delayed by --delay ms (one way, so the round trip grows by twice that), serialised at --rate, and its
delay varies by up to +-jitter ms without reordering. Packet loss cannot be emulated over TCP.
Prints {"event":"listening",...} as one JSON line on stdout and runs until SIGINT or SIGTERM.

  --listen HOST:PORT   where clients connect (port 0: any free port)
  --to HOST:PORT       where the proxy connects for each client (e.g. the ferry target)
  --delay MS           one-way delay per direction (default 0)
  --rate RATE          per-direction rate, e.g. 200mbit or 12MB/s (default unlimited)
  --jitter MS          delay variation (default 0)
  --log-level L, --log-file F   connection events (info) and errors (warn)
`;

function parseTo(value: string | undefined): { host: string; port: number } {
  if (!value) throw new UsageError('--to HOST:PORT is required (where to forward, e.g. the ferry target)');
  try {
    const to = parseListen(value);
    if (to.port === 0) throw new UsageError('port 0');
    return to;
  } catch {
    throw new UsageError(`--to ${value} must be HOST:PORT with a port from 1 to 65535, e.g. target:7070`);
  }
}

export const WAN_PROXY_FLAGS = {
  listen: { type: 'string' }, to: { type: 'string' }, delay: { type: 'string' }, rate: { type: 'string' }, jitter: { type: 'string' },
  ...LOG_FLAGS, ...HELP_FLAG,
} as const;

/** `ferry wan-proxy`: emulate delay and rate in front of a target when the kernel has no netem. */
export async function wanProxyCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, WAN_PROXY_FLAGS);
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const listen = parseListen(values.listen);
  const to = parseTo(values.to);
  const delayMs = values.delay === undefined ? 0 : parseDuration(values.delay, '--delay', 'ms', { allowZero: true });
  const jitterMs = values.jitter === undefined ? 0 : parseDuration(values.jitter, '--jitter', 'ms', { allowZero: true });
  const rateBytesPerSec = values.rate === undefined ? undefined : parseRate(values.rate, '--rate');
  if (rateBytesPerSec === 0) throw new UsageError('--rate must be above 0 (leave it out for an unlimited rate)');
  const logger = createLogger(values['log-level'] ?? 'info', values['log-file'], 'ferry-wan-proxy');

  const proxy = await startWanProxy({
    listenHost: listen.host, listenPort: listen.port, toHost: to.host, toPort: to.port, delayMs, jitterMs,
    ...(rateBytesPerSec === undefined ? {} : { rateBytesPerSec }),
    log: (event, fields) => (event === 'connection-error' ? logger.warn(fields, event) : logger.info(fields, event)),
  });
  const toText = to.host.includes(':') ? `[${to.host}]:${to.port}` : `${to.host}:${to.port}`;
  process.stdout.write(`${JSON.stringify({ event: 'listening', address: proxy.address, port: proxy.port, to: toText, delayMs, jitterMs, rateBytesPerSec: rateBytesPerSec ?? null })}\n`);

  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  logger.info(proxy.stats(), 'stopping');
  await proxy.close();
  return 0;
}

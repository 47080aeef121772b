import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { accessPolicy, authorize, refuseUpgrade, type AccessPolicy } from './auth.js';
import { listenOn } from './listen.js';
import { sendJson } from './ops-routes.js';
import type { MetricsSource } from './metrics.js';
import { DEFAULT_PRE_AUTH, PreAuthGuard } from './preauth.js';

export interface StatusServerOptions {
  readonly host: string;
  readonly port: number;
  /** Required: what the status shows (a fleet, its plan, its bill) is the operator's business only. */
  readonly token: string;
  /** Host names to answer to besides IP literals, localhost and the listen host (against DNS rebinding). */
  readonly allowHosts?: readonly string[] | undefined;
  readonly logger: Logger;
  /** GET /status: read at each request. */
  readonly status: () => unknown;
  readonly metrics: MetricsSource;
}

export interface RunningStatusServer {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/**
 * A read-only HTTP endpoint for a process that is not a daemon but runs long (`ferry autopilot`): GET
 * /status (JSON) and GET /metrics (Prometheus), nothing else. Behind the daemons' own gate, `authorize()`
 * (Host, Origin and the bearer token) and their pre-authentication bounds; no route changes anything.
 */
export async function serveStatus(options: StatusServerOptions): Promise<RunningStatusServer> {
  if (!options.token) throw new Error('the status endpoint needs a token: what it shows is the operator\'s only');
  const log = options.logger.child({ role: 'status' });
  const access = accessPolicy({ token: options.token, allowHosts: options.allowHosts, listenHost: options.host, tls: false });
  const server = createServer((request, response) => void answer(request, response, access, options, log, guard));
  const guard = new PreAuthGuard(server, DEFAULT_PRE_AUTH, log);
  server.on('upgrade', (request: IncomingMessage, socket: Duplex) => {
    const auth = authorize(request, access);
    if (!auth.ok) log.warn({ status: auth.status, remote: request.socket.remoteAddress, url: request.url }, `refused: ${auth.message}`);
    refuseUpgrade(socket, auth.ok ? 404 : auth.status, auth.ok ? 'no WebSocket here: GET /status and GET /metrics' : auth.message);
  });
  const { port, urlHost } = await listenOn(server, options.host, options.port);
  const url = `http://${urlHost}:${port}`;
  log.info({ url }, 'status listening');
  return {
    url,
    port,
    close: () => {
      guard.close();
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

async function answer(request: IncomingMessage, response: ServerResponse, access: AccessPolicy, options: StatusServerOptions, log: Logger, guard: PreAuthGuard): Promise<void> {
  const auth = authorize(request, access);
  if (!auth.ok) {
    log.warn({ status: auth.status, remote: request.socket.remoteAddress, method: request.method, url: request.url }, `refused: ${auth.message}`);
    return reply(response, auth.status, { error: auth.message });
  }
  guard.admit(request.socket);
  const path = new URL(request.url ?? '/', 'http://x').pathname;
  if (path !== '/status' && path !== '/metrics') return reply(response, 404, { error: `no route ${path}: GET /status or GET /metrics` });
  if (request.method !== 'GET') return reply(response, 405, { error: `${path} is read-only: GET it` }, { allow: 'GET' });
  if (path === '/status') return reply(response, 200, options.status());
  const { contentType, body } = await options.metrics.render();
  response.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' }).end(body);
}

function reply(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  sendJson(response, status, body, { 'cache-control': 'no-store', ...headers });
}

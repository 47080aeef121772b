import { createServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import type { Logger } from 'pino';
import { WebSocketServer } from 'ws';
import { migrate, type MigrationSummary, type ProgressEvent } from '@ferry/agent-source';
import { authorize, EventFeed } from '@ferry/serve';
import { migrateOptionsFrom, sourceHookCommands, stateDirFrom, type MigrateArgs } from './migrate-options.js';
import { buildSourceHooks, recoveryRecipe } from './source-hooks.js';
import { diskNames } from './source-disks.js';

interface Tracked {
  readonly migrationId: string;
  readonly startedAt: string;
  last?: ProgressEvent;
  summary?: Omit<MigrationSummary, 'history'>;
}

const MAX_BODY_BYTES = 64 * 1024;

/**
 * `ferry source` as a daemon: POST /migrations starts a migration with the same options as `ferry migrate`
 * (as JSON, keys without the leading dashes); GET /status and the /events WebSocket report progress.
 * The body can name hook commands that run as this daemon's user, so without a token only loopback
 * clients are served.
 */
export class SourceDaemon {
  readonly #server: Server;
  readonly #events = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  readonly #migrations = new Map<string, Tracked>();
  readonly #watchers: EventFeed;
  readonly #log: Logger;
  readonly #token: string | undefined;

  constructor(logger: Logger, token: string | undefined) {
    this.#log = logger;
    this.#watchers = new EventFeed(logger);
    this.#token = token;
    this.#server = createServer((req, res) => void this.#handle(req, res));
    this.#server.on('upgrade', (req, socket, head) => {
      const denied = this.#deny(req);
      if (denied || new URL(req.url ?? '/', 'http://x').pathname !== '/events') {
        socket.end(`HTTP/1.1 ${denied ?? '404 Not Found'}\r\n\r\n`);
        return;
      }
      this.#events.handleUpgrade(req, socket, head, (ws) => this.#watchers.add(ws));
    });
  }

  listen(host: string, port: number): Promise<string> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        const address = this.#server.address();
        resolve(`http://${host}:${typeof address === 'object' && address ? address.port : port}`);
      });
    });
  }

  close(): Promise<void> {
    this.#watchers.close();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const denied = this.#deny(req);
    if (denied) return reply(res, Number(denied.slice(0, 3)), { error: denied.slice(4) });
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (req.method === 'GET' && path === '/status') {
      return reply(res, 200, { role: 'source', migrations: [...this.#migrations.values()] });
    }
    if (req.method === 'POST' && path === '/migrations') {
      try {
        const args = JSON.parse(await readBody(req)) as MigrateArgs;
        const id = this.#start(args);
        return reply(res, 202, { migrationId: id });
      } catch (error) {
        return reply(res, 400, { error: error instanceof Error ? error.message : String(error) });
      }
    }
    return reply(res, 404, { error: `no route for ${req.method} ${path}` });
  }

  #start(args: MigrateArgs): string {
    const options = migrateOptionsFrom(args);
    const hookCommands = sourceHookCommands(args);
    if (this.#migrations.has(options.migrationId)) throw new Error(`migration ${options.migrationId} exists already`);
    const tracked: Tracked = { migrationId: options.migrationId, startedAt: new Date().toISOString() };
    this.#migrations.set(options.migrationId, tracked);
    const publish = (event: ProgressEvent | { event: 'summary'; summary: Tracked['summary'] }): void => {
      this.#watchers.broadcast({ migrationId: options.migrationId, ...event });
    };
    void (async () => {
      const { hooks, throttle, close, options: withDisks, dirtyTrackers } = await buildSourceHooks(hookCommands, args, options, this.#log);
      const journal = { stateDir: stateDirFrom(args), recovery: { ...recoveryRecipe(hookCommands, diskNames(args.disk)) } };
      try {
        const summary = await migrate(withDisks, { logger: this.#log, hooks, throttle, journal, dirtyTrackers, onEvent: (e) => { tracked.last = e; publish(e); } });
        const { history: _history, ...rest } = summary;
        tracked.summary = rest;
        publish({ event: 'summary', summary: rest });
      } finally {
        await close();
      }
    })().catch((error: unknown) => this.#log.error({ err: error, migrationId: options.migrationId }, 'migration failed to start'));
    return options.migrationId;
  }

  /** The target's rule: a bearer token, or loopback clients only (the body can name hook commands). */
  #deny(req: IncomingMessage): string | undefined {
    const decision = authorize(req, this.#token, false);
    return decision.ok ? undefined : `${decision.status} ${decision.status === 401 ? 'Unauthorized' : 'Forbidden'}: ${decision.message}`;
  }
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(`${JSON.stringify(body)}\n`);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.on('data', (chunk: Buffer) => {
      body += chunk.toString('utf8');
      if (body.length > MAX_BODY_BYTES) reject(new Error(`request body over ${MAX_BODY_BYTES} bytes`));
    });
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer } from 'ws';
import {
  accessPolicy, authorize, DaemonMetrics, DEFAULT_PRE_AUTH, EventFeed, listenOn, LoginLimiter, PreAuthGuard, refuseUpgrade, sendJson, serveOps,
  type AccessPolicy, type OpsRoutes, type PreAuthLimits, type SourceDaemonEvent, type SourceEvent, type SourceMigrationStatus, type SourceStatus,
} from '@ferry/serve';
import { countFailedStart, SourceMetricsFeed } from './metrics-feed.js';
import { migrate, type MigrateContext } from './migration.js';
import type { MigrateOptions } from './options.js';

/** What the daemon needs for one migration besides its options; built only once the request is accepted. */
export type MigrationSeams = Omit<MigrateContext, 'logger' | 'onEvent' | 'signal'> & {
  /** The request's options with what preparing added (a disk's file or view as an image); default: the request's. */
  readonly options?: MigrateOptions;
  /** Releases what the seams hold (a QMP socket, a cgroup, a disk view), after the migration has ended. */
  close(): Promise<void>;
};

export interface MigrationRequest {
  readonly options: MigrateOptions;
  prepare(): Promise<MigrationSeams>;
}

export interface SourceOptions {
  readonly host: string;
  readonly port: number;
  readonly logger: Logger;
  /**
   * Required: a client can name hook commands, which run as this daemon's user, and files, which it
   * reads and sends; so every route wants `Authorization: Bearer <token>`, even from loopback.
   */
  readonly token: string;
  /** Host names to answer to besides IP literals, localhost and the listen host (against DNS rebinding). */
  readonly allowHosts?: readonly string[] | undefined;
  /** Bounds on connections that have not shown the token yet (the target's defaults). */
  readonly preAuth?: Partial<PreAuthLimits> | undefined;
  /**
   * Turns a POSTed JSON body into a migration; throws with a message for the client when the body is bad.
   * Injected so the agent knows nothing of how the CLI spells its options.
   */
  readonly parseRequest: (body: unknown) => MigrationRequest;
}

export interface RunningSource {
  readonly url: string;
  readonly port: number;
  status(): SourceStatus;
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 64 * 1024;

/**
 * The source daemon, the mirror of `startTarget`: POST /migrations starts a migration, GET /status and the
 * /events WebSocket report progress, GET /metrics and the page at GET / show it to Prometheus and people.
 * The body can name hook commands that run as this daemon's user, so every route needs the token (the
 * page's login cookie opens only the read-only ones), and requests from web pages are refused (see `authorize`).
 */
export async function startSource(options: SourceOptions): Promise<RunningSource> {
  return new SourceDaemon(options).listen();
}

class SourceDaemon {
  readonly #options: SourceOptions;
  readonly #log: Logger;
  readonly #server: Server;
  readonly #events = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  readonly #migrations = new Map<string, SourceMigrationStatus>();
  readonly #watchers: EventFeed;
  readonly #access: AccessPolicy;
  readonly #guard: PreAuthGuard;
  readonly #ops: OpsRoutes;

  constructor(options: SourceOptions) {
    if (!options.token) throw new Error('the source daemon needs a token: it runs the hook commands its clients name');
    this.#options = options;
    this.#access = accessPolicy({ token: options.token, allowHosts: options.allowHosts, listenHost: options.host, tls: false });
    this.#log = options.logger.child({ role: 'source' });
    this.#watchers = new EventFeed(this.#log);
    const running = (): number => [...this.#migrations.values()].filter((m) => m.summary === undefined && m.error === undefined).length;
    this.#ops = { metrics: new DaemonMetrics('source', running), token: options.token, secure: false, logins: new LoginLimiter() };
    this.#server = createServer((req, res) => void this.#http(req, res));
    this.#guard = new PreAuthGuard(this.#server, { ...DEFAULT_PRE_AUTH, ...options.preAuth }, this.#log);
    this.#server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#upgrade(req, socket, head));
  }

  async listen(): Promise<RunningSource> {
    const { port, urlHost } = await listenOn(this.#server, this.#options.host, this.#options.port);
    const url = `http://${urlHost}:${port}`;
    this.#log.info({ url }, 'source listening');
    return { url, port, status: () => this.#status(), close: () => this.#close() };
  }

  async #http(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const auth = authorize(req, this.#access);
    if (auth.ok) this.#guard.admit(req.socket);
    if (await serveOps(req, res, auth, this.#ops)) return;
    if (!auth.ok) {
      this.#log.warn({ status: auth.status, remote: req.socket.remoteAddress, method: req.method, url: req.url }, `refused: ${auth.message}`);
      return sendJson(res, auth.status, { error: auth.message });
    }
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (req.method === 'GET' && path === '/status') return sendJson(res, 200, this.#status());
    if (req.method === 'POST' && path === '/migrations') {
      try {
        const migrationId = this.#start(this.#options.parseRequest(parseJson(await readBody(req))));
        return sendJson(res, 202, { migrationId });
      } catch (error) {
        return sendJson(res, 400, { error: error instanceof Error ? error.message : String(error) });
      }
    }
    return sendJson(res, 404, { error: `no route for ${req.method} ${path}: use POST /migrations, GET /status, GET /metrics, the page at GET / or WebSocket /events` });
  }

  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const auth = authorize(req, this.#access);
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (!auth.ok) {
      this.#log.warn({ status: auth.status, remote: req.socket.remoteAddress, path }, `refused: ${auth.message}`);
      return refuseUpgrade(socket, auth.status, auth.message);
    }
    if (path !== '/events') return refuseUpgrade(socket, 404, `no WebSocket endpoint ${path}: use /events`);
    this.#guard.admit(req.socket);
    this.#events.handleUpgrade(req, socket, head, (ws) => this.#watchers.add(ws));
  }

  #start(request: MigrationRequest): string {
    const { migrationId } = request.options;
    if (this.#migrations.has(migrationId)) throw new Error(`migration ${migrationId} exists already`);
    const tracked: SourceMigrationStatus = { migrationId, startedAt: new Date().toISOString() };
    this.#migrations.set(migrationId, tracked);
    const publish = (event: SourceDaemonEvent): void => {
      this.#watchers.broadcast({ migrationId, ...event });
    };
    void (async () => {
      const prepared = await request.prepare().catch((error: unknown) => {
        tracked.error = error instanceof Error ? error.message : String(error);
        this.#log.warn({ err: error, migrationId }, 'migration failed to start');
        countFailedStart(this.#ops.metrics, migrationId);
        publish({ event: 'failed-to-start', error: tracked.error });
      });
      if (!prepared) return;
      const { close, options = request.options, ...seams } = prepared;
      const feed = new SourceMetricsFeed(this.#ops.metrics, migrationId);
      try {
        const onEvent = (event: SourceEvent): void => { tracked.last = event; feed.event(event); publish(event); };
        const { history: _history, ...summary } = await migrate(options, { ...seams, logger: this.#log, onEvent });
        tracked.summary = summary;
        feed.ended(summary);
        publish({ event: 'summary', summary });
      } catch (error) {
        tracked.error = error instanceof Error ? error.message : String(error);
        this.#ops.metrics.ended(migrationId, { result: 'failed' });
        throw error;
      } finally {
        await close();
      }
    })().catch((error: unknown) => this.#log.error({ err: error, migrationId }, 'migration failed'));
    return migrationId;
  }

  #status(): SourceStatus {
    return { role: 'source', migrations: [...this.#migrations.values()] };
  }

  #close(): Promise<void> {
    this.#watchers.close();
    this.#guard.close();
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}


function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new Error(`the request body is not JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
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

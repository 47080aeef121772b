import { mkdir } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { resolve } from 'node:path';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer } from 'ws';
import { DEFAULT_LIMITS, FerryError, ErrorCode, type Limits } from '@ferry/protocol';
import { createPageHasher, type PageHasher } from '@ferry/pages';
import {
  accessPolicy, authorize, checkWebSocketUpgrade, DaemonMetrics, DEFAULT_PRE_AUTH, EventFeed, listenOn, LoginLimiter, PreAuthGuard, refuseUpgrade, sendJson, serveOps,
  type AccessPolicy, type Credential, type MigrationEnd, type OpsRoutes, type PreAuthLimits, type TargetEvent, type TargetStatus,
} from '@ferry/serve';
import type { BaseImage } from './base.js';
import { privatePaths, publicMessage, type PrivatePath } from './public-message.js';
import { SourceConnection } from './connection.js';
import { TargetMetricsFeed } from './metrics-feed.js';
import { SessionRegistry } from './registry.js';
import type { SessionContext } from './session.js';
import { cleanStaleSessions } from './stale.js';
import type { CommitHook, Prelauncher } from './types.js';

export type { MigrationEnd } from '@ferry/serve';

export interface TargetLimits extends Limits {
  /** Migrations received at the same time. */
  maxMigrations: number;
  /** Page-table memory for all sessions together (bytes); a HELLO that would need more is refused. */
  maxTableBytes: number;
}

export interface TargetOptions {
  readonly host: string;
  readonly port: number;
  readonly dir: string;
  readonly logger: Logger;
  readonly token?: string | undefined;
  /** Accept clients from anywhere without a token (trusted networks only). */
  readonly insecure?: boolean | undefined;
  /** Host names to answer to besides IP literals, localhost and the listen host (against DNS rebinding). */
  readonly allowHosts?: readonly string[] | undefined;
  readonly limits?: Partial<TargetLimits> | undefined;
  /** Older copies of images by name (`--base`): only pages that differ are then sent. */
  readonly bases?: Readonly<Record<string, BaseImage>> | undefined;
  readonly commitHook?: CommitHook | undefined;
  /** Starts the workload's process during pre-copy or at the pause, ahead of GO (`--qemu-cmd`). */
  readonly prelaunch?: Prelauncher | undefined;
  readonly resumeGraceMs?: number | undefined;
  readonly helloTimeoutMs?: number | undefined;
  /** An attached session that moves no bytes for this long is dropped. */
  readonly idleTimeoutMs?: number | undefined;
  readonly preAuth?: Partial<PreAuthLimits> | undefined;
  /** PEM contents. `ca` turns on client certificates (mutual TLS). */
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer; readonly ca?: string | Buffer | undefined } | undefined;
}

export interface RunningTarget {
  readonly url: string;
  readonly port: number;
  onMigrationEnd(listener: (end: MigrationEnd) => void): void;
  status(): TargetStatus;
  close(): Promise<void>;
}

/** 64 MiB of page tables: 8 Mi pages, 32 GiB of images at 4 KiB pages (raise with --max-table-memory). */
export const DEFAULT_TARGET_LIMITS: Readonly<TargetLimits> = { ...DEFAULT_LIMITS, maxMigrations: 4, maxTableBytes: 64 * 1024 * 1024 };
export const DEFAULT_RESUME_GRACE_MS = 60_000;
export const DEFAULT_IDLE_TIMEOUT_MS = 60_000;
const DEFAULT_HELLO_TIMEOUT_MS = 10_000;

/** Starts the target daemon: HTTP for /status, /metrics and the page at /, WebSocket /migrate for sources and /events for watchers. */
export async function startTarget(options: TargetOptions): Promise<RunningTarget> {
  const limits: TargetLimits = { ...DEFAULT_TARGET_LIMITS, ...options.limits };
  const dir = resolve(options.dir);
  await mkdir(dir, { recursive: true });
  await cleanStaleSessions(dir, options.logger.child({ role: 'target' }));
  const hasher = await createPageHasher();
  const daemon = new TargetDaemon(options, limits, dir, hasher);
  return daemon.listen();
}

class TargetDaemon {
  readonly #options: TargetOptions;
  readonly #limits: TargetLimits;
  readonly #dir: string;
  readonly #hasher: PageHasher;
  readonly #log: Logger;
  readonly #registry: SessionRegistry;
  readonly #endListeners: Array<(end: MigrationEnd) => void> = [];
  readonly #watchers: EventFeed;
  readonly #ops: OpsRoutes;
  readonly #metricsFeed: TargetMetricsFeed;
  readonly #server: Server;
  readonly #guard: PreAuthGuard;
  readonly #access: AccessPolicy;
  /** For /events only: /migrate reads its frames itself (SourceConnection). */
  readonly #wss: WebSocketServer;
  readonly #connections = new Set<SourceConnection>();
  /** The operator's paths, which nothing a source can read may name (see publicMessage). */
  readonly #privatePaths: readonly PrivatePath[];

  constructor(options: TargetOptions, limits: TargetLimits, dir: string, hasher: PageHasher) {
    this.#options = options;
    this.#limits = limits;
    this.#dir = dir;
    this.#hasher = hasher;
    this.#privatePaths = privatePaths(dir, Object.values(options.bases ?? {}).map((base) => base.path));
    this.#log = options.logger.child({ role: 'target' });
    this.#access = accessPolicy({
      token: options.token, clientCertificates: options.tls?.ca !== undefined, insecure: options.insecure,
      allowHosts: options.allowHosts, listenHost: options.host, tls: options.tls !== undefined,
    });
    this.#registry = new SessionRegistry(limits.maxMigrations, limits.maxTableBytes);
    this.#watchers = new EventFeed(this.#log);
    this.#ops = { metrics: new DaemonMetrics('target', () => this.#registry.all.length), token: options.token, secure: options.tls !== undefined, logins: new LoginLimiter() };
    this.#metricsFeed = new TargetMetricsFeed(this.#ops.metrics);
    // A watcher sends nothing ferry reads.
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024, perMessageDeflate: false });
    const handler = (request: IncomingMessage, response: ServerResponse): void => void this.#http(request, response);
    this.#server = options.tls
      ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key, ...(options.tls.ca ? { ca: options.tls.ca, requestCert: true, rejectUnauthorized: true } : {}) }, handler)
      : createHttpServer(handler);
    this.#guard = new PreAuthGuard(this.#server, { ...DEFAULT_PRE_AUTH, ...options.preAuth }, this.#log);
    this.#server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => this.#upgrade(request, socket, head));
  }

  async listen(): Promise<RunningTarget> {
    const { port, urlHost } = await listenOn(this.#server, this.#options.host, this.#options.port);
    const url = `${this.#options.tls ? 'wss' : 'ws'}://${urlHost}:${port}`;
    this.#log.info({ url, dir: this.#dir }, 'target listening');
    return {
      url, port,
      onMigrationEnd: (listener) => void this.#endListeners.push(listener),
      status: () => this.#status(),
      close: () => this.#close(),
    };
  }

  async #http(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = new URL(request.url ?? '/', 'http://x').pathname;
    const auth = authorize(request, this.#access);
    const reply = (status: number, body: unknown): void => sendJson(response, status, body);
    if (auth.ok) this.#guard.admit(request.socket as Socket);
    if (await serveOps(request, response, auth, this.#ops)) return;
    if (!auth.ok) {
      this.#log.warn({ status: auth.status, remote: request.socket.remoteAddress, path }, `refused: ${auth.message}`);
      return reply(auth.status, { error: auth.message });
    }
    if (path === '/status' && request.method === 'GET') return reply(200, this.#status());
    reply(404, { error: `no such endpoint ${path}: use GET /status, GET /metrics, the page at GET /, or WebSocket /migrate and /events` });
  }

  #upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = new URL(request.url ?? '/', 'http://x').pathname;
    const refuse = (status: number, message: string): void => {
      this.#log.warn({ status, remote: request.socket.remoteAddress, path }, `refused: ${message}`);
      refuseUpgrade(socket, status, message);
    };
    if (path !== '/migrate' && path !== '/events') return refuse(404, `no WebSocket endpoint ${path}: use /migrate or /events`);
    const auth = authorize(request, this.#access);
    if (!auth.ok) return refuse(auth.status, auth.message);
    if (path === '/events') {
      return this.#wss.handleUpgrade(request, socket, head, (ws) => {
        this.#guard.admit(request.socket);
        this.#watchers.add(ws, { event: 'status', ...this.#status() });
      });
    }
    const handshake = checkWebSocketUpgrade(request.method, request.headers);
    if (!handshake.ok) return refuse(handshake.status, handshake.message);
    if (!socket.readable || !socket.writable) return void socket.destroy();
    socket.write(handshake.response);
    this.#migrate(socket, head, request.socket, auth.credential);
  }

  /**
   * A source connection. One that showed a token or a certificate has proven itself; without either
   * (loopback or --insecure) it counts as unauthenticated until its HELLO has opened or resumed a session.
   */
  #migrate(stream: Duplex, head: Buffer, socket: Socket, credential: Credential): void {
    if (credential !== 'none') this.#guard.admit(socket);
    // As ws did: small replies (ACK, COMMIT_READY, pongs) go out at once, not behind Nagle's delay.
    socket.setNoDelay(true);
    const connection = new SourceConnection(stream, head, {
      remote: socket.remoteAddress ?? 'unknown', log: this.#log, limits: this.#limits, paths: this.#privatePaths,
      helloTimeoutMs: this.#options.helloTimeoutMs ?? DEFAULT_HELLO_TIMEOUT_MS,
      open: async (peer, hello) => {
        const session = await this.#registry.open(peer, hello, this.#context());
        this.#guard.admit(socket);
        return session;
      },
    });
    this.#connections.add(connection);
    stream.once('close', () => this.#connections.delete(connection));
  }

  #context(): SessionContext {
    return {
      dir: this.#dir, hasher: this.#hasher, limits: this.#limits, logger: this.#log,
      bases: this.#options.bases ?? {}, privatePaths: this.#privatePaths, commitHook: this.#options.commitHook, prelaunch: this.#options.prelaunch,
      resumeGraceMs: this.#options.resumeGraceMs ?? DEFAULT_RESUME_GRACE_MS,
      idleTimeoutMs: this.#options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
      onEvent: (event: TargetEvent) => {
        this.#metricsFeed.event(event);
        // /events answers the credential sources use: a failure's reason is told as a source is told it.
        this.#watchers.broadcast('reason' in event ? { ...event, reason: publicMessage(event.reason, this.#privatePaths) } : event);
      },
      onEnd: (session, outcome, reason) => {
        this.#registry.ended(session);
        for (const listener of this.#endListeners) listener({ migrationId: session.id, outcome, reason });
      },
    };
  }

  /** Answers the credential sources use, so it names no path of the operator's (the log has --dir). */
  #status(): TargetStatus {
    return {
      role: 'target', tableMemory: { reserved: this.#registry.tableBytesReserved, limit: this.#limits.maxTableBytes, share: this.#registry.tableShare },
      migrations: this.#registry.all.map((s) => s.status()),
    };
  }

  async #close(): Promise<void> {
    const ending = this.#registry.all.map((session) => session.fail(new FerryError(ErrorCode.Aborted, 'the target is shutting down'), true));
    await Promise.all(ending);
    for (const client of this.#wss.clients) client.terminate();
    for (const connection of this.#connections) connection.terminate();
    this.#watchers.close();
    this.#guard.close();
    this.#server.closeAllConnections();
    await new Promise<void>((resolveClose) => this.#server.close(() => resolveClose()));
  }
}

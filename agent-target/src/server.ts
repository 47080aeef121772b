
import { mkdir } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { join, resolve } from 'node:path';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import { DEFAULT_LIMITS, encodeControl, ErrorCode, FerryError, MessageType, toFerryError, type Limits } from '@ferry/protocol';
import { createPageHasher, type PageHasher } from '@ferry/pages';
import { authorize } from './auth.js';
import { acceptHello } from './hello.js';
import { readOutcome } from './manifest.js';
import { TargetSession, type Peer, type SessionContext } from './session.js';
import type { CommitHook, TargetEvent } from './types.js';

export interface TargetLimits extends Limits {
  /** Migrations received at the same time. */
  maxMigrations: number;
}

export interface TargetOptions {
  readonly host: string;
  readonly port: number;
  readonly dir: string;
  readonly logger: Logger;
  readonly token?: string | undefined;
  /** Accept clients from anywhere without a token (trusted networks only). */
  readonly insecure?: boolean | undefined;
  readonly limits?: Partial<TargetLimits> | undefined;
  /** Older copies of images by name (`--base NAME=PATH`): only pages that differ are then sent. */
  readonly bases?: Readonly<Record<string, string>> | undefined;
  readonly commitHook?: CommitHook | undefined;
  readonly resumeGraceMs?: number | undefined;
  readonly helloTimeoutMs?: number | undefined;
  /** PEM contents. `ca` turns on client certificates (mutual TLS). */
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer; readonly ca?: string | Buffer | undefined } | undefined;
}

export interface MigrationEnd {
  readonly migrationId: string;
  readonly outcome: 'committed' | 'failed';
  readonly reason?: string | undefined;
}

export interface RunningTarget {
  readonly url: string;
  readonly port: number;
  onMigrationEnd(listener: (end: MigrationEnd) => void): void;
  status(): Record<string, unknown>;
  close(): Promise<void>;
}

export const DEFAULT_TARGET_LIMITS: Readonly<TargetLimits> = { ...DEFAULT_LIMITS, maxMigrations: 4 };
export const DEFAULT_RESUME_GRACE_MS = 60_000;

/** Starts the target daemon: HTTP for /status, WebSocket /migrate for sources and /events for watchers. */
export async function startTarget(options: TargetOptions): Promise<RunningTarget> {
  const limits: TargetLimits = { ...DEFAULT_TARGET_LIMITS, ...options.limits };
  const dir = resolve(options.dir);
  await mkdir(dir, { recursive: true });
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
  readonly #sessions = new Map<string, TargetSession>();
  readonly #endListeners: Array<(end: MigrationEnd) => void> = [];
  readonly #watchers = new Set<WebSocket>();
  readonly #server: Server;
  // ws checks the size while reading; twice the limit so that a message just over it gets a proper ERROR.
  readonly #wss: WebSocketServer;

  constructor(options: TargetOptions, limits: TargetLimits, dir: string, hasher: PageHasher) {
    this.#options = options;
    this.#limits = limits;
    this.#dir = dir;
    this.#hasher = hasher;
    this.#log = options.logger.child({ role: 'target' });
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: limits.maxMessageBytes * 2, perMessageDeflate: false });
    const handler = (request: IncomingMessage, response: ServerResponse): void => this.#http(request, response);
    this.#server = options.tls
      ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key, ...(options.tls.ca ? { ca: options.tls.ca, requestCert: true, rejectUnauthorized: true } : {}) }, handler)
      : createHttpServer(handler);
    this.#server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => this.#upgrade(request, socket, head));
  }

  async listen(): Promise<RunningTarget> {
    await new Promise<void>((resolveListen, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#options.port, this.#options.host, () => resolveListen());
    });
    const address = this.#server.address();
    const port = typeof address === 'object' && address ? address.port : this.#options.port;
    const host = this.#options.host.includes(':') ? `[${this.#options.host}]` : this.#options.host;
    const url = `${this.#options.tls ? 'wss' : 'ws'}://${host}:${port}`;
    this.#log.info({ url, dir: this.#dir }, 'target listening');
    return {
      url, port,
      onMigrationEnd: (listener) => void this.#endListeners.push(listener),
      status: () => this.#status(),
      close: () => this.#close(),
    };
  }

  #http(request: IncomingMessage, response: ServerResponse): void {
    const path = new URL(request.url ?? '/', 'http://x').pathname;
    const auth = authorize(request, this.#options.token, this.#trustsAnyClient());
    const reply = (status: number, body: unknown): void => {
      response.writeHead(status, { 'content-type': 'application/json' }).end(`${JSON.stringify(body)}\n`);
    };
    if (!auth.ok) return reply(auth.status, { error: auth.message });
    if (path === '/status' && request.method === 'GET') return reply(200, this.#status());
    reply(404, { error: `no such endpoint ${path}: use GET /status, or WebSocket /migrate and /events` });
  }

  #upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = new URL(request.url ?? '/', 'http://x').pathname;
    const refuse = (status: number, message: string): void => {
      this.#log.warn({ status, remote: request.socket.remoteAddress, path }, `refused: ${message}`);
      socket.end(`HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : status === 403 ? 'Forbidden' : 'Not Found'}\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n${message}\n`);
    };
    if (path !== '/migrate' && path !== '/events') return refuse(404, `no WebSocket endpoint ${path}: use /migrate or /events`);
    const auth = authorize(request, this.#options.token, this.#trustsAnyClient());
    if (!auth.ok) return refuse(auth.status, auth.message);
    this.#wss.handleUpgrade(request, socket, head, (ws) => {
      if (path === '/events') this.#watch(ws);
      else this.#migrate(ws, request.socket.remoteAddress ?? 'unknown');
    });
  }

  /** --insecure, or mutual TLS: a client that got through the handshake has a certificate we trust. */
  #trustsAnyClient(): boolean {
    return this.#options.insecure === true || this.#options.tls?.ca !== undefined;
  }

  #watch(ws: WebSocket): void {
    this.#watchers.add(ws);
    ws.on('close', () => this.#watchers.delete(ws));
    ws.on('error', () => this.#watchers.delete(ws));
    ws.send(JSON.stringify({ event: 'status', ...this.#status() }));
  }

  #emit(event: TargetEvent): void {
    const line = JSON.stringify(event);
    for (const watcher of this.#watchers) watcher.send(line);
  }

  /** A source connection: HELLO first, then every message goes to its session. */
  #migrate(ws: WebSocket, remote: string): void {
    const peer: Peer = { send: (message) => ws.send(message), close: (code, reason) => ws.close(code, reason) };
    let session: TargetSession | undefined;
    const refuse = (error: FerryError): void => {
      this.#log.warn({ err: error, remote }, 'migration refused');
      ws.send(encodeControl({ type: MessageType.Error, code: error.code, message: error.message }));
      ws.close(1008, error.code);
    };
    const helloTimer = setTimeout(() => refuse(new FerryError(ErrorCode.Timeout, 'no HELLO within the handshake timeout')), this.#options.helloTimeoutMs ?? 30_000);
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (session) {
        if (!isBinary) return session.fail(new FerryError(ErrorCode.Malformed, 'text frames are not part of the protocol'), true);
        if (data.length > this.#limits.maxMessageBytes) {
          return session.fail(new FerryError(ErrorCode.Limit, `a ${data.length}-byte message is over this target's limit of ${this.#limits.maxMessageBytes}`), true);
        }
        return session.receive(data);
      }
      clearTimeout(helloTimer);
      try {
        session = this.#open(peer, isBinary ? data : Buffer.alloc(0));
      } catch (error) {
        refuse(toFerryError(error));
      }
    });
    ws.on('close', (code: number) => {
      clearTimeout(helloTimer);
      session?.detach(peer, `connection closed (code ${code})`);
    });
    ws.on('error', (error: Error) => this.#log.debug({ err: error, remote }, 'source socket error'));
  }

  #open(peer: Peer, data: Buffer): TargetSession {
    const hello = acceptHello(data, this.#limits);
    const existing = this.#sessions.get(hello.migrationId);
    if (existing && hello.resume && existing.phase === 'precopy' && existing.matches(hello)) {
      existing.attach(peer, true); // a resume after a cut: the old connection, if still open, is replaced
      return existing;
    }
    if (existing && !existing.attached && !hello.resume) {
      // A session kept for a resume, but its source started over: the new attempt replaces it.
      existing.fail(new FerryError(ErrorCode.Aborted, 'replaced by a new attempt with the same migration id'), false);
    } else if (existing) {
      throw new FerryError(ErrorCode.Conflict, `migration ${hello.migrationId} is already in progress on this target (phase ${existing.phase})`);
    }
    if (readOutcome(join(this.#dir, hello.migrationId)) === 'committed') {
      throw new FerryError(ErrorCode.Conflict, `migration ${hello.migrationId} was already committed on this target; use another --id`);
    }
    if (this.#sessions.size >= this.#limits.maxMigrations) {
      throw new FerryError(ErrorCode.Limit, `this target already receives ${this.#sessions.size} migrations (limit ${this.#limits.maxMigrations})`);
    }
    const session = TargetSession.create(hello, this.#context());
    this.#sessions.set(session.id, session);
    session.attach(peer, session.seeded);
    return session;
  }

  #context(): SessionContext {
    return {
      dir: this.#dir, hasher: this.#hasher, limits: this.#limits, logger: this.#log,
      bases: this.#options.bases ?? {}, commitHook: this.#options.commitHook,
      resumeGraceMs: this.#options.resumeGraceMs ?? DEFAULT_RESUME_GRACE_MS,
      onEvent: (event) => this.#emit(event),
      onEnd: (session, outcome, reason) => {
        if (this.#sessions.get(session.id) === session) this.#sessions.delete(session.id);
        for (const listener of this.#endListeners) listener({ migrationId: session.id, outcome, reason });
      },
    };
  }

  #status(): Record<string, unknown> {
    return { role: 'target', dir: this.#dir, migrations: [...this.#sessions.values()].map((s) => s.status()) };
  }

  async #close(): Promise<void> {
    for (const session of this.#sessions.values()) session.fail(new FerryError(ErrorCode.Aborted, 'the target is shutting down'), true);
    for (const client of this.#wss.clients) client.terminate();
    for (const watcher of this.#watchers) watcher.terminate();
    await new Promise<void>((resolveClose) => this.#server.close(() => resolveClose()));
  }
}


import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';

export interface PreAuthLimits {
  /** Time from TCP accept to an authenticated upgrade, or to a first authorized HTTP request. */
  readonly timeoutMs: number;
  /** Connections allowed at once in that state; more are closed as they arrive. */
  readonly maxConnections: number;
}

export const DEFAULT_PRE_AUTH: PreAuthLimits = { timeoutMs: 5_000, maxConnections: 64 };

/**
 * Bounds the connections that have not yet proven anything: each must be admitted (authorized) within
 * the timeout, and only so many may wait at once, so silent or half-sent requests cannot pile up
 * descriptors. Works on the TCP socket, before TLS and HTTP parsing.
 */
export class PreAuthGuard {
  readonly #limits: PreAuthLimits;
  readonly #log: Logger;
  readonly #waiting = new Map<Socket, NodeJS.Timeout>();

  constructor(server: Server, limits: PreAuthLimits, logger: Logger) {
    this.#limits = limits;
    this.#log = logger;
    server.on('connection', (socket: Socket) => this.#accept(socket));
  }

  #accept(socket: Socket): void {
    if (this.#waiting.size >= this.#limits.maxConnections) {
      this.#log.warn({ remote: socket.remoteAddress, limit: this.#limits.maxConnections }, 'refused a connection: too many connections not yet authenticated');
      socket.destroy();
      return;
    }
    const timer = setTimeout(() => {
      this.#log.warn({ remote: socket.remoteAddress, timeoutMs: this.#limits.timeoutMs }, 'closed a connection that did not authenticate in time');
      this.#waiting.delete(socket);
      socket.destroy();
    }, this.#limits.timeoutMs);
    this.#waiting.set(socket, timer);
    socket.once('close', () => this.admit(socket));
  }

  /** The connection proved itself (or is gone): it no longer counts against the limits. */
  admit(socket: Socket): void {
    // Behind TLS the request's socket wraps the TCP socket the guard saw; Node keeps it as _parent.
    const raw = (socket as Socket & { _parent?: Socket })._parent ?? socket;
    const timer = this.#waiting.get(raw);
    if (timer) clearTimeout(timer);
    this.#waiting.delete(raw);
  }

  get waiting(): number {
    return this.#waiting.size;
  }

  close(): void {
    for (const [socket, timer] of this.#waiting) {
      clearTimeout(timer);
      socket.destroy();
    }
    this.#waiting.clear();
  }
}

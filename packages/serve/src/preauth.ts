import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';

export interface PreAuthLimits {
  /** Time from TCP accept to an authenticated upgrade, or to a first authorized HTTP request. */
  readonly timeoutMs: number;
  /** Connections allowed at once in that state; a new one beyond makes room by closing an older one. */
  readonly maxConnections: number;
  /** Of those, from one remote address; a new one beyond closes that address's oldest. */
  readonly maxPerAddress: number;
}

/** A source sends its request as soon as TCP (and TLS) is up: 3 s is many round trips even across the world. */
export const DEFAULT_PRE_AUTH: PreAuthLimits = { timeoutMs: 3_000, maxConnections: 64, maxPerAddress: 8 };

interface Waiting {
  readonly address: string;
  readonly timer: NodeJS.Timeout;
}

/**
 * Bounds the connections that have not yet proven anything: each must be admitted (authorized) within
 * the timeout, and only so many may wait at once, so silent or half-sent requests cannot pile up
 * descriptors. Works on the TCP socket, before TLS and HTTP parsing.
 *
 * A new connection is never the one refused: when the limits are reached an older waiting one is
 * closed instead (the oldest of the address holding the most), so anonymous sockets opened earlier
 * cannot lock out a source with the token or a migration reconnecting after a cut. A source sends its
 * credentials at once, and is admitted before many new connections can push it out.
 */
export class PreAuthGuard {
  readonly #limits: PreAuthLimits;
  readonly #log: Logger;
  /** In arrival order: the first entry of an address is its oldest. */
  readonly #waiting = new Map<Socket, Waiting>();

  constructor(server: Server, limits: PreAuthLimits, logger: Logger) {
    this.#limits = limits;
    this.#log = logger;
    server.on('connection', (socket: Socket) => this.#accept(socket));
  }

  #accept(socket: Socket): void {
    const address = socket.remoteAddress ?? 'unknown';
    if (this.#countFrom(address) >= this.#limits.maxPerAddress) {
      this.#evict(this.#oldestFrom(address), `more than ${this.#limits.maxPerAddress} connections from one address not yet authenticated`);
    } else if (this.#waiting.size >= this.#limits.maxConnections) {
      this.#evict(this.#oldestFrom(this.#busiestAddress()), `more than ${this.#limits.maxConnections} connections not yet authenticated`);
    }
    const timer = setTimeout(() => {
      this.#log.warn({ remote: address, timeoutMs: this.#limits.timeoutMs }, 'closed a connection that did not authenticate in time');
      this.#waiting.delete(socket);
      socket.destroy();
    }, this.#limits.timeoutMs);
    this.#waiting.set(socket, { address, timer });
    socket.once('close', () => this.admit(socket));
  }

  #evict(socket: Socket | undefined, why: string): void {
    if (!socket) return;
    this.#log.warn({ remote: socket.remoteAddress }, `closed the oldest waiting connection to make room: ${why}`);
    this.admit(socket);
    socket.destroy();
  }

  #countFrom(address: string): number {
    let count = 0;
    for (const entry of this.#waiting.values()) if (entry.address === address) count += 1;
    return count;
  }

  #oldestFrom(address: string | undefined): Socket | undefined {
    for (const [socket, entry] of this.#waiting) if (entry.address === address) return socket;
    return undefined;
  }

  /** The address with the most waiting connections; on a tie, the one that has waited longest. */
  #busiestAddress(): string | undefined {
    const counts = new Map<string, number>();
    for (const { address } of this.#waiting.values()) counts.set(address, (counts.get(address) ?? 0) + 1);
    let busiest: string | undefined;
    for (const [address, count] of counts) if (busiest === undefined || count > counts.get(busiest)!) busiest = address;
    return busiest;
  }

  /** The connection proved itself (or is gone): it no longer counts against the limits. */
  admit(socket: Socket): void {
    // Behind TLS the request's socket wraps the TCP socket the guard saw; Node keeps it as _parent.
    const raw = (socket as Socket & { _parent?: Socket })._parent ?? socket;
    const entry = this.#waiting.get(raw);
    if (entry) clearTimeout(entry.timer);
    this.#waiting.delete(raw);
  }

  close(): void {
    for (const [socket, { timer }] of this.#waiting) {
      clearTimeout(timer);
      socket.destroy();
    }
    this.#waiting.clear();
  }
}

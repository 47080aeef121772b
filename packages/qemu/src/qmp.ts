/**
 * A QMP client over QEMU's unix socket (`-qmp unix:PATH,server=on,wait=off`).
 *
 * The exchange, one JSON object per line each way:
 *
 *     QEMU   {"QMP": {"version": {...}, "capabilities": [...]}}        greeting, once
 *     ferry  {"execute": "qmp_capabilities", "id": "ferry-1"}          leaves negotiation mode
 *     QEMU   {"return": {}, "id": "ferry-1"}
 *     ferry  {"execute": CMD, "arguments": {...}, "id": "ferry-N"}
 *     QEMU   {"return": ..., "id": "ferry-N"}  or  {"error": {"class": C, "desc": D}, "id": "ferry-N"}
 *     QEMU   {"event": NAME, "data": {...}, "timestamp": {...}}        at any time, no id
 *
 * Every command waits at most `timeoutMs`. When the socket closes (QEMU quit or crashed), every pending
 * command and event wait fails at once with a `QmpError` of kind `closed`; nothing hangs.
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { QmpError } from './qmp-error.js';
import { isObject, MAX_LINE, openSocket, readGreeting, type QmpGreeting } from './qmp-wire.js';

export { QmpError, type QmpErrorKind } from './qmp-error.js';
export type { QmpGreeting } from './qmp-wire.js';

export interface QmpEvent {
  readonly event: string;
  readonly data: Record<string, unknown>;
  /** Seconds since the epoch, from QEMU's timestamp. */
  readonly timestamp: number;
}

export interface QmpConnectOptions {
  /** How long to keep trying to connect (the socket may not exist yet) and to get the greeting. Default 10 s. */
  readonly timeoutMs?: number;
  /** Default per-command timeout. Default 30 s. */
  readonly commandTimeoutMs?: number;
}

interface Pending {
  readonly command: string;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: QmpError) => void;
  readonly timer: NodeJS.Timeout;
}


export class QmpClient {
  readonly greeting: QmpGreeting;
  readonly #socket: Socket;
  readonly #pending = new Map<string, Pending>();
  readonly #events = new EventEmitter();
  readonly #commandTimeoutMs: number;
  #nextId = 1;
  #buffer = '';
  #closed: QmpError | undefined;

  private constructor(socket: Socket, greeting: QmpGreeting, commandTimeoutMs: number) {
    this.#socket = socket;
    this.greeting = greeting;
    this.#commandTimeoutMs = commandTimeoutMs;
    this.#events.setMaxListeners(0);
  }

  /** Connects (retrying while the socket does not exist yet), reads the greeting, negotiates capabilities. */
  static async connect(path: string, options: QmpConnectOptions = {}): Promise<QmpClient> {
    const timeoutMs = options.timeoutMs ?? 10_000;
    const deadline = Date.now() + timeoutMs;
    const socket = await openSocket(path, deadline);
    let greeting: { greeting: QmpGreeting; rest: string };
    try {
      greeting = await readGreeting(socket, path, deadline);
    } catch (error) {
      socket.destroy();
      throw error;
    }
    const client = new QmpClient(socket, greeting.greeting, options.commandTimeoutMs ?? 30_000);
    client.#attach(greeting.rest);
    await client.execute('qmp_capabilities', undefined, { timeoutMs: Math.max(1000, deadline - Date.now()) });
    return client;
  }

  /** True once the socket is gone; every call then fails with kind `closed`. */
  get closed(): boolean {
    return this.#closed !== undefined;
  }

  /** Runs one command; resolves with its `return` value, rejects with a QmpError. */
  execute<T = unknown>(command: string, args?: Record<string, unknown>, options: { timeoutMs?: number } = {}): Promise<T> {
    if (this.#closed) return Promise.reject(new QmpError('closed', this.#closed.desc, { command }));
    const id = `ferry-${this.#nextId++}`;
    const timeoutMs = options.timeoutMs ?? this.#commandTimeoutMs;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new QmpError('timeout', `no answer within ${timeoutMs} ms`, { command }));
      }, timeoutMs);
      this.#pending.set(id, { command, resolve: resolve as (value: unknown) => void, reject, timer });
      const message = args === undefined ? { execute: command, id } : { execute: command, arguments: args, id };
      this.#socket.write(`${JSON.stringify(message)}\n`);
    });
  }

  /** Calls `listener` for every asynchronous event; returns a function that unsubscribes. */
  onEvent(listener: (event: QmpEvent) => void): () => void {
    this.#events.on('event', listener);
    return () => this.#events.off('event', listener);
  }

  /** Calls `listener` once when the socket closes, with the reason. */
  onClose(listener: (reason: QmpError) => void): () => void {
    if (this.#closed) {
      const reason = this.#closed;
      queueMicrotask(() => listener(reason));
      return () => {};
    }
    this.#events.once('close', listener);
    return () => this.#events.off('close', listener);
  }

  /** Resolves with the next event called `name` that `predicate` accepts; rejects on timeout or close. */
  waitForEvent(name: string, predicate: (event: QmpEvent) => boolean = () => true, timeoutMs = this.#commandTimeoutMs): Promise<QmpEvent> {
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        offEvent();
        offClose();
      };
      const timer = setTimeout(() => {
        done();
        reject(new QmpError('timeout', `no ${name} event within ${timeoutMs} ms`));
      }, timeoutMs);
      const offEvent = this.onEvent((event) => {
        if (event.event !== name || !predicate(event)) return;
        done();
        resolve(event);
      });
      const offClose = this.onClose((reason) => {
        done();
        reject(new QmpError('closed', `${reason.desc} while waiting for ${name}`));
      });
    });
  }

  /** Closes the socket (QEMU keeps running). */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.#socket.once('close', () => resolve());
      this.#socket.end();
      setTimeout(() => this.#socket.destroy(), 1000).unref();
    });
  }

  #attach(rest: string): void {
    this.#socket.setEncoding('utf8');
    this.#socket.on('data', (chunk: string) => this.#onData(chunk));
    this.#socket.on('error', (error) => this.#shutdown(`socket error: ${error.message}`));
    this.#socket.on('close', () => this.#shutdown('QEMU closed the QMP socket'));
    if (rest.length > 0) this.#onData(rest);
  }

  #onData(chunk: string): void {
    this.#buffer += chunk;
    let newline: number;
    while ((newline = this.#buffer.indexOf('\n')) >= 0) {
      const line = this.#buffer.slice(0, newline).trim();
      this.#buffer = this.#buffer.slice(newline + 1);
      if (line.length > 0) this.#onLine(line);
    }
    if (this.#buffer.length > MAX_LINE) {
      this.#socket.destroy();
      this.#shutdown(`QMP line longer than ${MAX_LINE} bytes`);
    }
  }

  #onLine(line: string): void {
    let message: unknown;
    try {
      message = JSON.parse(line);
    } catch {
      return; // QEMU only sends JSON; ignore anything else rather than fail a migration over it
    }
    if (!isObject(message)) return;
    if (typeof message['event'] === 'string') {
      this.#events.emit('event', toEvent(message['event'], message));
      return;
    }
    const id = message['id'];
    const pending = typeof id === 'string' ? this.#pending.get(id) : undefined;
    if (pending === undefined || typeof id !== 'string') return; // late answer to a timed-out command
    this.#pending.delete(id);
    clearTimeout(pending.timer);
    const error = message['error'];
    if (isObject(error)) {
      const desc = typeof error['desc'] === 'string' ? error['desc'] : JSON.stringify(error);
      const errorClass = typeof error['class'] === 'string' ? error['class'] : 'GenericError';
      pending.reject(new QmpError('qemu', desc, { errorClass, command: pending.command }));
    } else {
      pending.resolve(message['return']);
    }
  }

  #shutdown(desc: string): void {
    if (this.#closed) return;
    this.#closed = new QmpError('closed', desc);
    for (const [id, pending] of this.#pending) {
      clearTimeout(pending.timer);
      this.#pending.delete(id);
      pending.reject(new QmpError('closed', desc, { command: pending.command }));
    }
    this.#events.emit('close', this.#closed);
  }
}

function toEvent(name: string, message: Record<string, unknown>): QmpEvent {
  const data = isObject(message['data']) ? message['data'] : {};
  const ts = isObject(message['timestamp']) ? message['timestamp'] : {};
  const seconds = typeof ts['seconds'] === 'number' ? ts['seconds'] : 0;
  const micros = typeof ts['microseconds'] === 'number' ? ts['microseconds'] : 0;
  return { event: name, data, timestamp: seconds + micros / 1e6 };
}

import { WebSocket, type RawData } from 'ws';
import {
  decodeMessage, encodeControl, ErrorCode, FerryError, messageTypeName, MessageType,
  type ControlMessage, type Message,
} from '@ferry/protocol';
import { abortable } from './abort.js';
import { openSocket, type ConnectOptions } from './open-socket.js';
import type { SendMeter } from './send-meter.js';

export type { ConnectOptions, TargetCredentials } from './open-socket.js';

/** Above this many queued bytes a sender waits for the socket to drain. */
const HIGH_WATER_BYTES = 8 * 1024 * 1024;
/** A link that dies without a reset (cable, NAT timeout) is noticed by pings that go unanswered. */
const PING_INTERVAL_MS = 5000;
const PONG_TIMEOUT_MS = 20_000;
/** How long a rollback waits for its ABORT to reach the socket. */
const ABORT_SEND_MS = 2000;

type Waiter = { readonly types: ReadonlySet<number>; resolve: (m: Message) => void; reject: (e: FerryError) => void };

/**
 * The source's end of the migration connection. Replies are awaited by type with `expect`; an ERROR from
 * the target, a close or a timeout rejects the waiting call with a FerryError that says why. ACKs go to
 * `onAck` and never need awaiting.
 */
export class TargetConnection {
  readonly #ws: WebSocket;
  readonly #meter: SendMeter;
  readonly #inbox: Message[] = [];
  #waiter: Waiter | undefined;
  /** Waits for the next ACK (the link pacer's full window); a failure rejects them. */
  readonly #ackWaiters = new Set<{ resolve: () => void; reject: (e: FerryError) => void }>();
  #failure: FerryError | undefined;
  onAck: ((ack: Extract<Message, { type: typeof MessageType.Ack }>) => void) | undefined;

  private constructor(ws: WebSocket, meter: SendMeter) {
    this.#ws = ws;
    this.#meter = meter;
    let lastPong = performance.now();
    ws.on('pong', () => { lastPong = performance.now(); });
    const keepalive = setInterval(() => {
      if (performance.now() - lastPong > PONG_TIMEOUT_MS) {
        this.#fail(new FerryError(ErrorCode.Disconnected, `the target has not answered for ${PONG_TIMEOUT_MS / 1000} s`));
        ws.terminate();
      } else if (ws.readyState === WebSocket.OPEN) ws.ping();
    }, PING_INTERVAL_MS);
    keepalive.unref();
    ws.once('close', () => clearInterval(keepalive));
    ws.on('message', (data: RawData, isBinary: boolean) => this.#receive(data, isBinary));
    ws.on('close', (code: number, reason: Buffer) => {
      const text = reason.toString('utf8');
      this.#fail(new FerryError(
        code === 1009 ? ErrorCode.Limit : ErrorCode.Disconnected,
        `the connection to the target closed (code ${code}${text ? `: ${text}` : ''})`,
      ));
    });
    ws.on('error', (error: Error) => this.#fail(new FerryError(ErrorCode.Disconnected, `connection error: ${error.message}`, { cause: error })));
  }

  /** Connects; aborting `signal` gives up the attempt (the socket is destroyed). */
  static connect(options: ConnectOptions, signal: AbortSignal): Promise<TargetConnection> {
    return openSocket(options, signal, (ws) => new TargetConnection(ws, options.meter));
  }

  get bufferedAmount(): number {
    return this.#ws.bufferedAmount;
  }

  /** Every byte sent so far on the migration (all connections), as the meter counts them. */
  get bytesSent(): number {
    return this.#meter.bytes;
  }

  /**
   * Resolves at the next ACK. Rejects when the connection fails, when `timeoutMs` passes without one,
   * or when `signal` aborts.
   */
  nextAck(timeoutMs: number, signal: AbortSignal): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    let waiter: { resolve: () => void; reject: (e: FerryError) => void } | undefined;
    const acked = new Promise<void>((resolve, reject) => {
      waiter = { resolve, reject };
      this.#ackWaiters.add(waiter);
    });
    const timeout = withTimeout(timeoutMs, `the target acknowledged nothing for ${Math.round(timeoutMs / 1000)} s`);
    return abortable(Promise.race([acked, timeout.promise]), signal).finally(() => {
      timeout.clear();
      if (waiter) this.#ackWaiters.delete(waiter);
    });
  }

  /**
   * Resolves with the milliseconds a WebSocket ping takes to come back: the round trip, plus whatever is
   * queued ahead of it on the socket and the link (take the least of several samples). Never rejects:
   * a ping that is never answered simply never resolves.
   */
  roundTrip(): Promise<number> {
    const tag = Buffer.from(`rtt-${performance.now()}`);
    const sent = performance.now();
    return new Promise((resolve) => {
      const done = (): void => {
        this.#ws.off('pong', onPong);
        this.#ws.off('close', done);
      };
      const onPong = (data: Buffer): void => {
        if (!data.equals(tag)) return;
        done();
        resolve(performance.now() - sent);
      };
      this.#ws.on('pong', onPong);
      this.#ws.once('close', done);
      if (this.#ws.readyState === WebSocket.OPEN) this.#ws.ping(tag);
    });
  }

  /**
   * Resolves once everything sent so far has reached the target: a ping queued behind it came back (the
   * target reads frames in order, and stops reading while its inbox is full). Rejects when the connection
   * fails, when `timeoutMs` passes, or when `signal` aborts.
   */
  drained(timeoutMs: number, signal: AbortSignal): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    let onClose: (() => void) | undefined;
    const closed = new Promise<never>((_resolve, reject) => {
      onClose = () => reject(this.#failure ?? new FerryError(ErrorCode.Disconnected, 'the connection to the target closed'));
      this.#ws.once('close', onClose);
    });
    const timeout = withTimeout(timeoutMs, `the target did not take the queued pages within ${Math.round(timeoutMs / 1000)} s`);
    return abortable(Promise.race([this.roundTrip().then(() => undefined), closed, timeout.promise]), signal).finally(() => {
      timeout.clear();
      if (onClose) this.#ws.off('close', onClose);
    });
  }

  sendControl(message: ControlMessage): Promise<void> {
    return this.sendRaw([encodeControl(message)]);
  }

  /**
   * Sends one message made of `parts` (as fragments when there are several). Resolves at once while little
   * is queued; above the high-water mark it resolves when this message has reached the socket, which is how
   * the scan workers feel the link's pace. `onWritten` runs once the socket no longer needs the bytes.
   */
  sendRaw(parts: readonly Uint8Array[], onWritten?: () => void): Promise<void> {
    if (this.#failure) {
      onWritten?.();
      return Promise.reject(this.#failure);
    }
    for (const part of parts) this.#meter.count(part.length);
    return new Promise((resolve, reject) => {
      const last = parts.length - 1;
      parts.forEach((part, index) => {
        const done = index === last ? (error?: Error) => {
          onWritten?.();
          if (error) reject(this.#failure ?? toDisconnected(error));
          else resolve();
        } : undefined;
        this.#ws.send(part, { binary: true, fin: index === last }, done);
      });
      if (this.#ws.bufferedAmount < HIGH_WATER_BYTES) resolve();
    });
  }

  /**
   * Waits for the next message of one of `types`; anything else that arrives first is a protocol error.
   * Aborting `signal` stops the wait (the message, if it comes later, stays queued).
   */
  expect<T extends Message['type']>(types: readonly T[], timeoutMs: number, what: string, signal: AbortSignal): Promise<Extract<Message, { type: T }>> {
    return abortable(this.#expect(types, timeoutMs, what), signal).catch((error: unknown) => {
      if (signal.aborted) this.#waiter = undefined;
      throw error;
    });
  }

  #expect<T extends Message['type']>(types: readonly T[], timeoutMs: number, what: string): Promise<Extract<Message, { type: T }>> {
    if (this.#failure) return Promise.reject(this.#failure);
    const wanted = new Set<number>(types);
    const queued = this.#inbox.shift();
    if (queued) return Promise.resolve(this.#check(queued, wanted, what) as Extract<Message, { type: T }>);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiter = undefined;
        reject(new FerryError(ErrorCode.Timeout, `the target did not answer ${what} within ${Math.round(timeoutMs / 1000)} s`));
      }, timeoutMs);
      this.#waiter = {
        types: wanted,
        resolve: (m) => { clearTimeout(timer); resolve(m as Extract<Message, { type: T }>); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      };
    });
  }

  /** Best effort: tells the target why we stop, then closes. Never throws. */
  async abort(reason: string): Promise<void> {
    if (this.#ws.readyState === WebSocket.OPEN && this.#failure === undefined) {
      // A link that does not drain (a stopped target) must not hold up the rollback.
      const gaveUp = AbortSignal.timeout(ABORT_SEND_MS);
      await abortable(this.sendRaw([encodeControl({ type: MessageType.Abort, reason })]), gaveUp).catch(() => {});
    }
    this.close();
  }

  close(): void {
    if (this.#ws.readyState === WebSocket.OPEN || this.#ws.readyState === WebSocket.CONNECTING) this.#ws.close(1000);
    setTimeout(() => this.#ws.terminate(), 2000).unref();
  }

  /** Cuts the connection at once (used by tests and by Ctrl-C). */
  terminate(): void {
    this.#ws.terminate();
  }

  #check(message: Message, wanted: ReadonlySet<number>, what: string): Message {
    if (message.type === MessageType.Error) throw new FerryError(message.code, `target: ${message.message}`);
    if (message.type === MessageType.Abort) throw new FerryError(ErrorCode.Aborted, `the target aborted the migration: ${message.reason}`);
    if (!wanted.has(message.type)) {
      throw new FerryError(ErrorCode.UnexpectedMessage, `expected ${what}, the target sent ${messageTypeName(message.type)}`);
    }
    return message;
  }

  #receive(data: RawData, isBinary: boolean): void {
    let message: Message;
    try {
      if (!isBinary) throw new FerryError(ErrorCode.Malformed, 'the target sent a text frame');
      message = decodeMessage(toUint8Array(data));
    } catch (error) {
      this.#fail(error instanceof FerryError ? error : new FerryError(ErrorCode.Malformed, String(error)));
      this.#ws.terminate();
      return;
    }
    if (message.type === MessageType.Ack) {
      this.onAck?.(message);
      for (const waiter of this.#ackWaiters) waiter.resolve();
      this.#ackWaiters.clear();
      return;
    }
    const waiter = this.#waiter;
    if (waiter) {
      this.#waiter = undefined;
      try {
        waiter.resolve(this.#check(message, waiter.types, [...waiter.types].map(messageTypeName).join(' or ')));
      } catch (error) {
        waiter.reject(error as FerryError);
      }
      return;
    }
    if (message.type === MessageType.Error || message.type === MessageType.Abort) {
      // Nobody is waiting: remember it, so the next send or expect fails with the target's reason.
      try { this.#check(message, new Set(), ''); } catch (error) { this.#fail(error as FerryError); }
      return;
    }
    this.#inbox.push(message);
  }

  #fail(error: FerryError): void {
    if (this.#failure) return;
    this.#failure = error;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.reject(error);
    for (const acked of this.#ackWaiters) acked.reject(error);
    this.#ackWaiters.clear();
  }
}

function withTimeout(ms: number, what: string): { promise: Promise<never>; clear: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new FerryError(ErrorCode.Timeout, what)), ms);
  });
  promise.catch(() => {});
  return { promise, clear: () => clearTimeout(timer) };
}

const toDisconnected = (error: Error): FerryError =>
  new FerryError(ErrorCode.Disconnected, `sending to the target failed: ${error.message}`, { cause: error });

function toUint8Array(data: RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return data;
}

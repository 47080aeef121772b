import type { Logger } from 'pino';
import { WebSocket } from 'ws';
import { encodeControl, ErrorCode, FerryError, MessageType, toFerryError, type Hello, type Limits } from '@ferry/protocol';
import { acceptHello } from './hello.js';
import { publicMessage, type PrivatePath } from './public-message.js';
import type { Peer, TargetSession } from './session.js';

/** Messages that may arrive while a HELLO is being answered; a source waits for WELCOME, so more is abuse. */
const MAX_EARLY_MESSAGES = 8;
const CLOSE_GRACE_MS = 1_000;

type Opener = (peer: Peer, hello: Hello) => Promise<TargetSession>;

/**
 * One source's WebSocket: HELLO first (within a timeout), then every binary message goes to its session.
 * The Peer it hands the session is the only way the session touches the socket.
 */
export class SourceConnection {
  readonly #ws: WebSocket;
  readonly #remote: string;
  readonly #log: Logger;
  readonly #limits: Limits;
  readonly #paths: readonly PrivatePath[];
  readonly peer: Peer;
  #session: TargetSession | undefined;
  #early: Array<{ data: Buffer; isBinary: boolean }> | undefined;

  /** `paths`: the operator's, never named in an error sent to the source (see publicMessage). */
  constructor(ws: WebSocket, remote: string, log: Logger, limits: Limits, paths: readonly PrivatePath[]) {
    this.#ws = ws;
    this.#paths = paths;
    this.#remote = remote;
    this.#log = log;
    this.#limits = limits;
    this.peer = {
      send: (message) => new Promise<void>((resolve) => {
        if (ws.readyState !== WebSocket.OPEN) return resolve();
        ws.send(message, () => resolve());
      }),
      // A peer that does not answer the close handshake (it stopped reading) is cut after a moment.
      close: (code, reason) => {
        ws.close(code, reason);
        setTimeout(() => ws.terminate(), CLOSE_GRACE_MS).unref();
      },
      pause: () => ws.readyState === WebSocket.OPEN && ws.pause(),
      resume: () => ws.readyState === WebSocket.OPEN && ws.resume(),
    };
  }

  start(helloTimeoutMs: number, open: Opener): void {
    const timer = setTimeout(() => this.#refuse(new FerryError(ErrorCode.Timeout, `no HELLO within ${helloTimeoutMs} ms`)), helloTimeoutMs);
    this.#ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (this.#session) return this.#deliver(this.#session, data, isBinary);
      if (this.#early) {
        if (this.#early.length >= MAX_EARLY_MESSAGES) return this.#refuse(new FerryError(ErrorCode.UnexpectedMessage, 'messages sent before WELCOME'));
        return void this.#early.push({ data, isBinary });
      }
      clearTimeout(timer);
      this.#early = [];
      void this.#open(open, isBinary ? data : Buffer.alloc(0));
    });
    this.#ws.on('close', (code: number) => {
      clearTimeout(timer);
      this.#session?.detach(this.peer, `connection closed (code ${code})`);
    });
    this.#ws.on('error', (error: Error) => this.#log.debug({ err: error, remote: this.#remote }, 'source socket error'));
  }

  async #open(open: Opener, data: Buffer): Promise<void> {
    try {
      const session = await open(this.peer, acceptHello(data, this.#limits));
      if (this.#ws.readyState !== WebSocket.OPEN) return session.detach(this.peer, 'connection closed during HELLO');
      this.#session = session;
      for (const early of this.#early ?? []) this.#deliver(session, early.data, early.isBinary);
      this.#early = undefined;
    } catch (error) {
      this.#refuse(toFerryError(error));
    }
  }

  #deliver(session: TargetSession, data: Buffer, isBinary: boolean): void {
    if (!isBinary) return void session.fail(new FerryError(ErrorCode.Malformed, 'text frames are not part of the protocol'), true);
    if (data.length > this.#limits.maxMessageBytes) {
      return void session.fail(new FerryError(ErrorCode.Limit, `a ${data.length}-byte message is over this target's limit of ${this.#limits.maxMessageBytes}`), true);
    }
    session.receive(this.peer, data);
  }

  #refuse(error: FerryError): void {
    this.#log.warn({ err: error, remote: this.#remote }, 'migration refused');
    if (this.#ws.readyState !== WebSocket.OPEN) return;
    this.#ws.send(encodeControl({ type: MessageType.Error, code: error.code, message: publicMessage(error.message, this.#paths) }));
    this.#ws.close(1008, error.code);
  }
}

import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { encodeControl, ErrorCode, FerryError, MessageType, toFerryError, type Hello, type Limits } from '@ferry/protocol';
import { CloseCode } from '@ferry/serve';
import { FrameSocket } from './frame-socket.js';
import { acceptHello } from './hello.js';
import { publicMessage, type PrivatePath } from './public-message.js';
import type { Peer, TargetSession } from './session.js';

/** Messages that may arrive while a HELLO is being answered; a source waits for WELCOME, so more is abuse. */
const MAX_EARLY_MESSAGES = 8;

type Opener = (peer: Peer, hello: Hello) => Promise<TargetSession>;

export interface ConnectionOptions {
  readonly remote: string;
  readonly log: Logger;
  readonly limits: Limits;
  /** The operator's, never named in an error sent to the source (see publicMessage). */
  readonly paths: readonly PrivatePath[];
  readonly helloTimeoutMs: number;
  /** Opens or resumes the session a HELLO asks for. */
  readonly open: Opener;
}

/**
 * One source's WebSocket: HELLO first (within a timeout), then every binary message goes to its session.
 * The Peer it hands the session is the only way the session touches the socket. A message is handed on
 * in the FrameSocket's reused buffer: the session copies what it keeps (see TargetSession.receive).
 */
export class SourceConnection {
  readonly #socket: FrameSocket;
  readonly #remote: string;
  readonly #log: Logger;
  readonly #limits: Limits;
  readonly #paths: readonly PrivatePath[];
  readonly peer: Peer;
  #session: TargetSession | undefined;
  /** Copies of the messages that came while the HELLO was being answered. */
  #early: Uint8Array[] | undefined;
  readonly #timer: NodeJS.Timeout;
  readonly #open: Opener;

  /** Takes the socket after the 101 answer; `head` holds what the client sent after its request. */
  constructor(socket: Duplex, head: Buffer, options: ConnectionOptions) {
    this.#paths = options.paths;
    this.#remote = options.remote;
    this.#log = options.log;
    this.#limits = options.limits;
    this.#open = options.open;
    this.#timer = setTimeout(() => this.#refuse(new FerryError(ErrorCode.Timeout, `no HELLO within ${options.helloTimeoutMs} ms`)), options.helloTimeoutMs);
    this.peer = {
      send: (message) => this.#socket.send(message),
      close: (code, reason) => this.#socket.close(code, reason),
      pause: () => this.#socket.pause(),
      resume: () => this.#socket.resume(),
    };
    this.#socket = new FrameSocket(socket, head, options.limits.maxMessageBytes, {
      message: (data) => this.#message(data),
      refused: (code, reason) => this.#refused(code, reason),
      closed: (code) => this.#closed(code),
      error: (error) => this.#log.debug({ err: error, remote: this.#remote }, 'source socket error'),
    });
  }

  /** Cuts the connection at once (the target is shutting down). */
  terminate(): void {
    this.#socket.terminate();
  }

  #message(data: Uint8Array): void {
    if (this.#session) return this.#session.receive(this.peer, data);
    if (this.#early) {
      if (this.#early.length >= MAX_EARLY_MESSAGES) return this.#refuse(new FerryError(ErrorCode.UnexpectedMessage, 'messages sent before WELCOME'));
      return void this.#early.push(data.slice());
    }
    clearTimeout(this.#timer);
    this.#early = [];
    let hello: Hello;
    try {
      hello = acceptHello(data, this.#limits); // decoded into its own values before the buffer is reused
    } catch (error) {
      return this.#refuse(toFerryError(error));
    }
    void this.#opened(hello);
  }

  async #opened(hello: Hello): Promise<void> {
    try {
      const session = await this.#open(this.peer, hello);
      if (!this.#socket.open) return session.detach(this.peer, 'connection closed during HELLO');
      this.#session = session;
      for (const early of this.#early ?? []) session.receive(this.peer, early);
      this.#early = undefined;
    } catch (error) {
      this.#refuse(toFerryError(error));
    }
  }

  /** A frame the protocol forbids: the source hears why, the close carries the frame's code, and its session ends. */
  #refused(code: number, reason: string): void {
    const error = new FerryError(code === CloseCode.TooBig ? ErrorCode.Limit : ErrorCode.Malformed, reason);
    this.#log.warn({ err: error, remote: this.#remote, closeCode: code }, 'source broke the WebSocket protocol');
    this.#sendError(error);
    this.#socket.close(code, error.code);
    void this.#session?.fail(error, false);
  }

  #closed(code: number): void {
    clearTimeout(this.#timer);
    this.#session?.detach(this.peer, `connection closed (code ${code})`);
  }

  #refuse(error: FerryError): void {
    this.#log.warn({ err: error, remote: this.#remote }, 'migration refused');
    this.#sendError(error);
    this.#socket.close(CloseCode.PolicyViolation, error.code);
  }

  #sendError(error: FerryError): void {
    void this.#socket.send(encodeControl({ type: MessageType.Error, code: error.code, message: publicMessage(error.message, this.#paths) }));
  }
}

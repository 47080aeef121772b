import type { Duplex } from 'node:stream';
import { CloseCode, closePayload, FrameReader, serverFrameHeader, ServerOpcode } from '@ferry/serve';

/** How long a peer has to answer our close frame (or to end the TCP connection after it) before it is cut. */
export const CLOSE_GRACE_MS = 1_000;

export interface FrameHandlers {
  /** A whole binary message, valid only during the call: whatever is kept of it must be copied. */
  message(data: Uint8Array): void;
  /** The client broke the frame protocol (`code` is the close code it gets); the socket closes right after. */
  refused(code: number, reason: string): void;
  /** The connection is gone: `code` is the client's close code, NoStatus, or Abnormal without a close frame. */
  closed(code: number): void;
  /** A socket error; 'closed' follows. */
  error(error: Error): void;
}

/**
 * A source's WebSocket on the target, after the 101 answer: frames are read by a FrameReader into its
 * reused buffers and handed on one message at a time (so a PAGES message costs no allocation), and
 * frames going out are written as header and payload. Reading stops between messages while paused.
 */
export class FrameSocket {
  readonly #socket: Duplex;
  readonly #reader: FrameReader;
  readonly #handlers: FrameHandlers;
  /** Chunks that came while paused or while a chunk was still being read. */
  readonly #chunks: Buffer[] = [];
  #state: 'open' | 'closing' | 'closed' = 'open';
  /** The client's close frame (or refusal) was read: nothing after it is. */
  #readEnded = false;
  #paused = false;
  #reading = false;
  #closeCode: number = CloseCode.Abnormal;

  constructor(socket: Duplex, head: Buffer, maxMessageBytes: number, handlers: FrameHandlers) {
    this.#socket = socket;
    this.#reader = new FrameReader(maxMessageBytes);
    this.#handlers = handlers;
    // Back into the stream before there is a 'data' listener, so it is not handed out at once but as
    // the first 'data', on a later tick, once whoever made this socket holds it.
    if (head.length > 0) socket.unshift(head);
    socket.on('data', (chunk: Buffer) => this.#received(chunk));
    // Node's HTTP server allows half-open sockets: the client's FIN is answered with ours.
    socket.on('end', () => socket.end());
    socket.on('close', () => this.#gone());
    socket.on('error', (error: Error) => handlers.error(error));

  }

  get open(): boolean {
    return this.#state === 'open';
  }

  /** Resolves once the message went to the socket (or at once when the connection is closing). */
  send(message: Uint8Array): Promise<void> {
    if (this.#state !== 'open') return Promise.resolve();
    return new Promise<void>((resolve) => this.#write(ServerOpcode.Binary, message, () => resolve()));
  }

  /** Starts the close handshake; the socket is cut if the client has not ended it within CLOSE_GRACE_MS. */
  close(code: number, reason: string): void {
    if (this.#state !== 'open') return;
    this.#state = 'closing';
    this.#write(ServerOpcode.Close, closePayload(code, reason));
    if (this.#readEnded) this.#socket.end();
    setTimeout(() => this.#socket.destroy(), CLOSE_GRACE_MS).unref();
  }

  terminate(): void {
    this.#socket.destroy();
  }

  pause(): void {
    if (this.#paused || this.#state === 'closed') return;
    this.#paused = true;
    this.#socket.pause();
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#read();
    if (!this.#paused) this.#socket.resume();
  }

  #write(opcode: number, payload: Uint8Array, done?: () => void): void {
    const socket = this.#socket;
    if (socket.destroyed) return done?.();
    socket.cork();
    socket.write(serverFrameHeader(opcode, payload.length));
    socket.write(payload, done && (() => done()));
    socket.uncork();
  }

  #received(chunk: Buffer): void {
    if (this.#readEnded) return;
    this.#chunks.push(chunk);
    this.#read();
  }

  /** Hands out events until the bytes run out or the session pauses; re-entered calls leave it to the running one. */
  #read(): void {
    if (this.#reading) return;
    this.#reading = true;
    try {
      while (!this.#paused && !this.#readEnded) {
        const event = this.#reader.next();
        if (event === undefined) {
          const chunk = this.#chunks.shift();
          if (chunk === undefined) break;
          this.#reader.feed(chunk);
          continue;
        }
        switch (event.kind) {
          case 'message':
            if (this.#state === 'open') this.#handlers.message(event.data);
            break;
          case 'ping':
            if (this.#state === 'open') this.#write(ServerOpcode.Pong, Uint8Array.from(event.data));
            break;
          case 'pong':
            break;
          case 'close':
            this.#endReading(event.code);
            // Our close frame echoes the client's code (none when it gave none), then the server ends TCP.
            if (this.#state === 'open') this.#write(ServerOpcode.Close, event.code === CloseCode.NoStatus ? new Uint8Array(0) : closePayload(event.code, ''));
            this.#state = 'closing';
            this.#socket.end();
            setTimeout(() => this.#socket.destroy(), CLOSE_GRACE_MS).unref();
            break;
          case 'refused':
            this.#endReading(event.code);
            this.#handlers.refused(event.code, event.reason);
            this.close(event.code, event.reason);
            break;
        }
      }
    } finally {
      this.#reading = false;
    }
  }

  #endReading(code: number): void {
    this.#readEnded = true;
    this.#closeCode = code;
    this.#chunks.length = 0;
  }

  #gone(): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#chunks.length = 0;
    this.#handlers.closed(this.#closeCode);
  }
}

/**
 * A small NBD client over a unix socket: fixed newstyle handshake, structured replies, meta contexts,
 * READ and BLOCK_STATUS. One request at a time (ferry reads a bitmap's extents once per pass, and its
 * page data from the image file), so replies need no reordering.
 *
 *     connect   greeting; client flags; STRUCTURED_REPLY; SET_META_CONTEXT (if any); GO
 *     read      READ -> OFFSET_DATA / OFFSET_HOLE chunks ... DONE
 *     extents   BLOCK_STATUS over the range, repeated until the whole range is described
 *     close     DISC, then the socket ends
 */
import type { Socket } from 'node:net';
import { ByteQueue } from './byte-queue.js';
import { Cmd, FLAG_READ_ONLY, REPLY_FLAG_DONE, REPLY_TYPE_ERROR_BIT, ReplyType } from './constants.js';
import { NbdError, protocolError } from './errors.js';
import { Handshake, openSocket, type Negotiated } from './negotiate.js';
import {
  decodeBlockStatus, decodeErrorChunk, decodeOffsetData, decodeOffsetHole, encodeRequest, parseReply,
  type Extent, type Reply,
} from './transmission.js';

export interface NbdConnectOptions {
  readonly exportName: string;
  /** Meta contexts to select, e.g. `qemu:dirty-bitmap:b1` or `base:allocation`. */
  readonly metaContexts?: readonly string[];
  /** Limit for connecting and for each answer. Default 30 s. */
  readonly timeoutMs?: number;
}

/** Largest READ this client asks for; also bounds every reply chunk it accepts. */
export const MAX_READ_BYTES = 32 * 1024 * 1024;
/** The protocol's own bound on a BLOCK_STATUS chunk (2^20 extents) and on option replies we accept. */
const MAX_CHUNK_BYTES = Math.max(MAX_READ_BYTES + 8, 4 + 8 * 2 ** 20);
/** BLOCK_STATUS asks for at most this much at once (a u32 field; aligned to 1 MiB). */
const MAX_STATUS_SPAN = 2 ** 32 - 2 ** 20;

interface Waiter {
  readonly attempt: () => boolean;
  readonly fail: (error: Error) => void;
}

export class NbdClient {
  readonly size: number;
  readonly readOnly: boolean;
  /** Selected meta contexts by name -> the id the server gave them. */
  readonly contexts: ReadonlyMap<string, number>;
  readonly #socket: Socket;
  readonly #queue: ByteQueue;
  readonly #timeoutMs: number;
  #waiter: Waiter | undefined;
  #failure: NbdError | undefined;
  #nextCookie = 1n;

  private constructor(socket: Socket, queue: ByteQueue, timeoutMs: number, info: Negotiated) {
    this.#socket = socket;
    this.#queue = queue;
    this.#timeoutMs = timeoutMs;
    this.size = info.size;
    this.readOnly = (info.flags & FLAG_READ_ONLY) !== 0;
    this.contexts = info.contexts;
  }

  static async connect(path: string, options: NbdConnectOptions): Promise<NbdClient> {
    const timeoutMs = options.timeoutMs ?? 30_000;
    const socket = await openSocket(path, timeoutMs);
    const queue = new ByteQueue();
    const session = new Handshake(socket, queue, timeoutMs);
    try {
      const info = await session.run(options.exportName, options.metaContexts ?? []);
      const client = new NbdClient(socket, queue, timeoutMs, info);
      session.detach();
      client.#attach();
      return client;
    } catch (error) {
      socket.destroy();
      throw error;
    }
  }

  /** Reads `length` bytes at `offset` (holes come back as zeros). */
  async read(offset: number, length: number): Promise<Uint8Array> {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length <= 0 || length > MAX_READ_BYTES) {
      throw new RangeError(`read of ${length} bytes at ${offset}: length must be 1..${MAX_READ_BYTES}`);
    }
    if (offset + length > this.size) throw new RangeError(`read of ${length} bytes at ${offset} is past the export's end (${this.size})`);
    const data = new Uint8Array(length);
    let covered = 0;
    await this.#request(Cmd.Read, offset, length, (chunk) => {
      if (chunk.type === ReplyType.OffsetData) {
        const piece = decodeOffsetData(chunk.payload);
        checkInside(piece.offset, piece.data.length, offset, length);
        data.set(piece.data, piece.offset - offset);
        covered += piece.data.length;
      } else if (chunk.type === ReplyType.OffsetHole) {
        const hole = decodeOffsetHole(chunk.payload);
        checkInside(hole.offset, hole.length, offset, length);
        covered += hole.length; // already zero
      } else if (chunk.type !== ReplyType.None) {
        throw protocolError(`unexpected chunk type ${chunk.type} in a READ reply`);
      }
    });
    if (covered !== length) throw protocolError(`READ reply covered ${covered} of ${length} bytes`);
    return data;
  }

  /** One BLOCK_STATUS request: the extents the server describes from `offset` (at least one). */
  async blockStatus(context: string, offset: number, length: number): Promise<Extent[]> {
    const id = this.contexts.get(context);
    if (id === undefined) throw new NbdError('refused', `meta context ${context} was not selected (selected: ${[...this.contexts.keys()].join(', ') || 'none'})`);
    let extents: Extent[] | undefined;
    await this.#request(Cmd.BlockStatus, offset, length, (chunk) => {
      if (chunk.type === ReplyType.BlockStatus) {
        const status = decodeBlockStatus(chunk.payload);
        if (status.contextId === id) extents = status.extents;
      } else if (chunk.type !== ReplyType.None) {
        throw protocolError(`unexpected chunk type ${chunk.type} in a BLOCK_STATUS reply`);
      }
    });
    if (extents === undefined) throw protocolError(`BLOCK_STATUS reply without extents for ${context}`);
    return extents;
  }

  /**
   * Every extent of `context` over [offset, offset + length) (default: the whole export), in order,
   * merged when neighbours have the same flags and clipped to the range.
   */
  async extents(context: string, offset = 0, length = this.size - offset): Promise<Array<{ offset: number; length: number; flags: number }>> {
    const end = offset + length;
    const merged: Array<{ offset: number; length: number; flags: number }> = [];
    let at = offset;
    while (at < end) {
      for (const extent of await this.blockStatus(context, at, Math.min(end - at, MAX_STATUS_SPAN))) {
        const span = Math.min(extent.length, end - at);
        const last = merged.at(-1);
        if (last && last.flags === extent.flags && last.offset + last.length === at) last.length += span;
        else merged.push({ offset: at, length: span, flags: extent.flags });
        at += span;
        if (at >= end) break;
      }
    }
    return merged;
  }

  /** Ends the session politely (NBD_CMD_DISC) and closes the socket. */
  async close(): Promise<void> {
    if (this.#socket.destroyed) return;
    if (this.#failure === undefined) {
      this.#socket.write(encodeRequest({ flags: 0, type: Cmd.Disc, cookie: this.#nextCookie++, offset: 0, length: 0 }));
    }
    await new Promise<void>((resolve) => {
      this.#socket.once('close', () => resolve());
      this.#socket.end();
      setTimeout(() => this.#socket.destroy(), 1000).unref();
    });
  }

  #attach(): void {
    this.#socket.on('data', (chunk: Buffer) => {
      this.#queue.push(chunk);
      this.#pump();
    });
    this.#socket.on('error', (error) => this.#fail(new NbdError('closed', `NBD socket error: ${error.message}`, { cause: error })));
    this.#socket.on('close', () => this.#fail(new NbdError('closed', 'the NBD server closed the connection')));
    this.#pump();
  }

  /** Sends one request and feeds its reply chunks to `onChunk` until the DONE flag. */
  async #request(type: number, offset: number, length: number, onChunk: (chunk: Extract<Reply, { kind: 'chunk' }>) => void): Promise<void> {
    if (this.#failure) throw this.#failure;
    if (this.#waiter) throw new Error('one NBD request at a time');
    const cookie = this.#nextCookie++;
    this.#socket.write(encodeRequest({ flags: 0, type, cookie, offset, length }));
    let serverError: string | undefined;
    for (;;) {
      const reply = await this.#next((queue) => parseReply(queue, MAX_CHUNK_BYTES));
      if (reply.cookie !== cookie) throw this.#fail(protocolError(`reply for cookie ${reply.cookie}, expected ${cookie}`));
      if (reply.kind === 'simple') {
        if (reply.error !== 0) serverError ??= `error ${reply.error}`;
        else if (type === Cmd.Read) throw this.#fail(protocolError('simple reply to READ after structured replies were negotiated'));
        break;
      }
      if ((reply.type & REPLY_TYPE_ERROR_BIT) !== 0) {
        const { error, message } = decodeErrorChunk(reply.type, reply.payload);
        serverError ??= `error ${error}${message ? `: ${message}` : ''}`;
      } else {
        try {
          onChunk(reply);
        } catch (error) {
          throw this.#fail(error instanceof NbdError ? error : protocolError(String(error)));
        }
      }
      if ((reply.flags & REPLY_FLAG_DONE) !== 0) break;
    }
    if (serverError !== undefined) throw new NbdError('server', `NBD ${type === Cmd.Read ? 'READ' : 'BLOCK_STATUS'} of ${length} bytes at ${offset}: ${serverError}`);
  }

  #next<T>(parse: (queue: ByteQueue) => T | undefined): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.#failure) return reject(this.#failure);
      const timer = setTimeout(() => this.#fail(new NbdError('closed', `no NBD reply within ${this.#timeoutMs} ms`)), this.#timeoutMs);
      const settle = (): void => {
        clearTimeout(timer);
        this.#waiter = undefined;
      };
      this.#waiter = {
        attempt: () => {
          const value = parse(this.#queue);
          if (value === undefined) return false;
          settle();
          resolve(value);
          return true;
        },
        fail: (error) => {
          settle();
          reject(error);
        },
      };
      this.#pump();
    });
  }

  #pump(): void {
    try {
      this.#waiter?.attempt();
    } catch (error) {
      this.#fail(error instanceof NbdError ? error : protocolError(String(error)));
    }
  }

  /** Fails the session for good: the socket is destroyed, the pending wait rejects. Returns the error. */
  #fail(error: NbdError): NbdError {
    this.#failure ??= error;
    this.#socket.destroy();
    this.#waiter?.fail(this.#failure);
    return this.#failure;
  }
}

function checkInside(offset: number, length: number, requestOffset: number, requestLength: number): void {
  if (offset < requestOffset || offset + length > requestOffset + requestLength) {
    throw protocolError(`reply chunk [${offset}, +${length}) is outside the request [${requestOffset}, +${requestLength})`);
  }
}

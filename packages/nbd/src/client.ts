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
import { connect as netConnect, type Socket } from 'node:net';
import { ByteQueue } from './byte-queue.js';
import {
  Cmd, FLAG_C_FIXED_NEWSTYLE, FLAG_C_NO_ZEROES, FLAG_NO_ZEROES, FLAG_READ_ONLY, Info, Opt, Rep,
  REP_ERROR_BIT, REP_ERROR_NAMES, REPLY_FLAG_DONE, REPLY_TYPE_ERROR_BIT, ReplyType,
} from './constants.js';
import { NbdError, protocolError } from './errors.js';
import {
  decodeErrorText, decodeInfo, decodeMetaContext, encodeClientFlags, encodeGoData, encodeMetaContextData,
  encodeOption, parseGreeting, parseOptionReply, type OptionReply,
} from './handshake.js';
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
const MAX_OPTION_REPLY_BYTES = 64 * 1024;
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

  private constructor(socket: Socket, queue: ByteQueue, timeoutMs: number, info: { size: number; flags: number; contexts: Map<string, number> }) {
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

/** The option haggling, on the raw socket before the client takes it over. */
class Handshake {
  readonly #socket: Socket;
  readonly #queue: ByteQueue;
  readonly #timeoutMs: number;
  #wake: (() => void) | undefined;
  #failure: Error | undefined;
  readonly #onData = (chunk: Buffer): void => {
    this.#queue.push(chunk);
    this.#wake?.();
  };
  readonly #onEnd = (): void => {
    this.#failure ??= new NbdError('closed', 'the NBD server closed the connection during the handshake');
    this.#wake?.();
  };

  constructor(socket: Socket, queue: ByteQueue, timeoutMs: number) {
    this.#socket = socket;
    this.#queue = queue;
    this.#timeoutMs = timeoutMs;
    socket.on('data', this.#onData);
    socket.on('close', this.#onEnd);
    socket.on('error', this.#onEnd);
  }

  detach(): void {
    this.#socket.off('data', this.#onData);
    this.#socket.off('close', this.#onEnd);
    this.#socket.off('error', this.#onEnd);
  }

  async run(exportName: string, metaContexts: readonly string[]): Promise<{ size: number; flags: number; contexts: Map<string, number> }> {
    const { handshakeFlags } = await this.#read((q) => parseGreeting(q));
    const noZeroes = (handshakeFlags & FLAG_NO_ZEROES) !== 0 ? FLAG_C_NO_ZEROES : 0;
    this.#socket.write(encodeClientFlags(FLAG_C_FIXED_NEWSTYLE | noZeroes));

    this.#socket.write(encodeOption(Opt.StructuredReply));
    await this.#expectAck(Opt.StructuredReply, 'structured replies');

    const contexts = new Map<string, number>();
    if (metaContexts.length > 0) {
      this.#socket.write(encodeOption(Opt.SetMetaContext, encodeMetaContextData(exportName, metaContexts)));
      for (;;) {
        const reply = await this.#reply(Opt.SetMetaContext, 'meta contexts');
        if (reply.type === Rep.Ack) break;
        if (reply.type !== Rep.MetaContext) throw protocolError(`unexpected reply ${reply.type} to SET_META_CONTEXT`);
        const { id, name } = decodeMetaContext(reply.data);
        contexts.set(name, id);
      }
      const missing = metaContexts.filter((name) => !contexts.has(name));
      if (missing.length > 0) throw new NbdError('refused', `export '${exportName}' has no meta context ${missing.join(', ')}`);
    }

    this.#socket.write(encodeOption(Opt.Go, encodeGoData(exportName, [Info.BlockSize])));
    let export_: { size: number; flags: number } | undefined;
    for (;;) {
      const reply = await this.#reply(Opt.Go, `export '${exportName}'`);
      if (reply.type === Rep.Ack) break;
      if (reply.type !== Rep.Info) throw protocolError(`unexpected reply ${reply.type} to GO`);
      const info = decodeInfo(reply.data);
      if (info.kind === 'export') export_ = { size: info.size, flags: info.transmissionFlags };
    }
    if (export_ === undefined) throw protocolError('GO succeeded without NBD_INFO_EXPORT');
    return { ...export_, contexts };
  }

  async #expectAck(option: number, what: string): Promise<void> {
    const reply = await this.#reply(option, what);
    if (reply.type !== Rep.Ack) throw protocolError(`unexpected reply ${reply.type} to option ${option}`);
  }

  /** The next reply to `option`; an error reply becomes an NbdError of kind `refused`. */
  async #reply(option: number, what: string): Promise<OptionReply> {
    const reply = await this.#read((q) => parseOptionReply(q, MAX_OPTION_REPLY_BYTES));
    if (reply.option !== option) throw protocolError(`reply to option ${reply.option} while waiting for option ${option}`);
    if ((reply.type & REP_ERROR_BIT) !== 0) {
      const name = REP_ERROR_NAMES[reply.type] ?? `error 0x${reply.type.toString(16)}`;
      const text = decodeErrorText(reply.data);
      throw new NbdError('refused', `the NBD server refused ${what}: ${name}${text ? ` (${text})` : ''}`);
    }
    return reply;
  }

  async #read<T>(parse: (queue: ByteQueue) => T | undefined): Promise<T> {
    const deadline = Date.now() + this.#timeoutMs;
    for (;;) {
      const value = parse(this.#queue);
      if (value !== undefined) return value;
      if (this.#failure) throw this.#failure;
      const left = deadline - Date.now();
      if (left <= 0) throw new NbdError('closed', `the NBD handshake took longer than ${this.#timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          this.#wake = undefined;
          resolve();
        };
      });
    }
  }
}

function checkInside(offset: number, length: number, requestOffset: number, requestLength: number): void {
  if (offset < requestOffset || offset + length > requestOffset + requestLength) {
    throw protocolError(`reply chunk [${offset}, +${length}) is outside the request [${requestOffset}, +${requestLength})`);
  }
}

function openSocket(path: string, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(path);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new NbdError('closed', `could not connect to the NBD socket ${path} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      resolve(socket);
    });
    const onError = (error: Error): void => {
      clearTimeout(timer);
      reject(new NbdError('closed', `could not connect to the NBD socket ${path}: ${error.message}`, { cause: error }));
    };
    socket.once('error', onError);
  });
}

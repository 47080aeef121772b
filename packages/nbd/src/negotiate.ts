/**
 * The client's side of the option haggling, run on the raw socket before NbdClient takes it over:
 *
 *     greeting -> client flags -> STRUCTURED_REPLY -> SET_META_CONTEXT (if any) -> GO -> transmission
 *
 * Every reply is parsed with the pure codec in handshake.ts; an error reply becomes an NbdError of kind
 * `refused` naming the NBD_REP_ERR_* the server sent.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { ByteQueue } from './byte-queue.js';
import { FLAG_C_FIXED_NEWSTYLE, FLAG_C_NO_ZEROES, FLAG_NO_ZEROES, Info, Opt, Rep, REP_ERROR_BIT, REP_ERROR_NAMES } from './constants.js';
import { NbdError, protocolError } from './errors.js';
import {
  decodeErrorText, decodeInfo, decodeMetaContext, encodeClientFlags, encodeGoData, encodeMetaContextData,
  encodeOption, parseGreeting, parseOptionReply, type OptionReply,
} from './handshake.js';

/** Option replies this client accepts (names, infos, contexts): far above what servers send. */
const MAX_OPTION_REPLY_BYTES = 64 * 1024;

export interface Negotiated {
  readonly size: number;
  readonly flags: number;
  readonly contexts: Map<string, number>;
}

/** The option haggling on one socket; `detach` hands the socket (and any bytes already queued) on. */
export class Handshake {
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

  async run(exportName: string, metaContexts: readonly string[]): Promise<Negotiated> {
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

export function openSocket(path: string, timeoutMs: number): Promise<Socket> {
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

import { MessageType, messageTypeName, STATE_CHUNK_HEADER_BYTES } from './constants.js';
import { malformed } from './errors.js';
import type { Fields } from './fields.js';
import { decodeAck, decodePassBegin, decodePassEnd, decodePaused, encodeAck, encodePassBegin, encodePassEnd, encodePaused } from './passes.js';
import type { Ack, PassBegin, PassEnd, Paused } from './passes.js';
import { decodeHello, decodeWelcome, encodeHello, encodeWelcome, type Hello, type Welcome } from './handshake.js';
import { decodeState, decodeStateEnd, encodeState, encodeStateEnd, type State, type StateChunk, type StateEnd } from './state.js';
import { decodeVerify, decodeVerifyResult, encodeVerify, encodeVerifyResult, type Verify, type VerifyResult } from './verify.js';
import {
  decodeAbort, decodeCommitReady, decodeError, decodeGo, decodeResumed, encodeAbort, encodeCommitReady, encodeEmpty, encodeError, encodeResumed,
  type Abort, type CommitReady, type ErrorMessage, type Go, type Resumed,
} from './commit.js';
import { decodePagesHeader, type PagesHeader } from './pages.js';
import { unpackPages } from './packed.js';
import { DEFAULT_LIMITS } from './limits.js';
import { packBody, unpackBody } from './msgpack.js';
import { decodePageTable, encodePageTable, type PageTable } from './table.js';

/** A PAGES message as first decoded: header checked, records still raw (see decodePageRecords). */
export interface PagesMessage extends PagesHeader {
  readonly type: typeof MessageType.Pages;
  readonly bytes: Uint8Array;
}

export type ControlMessage =
  | Hello | Welcome | PassBegin | PassEnd | Ack | Paused | State | StateEnd
  | Verify | VerifyResult | CommitReady | Go | Resumed | Abort | ErrorMessage | PageTable;

export type Message = ControlMessage | PagesMessage | StateChunk;

type ControlType = ControlMessage['type'];
type Encoders = { [T in ControlType]: (msg: Extract<ControlMessage, { type: T }>) => Fields };
type Decoders = { [T in ControlType]: (body: unknown) => Extract<ControlMessage, { type: T }> };

const encoders: Encoders = {
  [MessageType.Hello]: encodeHello,
  [MessageType.Welcome]: encodeWelcome,
  [MessageType.PassBegin]: encodePassBegin,
  [MessageType.PassEnd]: encodePassEnd,
  [MessageType.Ack]: encodeAck,
  [MessageType.Paused]: encodePaused,
  [MessageType.State]: encodeState,
  [MessageType.StateEnd]: encodeStateEnd,
  [MessageType.Verify]: encodeVerify,
  [MessageType.VerifyResult]: encodeVerifyResult,
  [MessageType.CommitReady]: encodeCommitReady,
  [MessageType.Go]: encodeEmpty,
  [MessageType.Resumed]: encodeResumed,
  [MessageType.Abort]: encodeAbort,
  [MessageType.Error]: encodeError,
  [MessageType.PageTable]: encodePageTable,
};

const decoders: Decoders = {
  [MessageType.Hello]: decodeHello,
  [MessageType.Welcome]: decodeWelcome,
  [MessageType.PassBegin]: decodePassBegin,
  [MessageType.PassEnd]: decodePassEnd,
  [MessageType.Ack]: decodeAck,
  [MessageType.Paused]: decodePaused,
  [MessageType.State]: decodeState,
  [MessageType.StateEnd]: decodeStateEnd,
  [MessageType.Verify]: decodeVerify,
  [MessageType.VerifyResult]: decodeVerifyResult,
  [MessageType.CommitReady]: decodeCommitReady,
  [MessageType.Go]: decodeGo,
  [MessageType.Resumed]: decodeResumed,
  [MessageType.Abort]: decodeAbort,
  [MessageType.Error]: decodeError,
  [MessageType.PageTable]: decodePageTable,
};

/** Encodes a control message: u8 type | msgpack body. */
export function encodeControl<M extends ControlMessage>(msg: M): Buffer {
  const encode = encoders[msg.type] as (m: M) => Fields;
  return packBody(msg.type, encode(msg));
}

/** STATE_CHUNK: u8 type | blob bytes. */
export function encodeStateChunk(data: Uint8Array): Buffer {
  const message = Buffer.allocUnsafe(STATE_CHUNK_HEADER_BYTES + data.length);
  message[0] = MessageType.StateChunk;
  message.set(data, STATE_CHUNK_HEADER_BYTES);
  return message;
}

/**
 * Decodes any message; throws FerryError(FERRY_ERR_MALFORMED) on anything it cannot fully validate. A
 * PAGES_PACKED message comes out as the PAGES message it holds, at most `maxUnpackedBytes` long.
 */
export function decodeMessage(message: Uint8Array, maxUnpackedBytes = DEFAULT_LIMITS.maxMessageBytes): Message {
  if (message.length === 0) throw malformed('empty message');
  const type = message[0] as number;
  if (type === MessageType.Pages) return { type: MessageType.Pages, ...decodePagesHeader(message), bytes: message };
  if (type === MessageType.PagesPacked) {
    const pages = unpackPages(message, maxUnpackedBytes);
    return { type: MessageType.Pages, ...decodePagesHeader(pages), bytes: pages };
  }
  if (type === MessageType.StateChunk) {
    return { type: MessageType.StateChunk, data: message.subarray(STATE_CHUNK_HEADER_BYTES) };
  }
  const decode = (decoders as Record<number, ((body: unknown) => ControlMessage) | undefined>)[type];
  if (decode === undefined) throw malformed(`unknown message type ${type}`);
  return decode(unpackBody(message, messageTypeName(type)));
}

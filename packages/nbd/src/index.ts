export { NbdClient, MAX_READ_BYTES, type NbdConnectOptions } from './client.js';
export { NbdError, type NbdErrorKind } from './errors.js';
export { ByteQueue } from './byte-queue.js';
export {
  decodeInfo, decodeMetaContext, encodeClientFlags, encodeGoData, encodeMetaContextData, encodeOption,
  parseGreeting, parseOptionReply, type InfoReply, type OptionReply,
} from './handshake.js';
export {
  decodeBlockStatus, decodeErrorChunk, decodeOffsetData, decodeOffsetHole, encodeRequest, parseReply,
  type Extent, type Reply, type Request,
} from './transmission.js';
export * as nbd from './constants.js';

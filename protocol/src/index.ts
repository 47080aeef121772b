export {
  PROTOCOL_VERSION,
  MIN_PROTOCOL_VERSION,
  MessageType,
  messageTypeName,
  PageEncoding,
  PackCodec,
  PACKED_HEADER_BYTES,
  PAGES_HEADER_BYTES,
  RECORD_HEADER_BYTES,
  STATE_CHUNK_HEADER_BYTES,
  PAGES_BATCH_BYTES,
} from './constants.js';
export { ErrorCode, FerryError, isErrorCode, malformed, toFerryError } from './errors.js';
export {
  DEFAULT_LIMITS,
  MIN_PAGE_SIZE,
  MAX_PAGE_SIZE,
  checkImageGeometry,
  isValidPageSize,
  type Limits,
} from './limits.js';
export { checkBlobName, checkDistinctVariables, checkImageName, checkName, isValidName, QEMU_LAUNCH_FILES, variableOf } from './names.js';
export { digestToHex, hexToDigest } from './fields.js';
export type { Hello, Welcome, ImageInfo } from './handshake.js';
export { MIN_ACK_EVERY_BYTES, MAX_ACK_EVERY_BYTES } from './handshake.js';
export type { PassBegin, PassEnd, Ack, Paused } from './passes.js';
export type { State, StateChunk, StateEnd } from './state.js';
export type { Verify, VerifyResult } from './verify.js';
export type { CommitReady, Go, Resumed, Abort, ErrorMessage } from './commit.js';
export {
  decodePageRecords,
  decodePagesHeader,
  encodePages,
  encodePagesHeader,
  maxCompressedPayload,
  writeCopyRecord,
  writePagesHeader,
  writeRecord,
  type CopyRecord,
  type DataRecord,
  type PageGeometry,
  type PageRecord,
  type PagesHeader,
  type RecordToWrite,
} from './pages.js';
export {
  decodeMessage,
  encodeControl,
  encodeStateChunk,
  type ControlMessage,
  type Message,
  type PagesMessage,
} from './codec.js';
export { checkVersion } from './version.js';
export { packPages, unpackPages } from './packed.js';
export { PAGE_TABLE_CHUNK_PAGES, type PageTable } from './table.js';
export { chunkRanges, clipRanges, countPages, mergeRanges, RangeCollector, type PageRange } from './ranges.js';

/**
 * Wire constants. Every enum starts with Invalid = 0 so that a zeroed byte is never a valid value,
 * and numbers are never reused: a retired value stays here, commented, until the next major version.
 */

/**
 * The version this build speaks, and the oldest it accepts from a peer (checkVersion). They are equal, so
 * a peer must speak exactly PROTOCOL_VERSION. v2 (from v1): ACK's `bytesApplied` is `bytesReceived` (it
 * always counted bytes received), and WELCOME must carry `sessionSecret`, which a resuming HELLO presents.
 * v3: PAGES_PACKED, a whole PAGES message compressed for a slow link.
 */
export const PROTOCOL_VERSION = 3;
export const MIN_PROTOCOL_VERSION = 3;

export const MessageType = {
  Invalid: 0,
  Hello: 1,
  Welcome: 2,
  PassBegin: 3,
  PassEnd: 4,
  Pages: 5,
  Ack: 6,
  Paused: 7,
  State: 8,
  StateChunk: 9,
  StateEnd: 10,
  Verify: 11,
  VerifyResult: 12,
  CommitReady: 13,
  Go: 14,
  Resumed: 15,
  Abort: 16,
  Error: 17,
  /** Target -> source after WELCOME{resumed:true}: page hashes of what the target already holds. */
  PageTable: 18,
  /** A whole PAGES message (header and records) compressed as one: see packed.ts. */
  PagesPacked: 19,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

export const messageTypeName = (type: number): string =>
  (Object.keys(MessageType) as Array<keyof typeof MessageType>).find((k) => MessageType[k] === type) ??
  `unknown(${type})`;

/** How one page travels inside a PAGES message. */
export const PageEncoding = {
  Invalid: 0,
  /** The page is all zero bytes; no payload. */
  Zero: 1,
  /** The page bytes as they are. */
  Raw: 2,
  /** The page compressed with LZ4 (block format, u32 LE uncompressed size first). */
  Lz4: 3,
  /** LZ4 of (new page XOR the copy the target already holds). */
  XorLz4: 4,
  /** Payload is the u32 LE index of a page in the same image that holds identical bytes. */
  Copy: 5,
} as const;
export type PageEncoding = (typeof PageEncoding)[keyof typeof PageEncoding];

/** PAGES header: u8 type | u16 imageIndex | u32 pass | u32 count. Little endian throughout. */
export const PAGES_HEADER_BYTES = 11;
/** Record header: u32 pageIndex | u8 encoding | u32 length. */
export const RECORD_HEADER_BYTES = 9;
/** How a PAGES_PACKED message is compressed. */
export const PackCodec = {
  Invalid: 0,
  /** Brotli (RFC 7932), the whole PAGES message as one stream. */
  Brotli: 1,
} as const;
export type PackCodec = (typeof PackCodec)[keyof typeof PackCodec];

/** PAGES_PACKED header: u8 type | u8 codec | u32 length of the PAGES message it unpacks to. */
export const PACKED_HEADER_BYTES = 6;
/** STATE_CHUNK header: u8 type; the rest of the message is blob bytes. */
export const STATE_CHUNK_HEADER_BYTES = 1;
/**
 * The source's buffer for one PAGES message: it sends the batch when the next page record might not fit,
 * so a PAGES message is at most this long (or one header and one record, for pages larger than this).
 */
export const PAGES_BATCH_BYTES = 1 << 20;

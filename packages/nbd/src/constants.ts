/**
 * Numbers of the NBD protocol (NetworkBlockDevice/nbd, doc/proto.md), only those this client speaks.
 * Every value here is copied from that document, with the section it comes from.
 */

/** Handshake: "NBDMAGIC", then "IHAVEOPT" for the newstyle negotiation (also the option request magic). */
export const NBD_MAGIC = 0x4e42444d41474943n;
export const IHAVEOPT = 0x49484156454f5054n;
/** Option reply magic (fixed newstyle). */
export const OPTION_REPLY_MAGIC = 0x3e889045565a9n;

/** Handshake flags (server) and client flags. */
export const FLAG_FIXED_NEWSTYLE = 1 << 0;
export const FLAG_NO_ZEROES = 1 << 1;
export const FLAG_C_FIXED_NEWSTYLE = 1 << 0;
export const FLAG_C_NO_ZEROES = 1 << 1;

/** Option types. */
export const Opt = {
  Abort: 2,
  Go: 7,
  StructuredReply: 8,
  SetMetaContext: 10,
} as const;

/** Option reply types; errors have bit 31 set. */
export const Rep = {
  Ack: 1,
  Info: 3,
  MetaContext: 4,
} as const;
export const REP_ERROR_BIT = 0x80000000;
export const REP_ERROR_NAMES: Readonly<Record<number, string>> = {
  [0x80000001]: 'NBD_REP_ERR_UNSUP',
  [0x80000002]: 'NBD_REP_ERR_POLICY',
  [0x80000003]: 'NBD_REP_ERR_INVALID',
  [0x80000004]: 'NBD_REP_ERR_PLATFORM',
  [0x80000005]: 'NBD_REP_ERR_TLS_REQD',
  [0x80000006]: 'NBD_REP_ERR_UNKNOWN',
  [0x80000007]: 'NBD_REP_ERR_SHUTDOWN',
  [0x80000008]: 'NBD_REP_ERR_BLOCK_SIZE_REQD',
  [0x80000009]: 'NBD_REP_ERR_TOO_BIG',
};

/** NBD_REP_INFO information types. */
export const Info = {
  Export: 0,
  BlockSize: 3,
} as const;

/** Transmission flags. */
export const FLAG_HAS_FLAGS = 1 << 0;
export const FLAG_READ_ONLY = 1 << 1;

/** Transmission: request, simple reply and structured reply chunk magics. */
export const REQUEST_MAGIC = 0x25609513;
export const SIMPLE_REPLY_MAGIC = 0x67446698;
export const STRUCTURED_REPLY_MAGIC = 0x668e33ef;

export const Cmd = {
  Read: 0,
  Disc: 2,
  BlockStatus: 7,
} as const;

/** Reply flag: the last chunk of a structured reply. */
export const REPLY_FLAG_DONE = 1 << 0;

/** Structured reply chunk types; error chunks have bit 15 set. */
export const ReplyType = {
  None: 0,
  OffsetData: 1,
  OffsetHole: 2,
  BlockStatus: 5,
  Error: (1 << 15) + 1,
  ErrorOffset: (1 << 15) + 2,
} as const;
export const REPLY_TYPE_ERROR_BIT = 1 << 15;

/** Header sizes in bytes. */
export const OPTION_REPLY_HEADER_BYTES = 20;
export const REQUEST_BYTES = 28;
export const SIMPLE_REPLY_HEADER_BYTES = 16;
export const STRUCTURED_REPLY_HEADER_BYTES = 20;

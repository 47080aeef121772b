/**
 * One error type for ferry, with stable codes. The ERROR message on the wire carries `code` and `message`,
 * so the peer can tell its user why a migration failed instead of "connection closed".
 */
export const ErrorCode = {
  /** A message could not be decoded: unknown type, bad length, field out of range. */
  Malformed: 'FERRY_ERR_MALFORMED',
  /** The peer speaks a protocol version we do not accept. */
  Version: 'FERRY_ERR_VERSION',
  /** A message that is valid on its own arrived in a phase where it makes no sense. */
  UnexpectedMessage: 'FERRY_ERR_UNEXPECTED_MESSAGE',
  /** An image, blob, message or migration count over a configured limit. */
  Limit: 'FERRY_ERR_LIMIT',
  /** Authentication failed or the peer is not allowed. */
  Auth: 'FERRY_ERR_AUTH',
  /** A page payload did not decode to exactly one page. */
  BadPayload: 'FERRY_ERR_BAD_PAYLOAD',
  /** End-to-end verification failed after all retries. */
  Verify: 'FERRY_ERR_VERIFY',
  /** A migration with that id exists already, or is busy. */
  Conflict: 'FERRY_ERR_CONFLICT',
  /** Reading or writing a file failed. */
  Io: 'FERRY_ERR_IO',
  /** A hook command (pause, resume, state, on-commit) failed. */
  Hook: 'FERRY_ERR_HOOK',
  /** The peer did not answer in time. */
  Timeout: 'FERRY_ERR_TIMEOUT',
  /** The migration was cancelled (Ctrl-C, --on-timeout cancel, ABORT from the peer). */
  Aborted: 'FERRY_ERR_ABORTED',
  /** The connection to the peer was lost. */
  Disconnected: 'FERRY_ERR_DISCONNECTED',
  /** A file ferry would act on (a journal, its state directory, a temporary folder) is not this user's alone. */
  Untrusted: 'FERRY_ERR_UNTRUSTED',
  /** A bug: something that should not happen did. */
  Internal: 'FERRY_ERR_INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const KNOWN_CODES = new Set<string>(Object.values(ErrorCode));
export const isErrorCode = (value: unknown): value is ErrorCode =>
  typeof value === 'string' && KNOWN_CODES.has(value);

export class FerryError extends Error {
  override readonly name = 'FerryError';
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export const malformed = (message: string): FerryError => new FerryError(ErrorCode.Malformed, message);

/** Wraps anything thrown into a FerryError, keeping the original as the cause. */
export function toFerryError(error: unknown, fallback: ErrorCode = ErrorCode.Internal): FerryError {
  if (error instanceof FerryError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new FerryError(fallback, message, { cause: error });
}

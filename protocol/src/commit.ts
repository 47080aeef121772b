import { MessageType } from './constants.js';
import { ErrorCode, isErrorCode } from './errors.js';
import { asFields, str, uint, type Fields } from './fields.js';

/**
 * Target -> source: every image verified and fsynced; the target can commit when told GO. `durableUs`
 * (optional, absent from older targets): microseconds it took to make everything durable, for the
 * source's pause timeline.
 */
export interface CommitReady {
  readonly type: typeof MessageType.CommitReady;
  readonly durableUs?: number;
}

/** Source -> target: the point of no return. After GO the source never resumes its workload itself. */
export interface Go {
  readonly type: typeof MessageType.Go;
}

/**
 * Target -> source: files committed and the resume hook succeeded: the workload runs on the target.
 * `commitUs` and `resumeUs` (optional, absent from older targets): microseconds the commit (manifest and
 * renames) and the resume (prelaunched process, --on-commit) took, for the source's pause timeline.
 */
export interface Resumed {
  readonly type: typeof MessageType.Resumed;
  readonly commitUs?: number;
  readonly resumeUs?: number;
}

/** Either way: the sender gives the migration up (before GO); the receiver drops it. */
export interface Abort {
  readonly type: typeof MessageType.Abort;
  readonly reason: string;
}

/** Either way: the sender failed; `code` is a stable FERRY_ERR_* code, `message` says why for a human. */
export interface ErrorMessage {
  readonly type: typeof MessageType.Error;
  readonly code: ErrorCode;
  readonly message: string;
}

export const encodeEmpty = (): Fields => ({});
export const decodeGo = (body: unknown): Go => (asFields(body, 'GO'), { type: MessageType.Go });

/** A duration field a peer may leave out (older versions send none); present, it must be a sane integer. */
function optionalUs(fields: Fields, key: string, what: string): Record<string, number> {
  return fields[key] === undefined ? {} : { [key]: uint(fields, key, what, MAX_REPORTED_US) };
}

/** An hour: a longer figure is not a duration this message could have measured. */
const MAX_REPORTED_US = 3_600_000_000;

export const encodeCommitReady = (msg: CommitReady): Fields => (msg.durableUs === undefined ? {} : { durableUs: msg.durableUs });
export function decodeCommitReady(body: unknown): CommitReady {
  const f = asFields(body, 'COMMIT_READY');
  return { type: MessageType.CommitReady, ...optionalUs(f, 'durableUs', 'COMMIT_READY') };
}

export const encodeResumed = (msg: Resumed): Fields => ({
  ...(msg.commitUs === undefined ? {} : { commitUs: msg.commitUs }),
  ...(msg.resumeUs === undefined ? {} : { resumeUs: msg.resumeUs }),
});
export function decodeResumed(body: unknown): Resumed {
  const f = asFields(body, 'RESUMED');
  return { type: MessageType.Resumed, ...optionalUs(f, 'commitUs', 'RESUMED'), ...optionalUs(f, 'resumeUs', 'RESUMED') };
}

export const encodeAbort = (msg: Abort): Fields => ({ reason: msg.reason });
export const decodeAbort = (body: unknown): Abort => ({
  type: MessageType.Abort,
  reason: str(asFields(body, 'ABORT'), 'reason', 'ABORT'),
});

export const encodeError = (msg: ErrorMessage): Fields => ({ code: msg.code, message: msg.message });
export function decodeError(body: unknown): ErrorMessage {
  const f = asFields(body, 'ERROR');
  const code = str(f, 'code', 'ERROR', 64);
  // An unknown code from a newer peer is still an error worth showing; keep its text, file it as Internal.
  return {
    type: MessageType.Error,
    code: isErrorCode(code) ? code : ErrorCode.Internal,
    message: str(f, 'message', 'ERROR'),
  };
}

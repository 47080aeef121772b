import { MessageType } from './constants.js';
import { ErrorCode, isErrorCode } from './errors.js';
import { asFields, str, type Fields } from './fields.js';

/** Target -> source: every image verified and fsynced; the target can commit when told GO. */
export interface CommitReady {
  readonly type: typeof MessageType.CommitReady;
}

/** Source -> target: the point of no return. After GO the source never resumes its workload itself. */
export interface Go {
  readonly type: typeof MessageType.Go;
}

/** Target -> source: files committed and the resume hook succeeded: the workload runs on the target. */
export interface Resumed {
  readonly type: typeof MessageType.Resumed;
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
export const decodeCommitReady = (body: unknown): CommitReady => (asFields(body, 'COMMIT_READY'), { type: MessageType.CommitReady });
export const decodeGo = (body: unknown): Go => (asFields(body, 'GO'), { type: MessageType.Go });
export const decodeResumed = (body: unknown): Resumed => (asFields(body, 'RESUMED'), { type: MessageType.Resumed });

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

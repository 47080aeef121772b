/** Why a QMP call failed: QEMU answered an error, the socket is gone, nothing came in time, or garbage came. */
export type QmpErrorKind = 'qemu' | 'closed' | 'timeout' | 'protocol';

export class QmpError extends Error {
  override readonly name = 'QmpError';
  readonly kind: QmpErrorKind;
  /** QEMU's error class (`GenericError`, `CommandNotFound`, ...) when kind is `qemu`. */
  readonly errorClass: string | undefined;
  /** QEMU's own text when kind is `qemu`, else our description. */
  readonly desc: string;
  readonly command: string | undefined;

  constructor(kind: QmpErrorKind, desc: string, details: { errorClass?: string; command?: string; cause?: unknown } = {}) {
    const where = details.command === undefined ? 'qmp' : `qmp ${details.command}`;
    const cls = details.errorClass === undefined ? '' : ` (${details.errorClass})`;
    super(`${where}: ${desc}${cls}`, details.cause === undefined ? undefined : { cause: details.cause });
    this.kind = kind;
    this.errorClass = details.errorClass;
    this.desc = desc;
    this.command = details.command;
  }
}

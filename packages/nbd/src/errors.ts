/** Why an NBD operation failed: the server said no, it broke the protocol, or the socket went away. */
export type NbdErrorKind = 'refused' | 'protocol' | 'closed' | 'server';

export class NbdError extends Error {
  override readonly name = 'NbdError';
  readonly kind: NbdErrorKind;

  constructor(kind: NbdErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.kind = kind;
  }
}

export const protocolError = (message: string): NbdError => new NbdError('protocol', message);

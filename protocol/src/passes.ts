import { MessageType } from './constants.js';
import { asFields, uint, type Fields } from './fields.js';

/** Source -> target: pass n starts; informational, lets the target report progress per pass. */
export interface PassBegin {
  readonly type: typeof MessageType.PassBegin;
  readonly pass: number;
}

/** Source -> target: pass n sent `pages` records in `bytes` bytes. The target answers with an ACK. */
export interface PassEnd {
  readonly type: typeof MessageType.PassEnd;
  readonly pass: number;
  readonly pages: number;
  readonly bytes: number;
}

/** Target -> source: progress so far (every 32 PAGES messages, and after every PASS_END). */
export interface Ack {
  readonly type: typeof MessageType.Ack;
  readonly pass: number;
  /** Every message byte the target has received on this session, control included. */
  readonly bytesReceived: number;
  /** Page records written to the images. */
  readonly pagesApplied: number;
}

/** Source -> target: the workload is paused; what follows is the final pass. */
export interface Paused {
  readonly type: typeof MessageType.Paused;
}

const U32 = 0xffff_ffff;

export const encodePassBegin = (msg: PassBegin): Fields => ({ pass: msg.pass });
export const decodePassBegin = (body: unknown): PassBegin => ({
  type: MessageType.PassBegin,
  pass: uint(asFields(body, 'PASS_BEGIN'), 'pass', 'PASS_BEGIN', U32),
});

export const encodePassEnd = (msg: PassEnd): Fields => ({ pass: msg.pass, pages: msg.pages, bytes: msg.bytes });
export function decodePassEnd(body: unknown): PassEnd {
  const f = asFields(body, 'PASS_END');
  return {
    type: MessageType.PassEnd,
    pass: uint(f, 'pass', 'PASS_END', U32),
    pages: uint(f, 'pages', 'PASS_END'),
    bytes: uint(f, 'bytes', 'PASS_END'),
  };
}

export const encodeAck = (msg: Ack): Fields => ({
  pass: msg.pass,
  bytesReceived: msg.bytesReceived,
  pagesApplied: msg.pagesApplied,
});
export function decodeAck(body: unknown): Ack {
  const f = asFields(body, 'ACK');
  return {
    type: MessageType.Ack,
    pass: uint(f, 'pass', 'ACK', U32),
    bytesReceived: uint(f, 'bytesReceived', 'ACK'),
    pagesApplied: uint(f, 'pagesApplied', 'ACK'),
  };
}

export const encodePaused = (): Fields => ({});
export const decodePaused = (body: unknown): Paused => {
  asFields(body, 'PAUSED');
  return { type: MessageType.Paused };
};

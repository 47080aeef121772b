/**
 * RFC 6455 frames as a server reads them from a client, with no socket: an incremental parser that does
 * not care where chunks split (what the server writes is in ws-writer.ts).
 *
 *   frame = FIN RSV1-3 opcode(4) | MASK len(7) | [len16 | len64] | mask(4) | payload
 *
 * What a server must refuse is refused as the header arrives, before its payload is read: an unmasked
 * frame, a reserved bit (no extension is ever agreed), an unknown opcode, a text frame (ferry's session
 * is binary), a control frame that is fragmented or over 125 bytes, a continuation outside a fragmented
 * message or a new message inside one, and a length that would take the message over the limit (so a
 * 64-bit length is judged before any of it is read). Each refusal carries the close code to answer with.
 *
 * Messages land in buffers the reader keeps and reuses: a message is valid only until the next call to
 * `next()`. One that arrives whole in one chunk is unmasked in place and handed out as a view of it;
 * one split across chunks or frames is copied into one assembly buffer that grows to the largest message
 * seen (at most the limit) and is then reused, so a stream of 1 MiB messages allocates nothing per message.
 */

/** The close codes a server uses (RFC 6455, section 7.4.1). */
export const CloseCode = {
  Normal: 1000,
  ProtocolError: 1002,
  UnsupportedData: 1003,
  /** A close frame that carried no code (never sent). */
  NoStatus: 1005,
  /** The connection ended without a close frame (never sent). */
  Abnormal: 1006,
  InvalidData: 1007,
  PolicyViolation: 1008,
  TooBig: 1009,
} as const;

const Opcode = { Continuation: 0x0, Text: 0x1, Binary: 0x2, Close: 0x8, Ping: 0x9, Pong: 0xa } as const;
const MAX_CONTROL_PAYLOAD = 125;
/** The assembly buffer's first size; it doubles up to the limit as larger messages arrive. */
const FIRST_ASSEMBLY_BYTES = 64 * 1024;

export type FrameEvent =
  /** A whole binary message; `data` is valid only until the next call to `next()`. */
  | { readonly kind: 'message'; readonly data: Uint8Array }
  /** `data` (at most 125 bytes) is valid only until the next call to `next()`; answer with a pong carrying it. */
  | { readonly kind: 'ping'; readonly data: Uint8Array }
  | { readonly kind: 'pong' }
  /** The client's close frame: `code` is NoStatus when it carried none. Nothing is read after it. */
  | { readonly kind: 'close'; readonly code: number; readonly reason: string }
  /** The client broke the protocol: close with `code`. Nothing is read after it. */
  | { readonly kind: 'refused'; readonly code: number; readonly reason: string };

const refused = (code: number, reason: string): FrameEvent => ({ kind: 'refused', code, reason });

/** The close codes a peer may send (RFC 6455, section 7.4). */
export const isValidCloseCode = (code: number): boolean =>
  (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);

/**
 * XORs `data` with the 4-byte `mask`, starting at mask byte 0. Whole aligned words are done four bytes at
 * a time; an all-zero mask (what ferry's source sends) costs nothing.
 */
export function unmask(data: Uint8Array, mask: Uint8Array): void {
  if ((mask[0]! | mask[1]! | mask[2]! | mask[3]!) === 0) return;
  let i = 0;
  const head = Math.min(data.length, (4 - (data.byteOffset % 4)) % 4);
  for (; i < head; i++) data[i]! ^= mask[i % 4]!;
  const words = (data.length - i) >>> 2;
  if (words > 0) {
    const rotated = new Uint8Array(4);
    for (let k = 0; k < 4; k++) rotated[k] = mask[(i + k) % 4]!;
    const key = new Uint32Array(rotated.buffer)[0]!;
    const view = new Uint32Array(data.buffer, data.byteOffset + i, words);
    for (let w = 0; w < words; w++) view[w]! ^= key;
    i += words * 4;
  }
  for (; i < data.length; i++) data[i]! ^= mask[i % 4]!;
}

/** One client's frames, fed chunk by chunk; `next()` hands out one event at a time, so the caller can stop between messages. */
export class FrameReader {
  readonly #maxMessageBytes: number;
  readonly #header = new Uint8Array(14);
  #headerFilled = 0;
  /** 0: the first two bytes, 1: the extended length, 2: the mask. */
  #headerStep: 0 | 1 | 2 = 0;
  /** Where the mask starts in the header (after the extended length). */
  #maskAt = 2;
  readonly #mask = new Uint8Array(4);
  readonly #control = new Uint8Array(MAX_CONTROL_PAYLOAD);
  #assembly = new Uint8Array(0);
  /** Bytes of the current message already in the assembly buffer (earlier frames of a fragmented one). */
  #assembled = 0;
  /** A binary message whose last frame has not come yet. */
  #fragmented = false;
  #inPayload = false;
  #fin = false;
  #opcode = 0;
  #length = 0;
  #payloadRead = 0;
  #chunk: Uint8Array = new Uint8Array(0);
  #at = 0;
  /** Set after a close frame or a refusal: nothing more is read. */
  #done = false;

  /** `maxMessageBytes`: a message longer than this, however it is fragmented, is refused with TooBig. */
  constructor(maxMessageBytes: number) {
    this.#maxMessageBytes = maxMessageBytes;
  }

  /** Bytes of the last chunk not read yet. */
  get unread(): number {
    return this.#chunk.length - this.#at;
  }

  /** True while a frame has begun and not ended: the connection was cut in the middle of one. */
  get midFrame(): boolean {
    return this.#headerFilled > 0 || this.#inPayload || this.#fragmented;
  }

  /** The next chunk from the socket; only once the previous one was read to its end (`unread` is 0) or reading ended. */
  feed(chunk: Uint8Array): void {
    if (this.#done) return; // after a close or a refusal, what follows is dropped unread
    if (this.unread > 0) throw new Error('FrameReader.feed: the previous chunk has not been read to its end');
    this.#chunk = chunk;
    this.#at = 0;
  }

  /** The next event from what was fed, or undefined when more bytes are needed (or after a close or a refusal). */
  next(): FrameEvent | undefined {
    while (!this.#done) {
      if (!this.#inPayload) {
        const header = this.#readHeader();
        if (header !== undefined) return this.#end(header);
        if (!this.#inPayload) return undefined;
      }
      const event = this.#readPayload();
      if (event !== undefined) return event.kind === 'close' || event.kind === 'refused' ? this.#end(event) : event;
      if (this.#inPayload) return undefined;
    }
    return undefined;
  }

  #end(event: FrameEvent): FrameEvent {
    this.#done = true;
    return event;
  }

  /**
   * Collects the header in three steps, each judged as soon as its bytes are in: the first two bytes, the
   * length (so an oversized one is refused before its mask or payload is read), the mask.
   */
  #readHeader(): FrameEvent | undefined {
    const chunk = this.#chunk;
    const header = this.#header;
    for (;;) {
      const needed = this.#headerStep === 0 ? 2 : this.#headerStep === 1 ? 2 + extendedLengthBytes(header[1]!) : this.#maskAt + 4;
      while (this.#headerFilled < needed && this.#at < chunk.length) header[this.#headerFilled++] = chunk[this.#at++]!;
      if (this.#headerFilled < needed) return undefined;
      if (this.#headerStep === 0) {
        const problem = this.#checkFirstBytes(header[0]!, header[1]!);
        if (problem) return problem;
        this.#headerStep = 1;
      } else if (this.#headerStep === 1) {
        const problem = this.#judgeLength(needed);
        if (problem) return problem;
        this.#headerStep = 2;
      } else {
        this.#startPayload();
        return undefined;
      }
    }
  }

  #checkFirstBytes(b0: number, b1: number): FrameEvent | undefined {
    const opcode = b0 & 0x0f;
    const length7 = b1 & 0x7f;
    if ((b0 & 0x70) !== 0) return refused(CloseCode.ProtocolError, 'a WebSocket frame has a reserved bit set (no extension was agreed)');
    if ((b1 & 0x80) === 0) return refused(CloseCode.ProtocolError, 'an unmasked WebSocket frame (a client must mask every frame)');
    if (opcode >= Opcode.Close) {
      if (opcode > Opcode.Pong) return refused(CloseCode.ProtocolError, `unknown WebSocket opcode ${opcode}`);
      if ((b0 & 0x80) === 0) return refused(CloseCode.ProtocolError, 'a fragmented WebSocket control frame');
      if (length7 > MAX_CONTROL_PAYLOAD) return refused(CloseCode.ProtocolError, 'a WebSocket control frame over 125 bytes');
      return undefined;
    }
    if (opcode === Opcode.Text) return refused(CloseCode.UnsupportedData, 'text frames are not part of the protocol');
    if (opcode > Opcode.Binary) return refused(CloseCode.ProtocolError, `unknown WebSocket opcode ${opcode}`);
    if (opcode === Opcode.Continuation && !this.#fragmented) return refused(CloseCode.ProtocolError, 'a WebSocket continuation frame outside a fragmented message');
    if (opcode === Opcode.Binary && this.#fragmented) return refused(CloseCode.ProtocolError, 'a new WebSocket message inside a fragmented one');
    return undefined;
  }

  /** The length is in (`maskAt` bytes of header so far): a message it would take over the limit is refused here. */
  #judgeLength(maskAt: number): FrameEvent | undefined {
    const header = this.#header;
    const length7 = header[1]! & 0x7f;
    const view = new DataView(header.buffer);
    let length = length7;
    if (length7 === 126) length = view.getUint16(2);
    if (length7 === 127) {
      const high = view.getUint32(2);
      length = high >= 0x200000 ? Number.POSITIVE_INFINITY : high * 2 ** 32 + view.getUint32(6);
    }
    if ((header[0]! & 0x0f) < Opcode.Close && this.#assembled + length > this.#maxMessageBytes) {
      const size = Number.isFinite(length) ? `${this.#assembled + length}-byte` : 'over 2^53-byte';
      return refused(CloseCode.TooBig, `a ${size} message is over the limit of ${this.#maxMessageBytes} bytes`);
    }
    this.#length = length;
    this.#maskAt = maskAt;
    return undefined;
  }

  /** The header is whole: the payload comes next. */
  #startPayload(): void {
    const header = this.#header;
    this.#mask.set(header.subarray(this.#maskAt, this.#maskAt + 4));
    this.#headerFilled = 0;
    this.#headerStep = 0;
    this.#fin = (header[0]! & 0x80) !== 0;
    this.#opcode = header[0]! & 0x0f;
    this.#payloadRead = 0;
    this.#inPayload = true;
    if (this.#opcode < Opcode.Close && !this.#fin) this.#fragmented = true;
  }

  /** Takes what the chunk holds of the payload; the event once the frame is whole. */
  #readPayload(): FrameEvent | undefined {
    const available = this.#chunk.length - this.#at;
    const isData = this.#opcode < Opcode.Close;
    if (isData && this.#fin && !this.#fragmented && this.#payloadRead === 0 && available >= this.#length) {
      // The whole message is in this chunk: unmask it where it is.
      const data = this.#chunk.subarray(this.#at, this.#at + this.#length);
      this.#at += this.#length;
      this.#inPayload = false;
      unmask(data, this.#mask);
      return { kind: 'message', data };
    }
    const take = Math.min(available, this.#length - this.#payloadRead);
    const into = isData ? this.#assemblyFor(this.#assembled + this.#length) : this.#control;
    const offset = (isData ? this.#assembled : 0) + this.#payloadRead;
    into.set(this.#chunk.subarray(this.#at, this.#at + take), offset);
    this.#at += take;
    this.#payloadRead += take;
    if (this.#payloadRead < this.#length) return undefined;
    this.#inPayload = false;
    const start = isData ? this.#assembled : 0;
    const payload = into.subarray(start, start + this.#length);
    unmask(payload, this.#mask);
    return isData ? this.#dataFrameEnded() : this.#controlFrame(payload);
  }

  #dataFrameEnded(): FrameEvent | undefined {
    this.#assembled += this.#length;
    if (!this.#fin) return undefined;
    const data = this.#assembly.subarray(0, this.#assembled);
    this.#assembled = 0;
    this.#fragmented = false;
    return { kind: 'message', data };
  }

  #controlFrame(payload: Uint8Array): FrameEvent {
    if (this.#opcode === Opcode.Ping) return { kind: 'ping', data: payload };
    if (this.#opcode === Opcode.Pong) return { kind: 'pong' };
    if (payload.length === 0) return { kind: 'close', code: CloseCode.NoStatus, reason: '' };
    if (payload.length === 1) return refused(CloseCode.ProtocolError, 'a WebSocket close frame with a 1-byte payload');
    const code = (payload[0]! << 8) | payload[1]!;
    if (!isValidCloseCode(code)) return refused(CloseCode.ProtocolError, `a WebSocket close frame with the invalid code ${code}`);
    try {
      return { kind: 'close', code, reason: new TextDecoder('utf-8', { fatal: true }).decode(payload.subarray(2)) };
    } catch {
      return refused(CloseCode.InvalidData, 'a WebSocket close reason that is not UTF-8');
    }
  }

  /** The assembly buffer, grown (keeping what it holds) to at least `bytes`; never past the limit, which `bytes` is within. */
  #assemblyFor(bytes: number): Uint8Array {
    if (this.#assembly.length >= bytes) return this.#assembly;
    let size = Math.max(FIRST_ASSEMBLY_BYTES, this.#assembly.length);
    while (size < bytes) size *= 2;
    const grown = new Uint8Array(Math.min(size, this.#maxMessageBytes));
    grown.set(this.#assembly.subarray(0, this.#assembled));
    this.#assembly = grown;
    return grown;
  }
}

/** Bytes of extended length that follow a frame's second byte. */
const extendedLengthBytes = (b1: number): number => {
  const length7 = b1 & 0x7f;
  return length7 === 126 ? 2 : length7 === 127 ? 8 : 0;
};

import { Relay } from './relay.js';

/** What went from the client to the server through a CountingProxy, split by what the bytes were. */
export interface ClientBytes {
  /** Every byte the proxy read from the client. */
  total: number;
  /** The HTTP upgrade request, up to and including its blank line. */
  upgrade: number;
  /** WebSocket frame headers (opcode, length, mask key). */
  frameHeaders: number;
  /** Payload of data frames (binary, text, continuation): the messages themselves. */
  dataPayload: number;
  /** Payload of control frames (ping, pong, close). */
  controlPayload: number;
}

/**
 * A loopback TCP proxy that counts the client's bytes and parses them as an HTTP upgrade followed by
 * WebSocket frames, so a test can compare what the application says it sent with what reached the socket.
 */
export class CountingProxy {
  readonly bytes: ClientBytes;
  readonly #relay: Relay;

  private constructor(relay: Relay, bytes: ClientBytes) {
    this.#relay = relay;
    this.bytes = bytes;
  }

  static async start(targetUrl: string): Promise<CountingProxy> {
    const bytes: ClientBytes = { total: 0, upgrade: 0, frameHeaders: 0, dataPayload: 0, controlPayload: 0 };
    const relay = await Relay.start(targetUrl, (client) => {
      const parser = new FrameCounter(bytes);
      client.on('data', (chunk: Buffer) => parser.feed(chunk));
    });
    return new CountingProxy(relay, bytes);
  }

  get url(): string {
    return this.#relay.url;
  }

  /** Resolves once every connection through the proxy has closed (all their bytes are counted). */
  idle(): Promise<void> {
    return this.#relay.idle();
  }

  close(): Promise<void> {
    return this.#relay.close();
  }
}

/** Incremental: the bytes of one connection, split anywhere. */
class FrameCounter {
  readonly #bytes: ClientBytes;
  #pending = Buffer.alloc(0);
  #inUpgrade = true;
  /** Payload bytes of the current frame still to come, and whether it is a data frame. */
  #payloadLeft = 0;
  #dataFrame = false;

  constructor(bytes: ClientBytes) {
    this.#bytes = bytes;
  }

  feed(chunk: Buffer): void {
    this.#bytes.total += chunk.length;
    this.#pending = Buffer.concat([this.#pending, chunk]);
    for (;;) {
      if (this.#inUpgrade) {
        const end = this.#pending.indexOf('\r\n\r\n');
        if (end < 0) return;
        this.#bytes.upgrade += end + 4;
        this.#pending = this.#pending.subarray(end + 4);
        this.#inUpgrade = false;
      } else if (this.#payloadLeft > 0) {
        const take = Math.min(this.#payloadLeft, this.#pending.length);
        if (take === 0) return;
        if (this.#dataFrame) this.#bytes.dataPayload += take;
        else this.#bytes.controlPayload += take;
        this.#payloadLeft -= take;
        this.#pending = this.#pending.subarray(take);
      } else if (!this.#header()) return;
    }
  }

  #header(): boolean {
    const p = this.#pending;
    if (p.length < 2) return false;
    const opcode = p[0]! & 0x0f;
    const masked = (p[1]! & 0x80) !== 0;
    const len7 = p[1]! & 0x7f;
    const extended = len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
    const size = 2 + extended + (masked ? 4 : 0);
    if (p.length < size) return false;
    this.#payloadLeft = len7 === 126 ? p.readUInt16BE(2) : len7 === 127 ? Number(p.readBigUInt64BE(2)) : len7;
    this.#dataFrame = opcode < 8;
    this.#bytes.frameHeaders += size;
    this.#pending = p.subarray(size);
    return true;
  }
}

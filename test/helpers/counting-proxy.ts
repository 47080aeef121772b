import { connect, createServer, type Server, type Socket } from 'node:net';

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
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #onIdle: (() => void) | undefined;
  readonly bytes: ClientBytes = { total: 0, upgrade: 0, frameHeaders: 0, dataPayload: 0, controlPayload: 0 };
  port = 0;

  private constructor(targetPort: number) {
    this.#server = createServer((client) => {
      const upstream = connect(targetPort, '127.0.0.1');
      for (const socket of [client, upstream]) {
        this.#sockets.add(socket);
        socket.on('close', () => {
          this.#sockets.delete(socket);
          if (this.#sockets.size === 0) this.#onIdle?.();
        });
        socket.on('error', () => {});
      }
      const parser = new FrameCounter(this.bytes);
      client.on('data', (chunk: Buffer) => parser.feed(chunk));
      client.pipe(upstream);
      upstream.pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
  }

  static async start(targetUrl: string): Promise<CountingProxy> {
    const proxy = new CountingProxy(Number(new URL(targetUrl).port));
    await new Promise<void>((resolve) => proxy.#server.listen(0, '127.0.0.1', resolve));
    const address = proxy.#server.address();
    proxy.port = typeof address === 'object' && address ? address.port : 0;
    return proxy;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  /** Resolves once every connection through the proxy has closed (all their bytes are counted). */
  idle(): Promise<void> {
    if (this.#sockets.size === 0) return Promise.resolve();
    return new Promise((resolve) => { this.#onIdle = resolve; });
  }

  close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    return new Promise((resolve) => this.#server.close(() => resolve()));
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

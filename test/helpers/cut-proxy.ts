import { createServer, connect, type Socket, type Server } from 'node:net';

/** A loopback TCP proxy whose connections can be cut at a chosen moment, like a link going down. */
export class CutProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  port = 0;
  cuts = 0;

  private constructor(targetPort: number) {
    this.#server = createServer((client) => {
      const upstream = connect(targetPort, '127.0.0.1');
      for (const socket of [client, upstream]) {
        this.#sockets.add(socket);
        socket.on('close', () => this.#sockets.delete(socket));
        socket.on('error', () => {});
      }
      client.pipe(upstream);
      upstream.pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
  }

  static async start(targetUrl: string): Promise<CutProxy> {
    const proxy = new CutProxy(Number(new URL(targetUrl).port));
    await new Promise<void>((resolve) => proxy.#server.listen(0, '127.0.0.1', resolve));
    const address = proxy.#server.address();
    proxy.port = typeof address === 'object' && address ? address.port : 0;
    return proxy;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  /** Destroys every connection through the proxy (both directions), as a dead link would. */
  cut(): void {
    this.cuts += 1;
    for (const socket of this.#sockets) socket.destroy();
  }

  close(): Promise<void> {
    this.cut();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

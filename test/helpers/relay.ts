import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A loopback TCP relay to a target port: the common part of the test proxies. It tracks every socket so
 * that a proxy can cut them all, lets it tap what each client sends, and says when the last one closed.
 */
export class Relay {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #onIdle: (() => void) | undefined;
  port = 0;

  private constructor(targetPort: number, tapClient: (client: Socket) => void) {
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
      tapClient(client);
      client.pipe(upstream);
      upstream.pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
  }

  /** Listens on 127.0.0.1:0 and relays to the port of `targetUrl`. */
  static async start(targetUrl: string, tapClient: (client: Socket) => void = () => {}): Promise<Relay> {
    const relay = new Relay(Number(new URL(targetUrl).port), tapClient);
    await new Promise<void>((resolve) => relay.#server.listen(0, '127.0.0.1', resolve));
    const address = relay.#server.address();
    relay.port = typeof address === 'object' && address ? address.port : 0;
    return relay;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  /** Destroys every connection (both directions), as a dead link would. */
  destroyAll(): void {
    for (const socket of this.#sockets) socket.destroy();
  }

  /** Resolves once every connection through the relay has closed. */
  idle(): Promise<void> {
    if (this.#sockets.size === 0) return Promise.resolve();
    return new Promise((resolve) => { this.#onIdle = resolve; });
  }

  close(): Promise<void> {
    this.destroyAll();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

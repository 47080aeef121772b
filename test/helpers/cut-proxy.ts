import { Relay } from './relay.js';

/** A loopback TCP proxy whose connections can be cut at a chosen moment, like a link going down. */
export class CutProxy {
  readonly #relay: Relay;
  cuts = 0;

  private constructor(relay: Relay) {
    this.#relay = relay;
  }

  static async start(targetUrl: string): Promise<CutProxy> {
    return new CutProxy(await Relay.start(targetUrl));
  }

  get url(): string {
    return this.#relay.url;
  }

  /** Destroys every connection through the proxy (both directions), as a dead link would. */
  cut(): void {
    this.cuts += 1;
    this.#relay.destroyAll();
  }

  close(): Promise<void> {
    return this.#relay.close();
  }
}

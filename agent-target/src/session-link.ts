import { encodeControl, type ControlMessage } from '@ferry/protocol';

/** The socket side of a session, so the session can be driven (and tested) without a server. */
export interface Peer {
  /** Resolves once the message is handed to the socket: awaiting it bounds what is queued for a slow reader. */
  send(message: Uint8Array): Promise<void>;
  close(code: number, reason: string): void;
  /** Input backpressure: stop and restart reading this connection. */
  pause(): void;
  resume(): void;
}

/**
 * The connection feeding a session, with the idle timer that drops it when no bytes move: every message
 * in or out refreshes it. Without an idle timeout (0) there is no timer.
 */
export class Link {
  readonly peer: Peer;
  #idle: NodeJS.Timeout | undefined;

  constructor(peer: Peer, idleTimeoutMs: number, onIdle: () => void) {
    this.peer = peer;
    if (idleTimeoutMs > 0) this.#idle = setTimeout(onIdle, idleTimeoutMs);
  }

  touch(): void {
    this.#idle?.refresh();
  }

  /** The session has ended or is committing: silence is no longer a failure. */
  stopIdle(): void {
    if (this.#idle) clearTimeout(this.#idle);
    this.#idle = undefined;
  }

  send(message: ControlMessage): void {
    this.touch();
    void this.peer.send(encodeControl(message));
  }
}

/**
 * What feeds a session: a connection (`attached`), nothing while it waits, within its grace, for its
 * source to resume it after a cut (`kept`), or nothing at all (`none`: not yet attached, or ended).
 */
export type Feed =
  | { readonly kind: 'attached'; readonly link: Link }
  | { readonly kind: 'kept'; readonly grace: NodeJS.Timeout }
  | { readonly kind: 'none' };

export const NO_FEED: Feed = { kind: 'none' };

/** Stops the timers of a feed that is being replaced. */
export function endFeed(feed: Feed): void {
  if (feed.kind === 'kept') clearTimeout(feed.grace);
  if (feed.kind === 'attached') feed.link.stopIdle();
}

/** Messages queued while one is being handled before the connection stops being read. */
const INBOX_HIGH_WATER = 4;

/**
 * Messages from the session's connections, handled one at a time and in order. A connection whose
 * messages pile up stops being read until the queue is short again.
 */
export class Inbox {
  readonly #queue: Array<{ peer: Peer; data: Uint8Array }> = [];
  readonly #handle: (peer: Peer, data: Uint8Array) => Promise<boolean>;
  #draining = false;

  /** `handle` never throws; it resolves false for a message it dropped (its connection was replaced, the session ended). */
  constructor(handle: (peer: Peer, data: Uint8Array) => Promise<boolean>) {
    this.#handle = handle;
  }

  /**
   * `data` is the connection's reused buffer, valid only during this call: a message handled at once is
   * read before its handler's first await (see Receiver.handle); one that must wait for another is copied.
   */
  push(peer: Peer, data: Uint8Array): void {
    this.#queue.push({ peer, data: this.#draining ? data.slice() : data });
    if (this.#queue.length >= INBOX_HIGH_WATER) peer.pause();
    if (!this.#draining) void this.#drain();
  }

  clear(): void {
    this.#queue.length = 0;
  }

  async #drain(): Promise<void> {
    this.#draining = true;
    for (let next = this.#queue.shift(); next; next = this.#queue.shift()) {
      if (!(await this.#handle(next.peer, next.data))) continue;
      if (this.#queue.length < INBOX_HIGH_WATER) next.peer.resume();
    }
    this.#draining = false;
  }
}

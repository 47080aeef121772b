import type { Logger } from 'pino';
import { WebSocket } from 'ws';
import type { FeedEvent } from './vocabulary.js';

/** A watcher with more than this queued (it does not read) is disconnected rather than buffered for. */
export const MAX_WATCHER_BUFFERED_BYTES = 1024 * 1024;

/**
 * An /events feed: JSON lines to every watcher, with bounded memory per watcher. A watcher that lets
 * more than MAX_WATCHER_BUFFERED_BYTES pile up is disconnected, so a slow reader never grows a daemon.
 */
export class EventFeed {
  readonly #log: Logger;
  readonly #sockets = new Set<WebSocket>();

  constructor(logger: Logger) {
    this.#log = logger;
  }

  get size(): number {
    return this.#sockets.size;
  }

  /** A new watcher; `first` (a status snapshot, say) is sent to it alone. */
  add(ws: WebSocket, first?: FeedEvent): void {
    this.#sockets.add(ws);
    ws.on('close', () => this.#sockets.delete(ws));
    ws.on('error', () => this.#sockets.delete(ws));
    if (first !== undefined) ws.send(JSON.stringify(first));
  }

  broadcast(event: FeedEvent): void {
    const line = JSON.stringify(event);
    for (const ws of this.#sockets) {
      if (ws.bufferedAmount > MAX_WATCHER_BUFFERED_BYTES) {
        this.#log.warn({ buffered: ws.bufferedAmount }, 'disconnected an /events watcher that does not read');
        this.#sockets.delete(ws);
        ws.terminate();
        continue;
      }
      ws.send(line);
    }
  }

  close(): void {
    for (const ws of this.#sockets) ws.terminate();
    this.#sockets.clear();
  }
}

/**
 * A TCP proxy that behaves like a WAN link between its two sides, for machines whose kernel has no netem:
 * each direction gets a one-way delay, optional jitter and a rate (see link.ts for the model). Bytes are
 * never buffered without bound: when a direction holds more than its bound, the proxy stops reading that
 * side, so TCP flow control pushes back on the sender exactly as a full link would.
 */
import { createServer, connect, type Server, type Socket, type AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { DelayLine, LinkModel, defaultQueueBound, type LinkSettings } from './link.js';

export interface WanProxyOptions {
  listenHost: string;
  listenPort: number;
  toHost: string;
  toPort: number;
  delayMs: number;
  rateBytesPerSec?: number;
  jitterMs?: number;
  /** Bytes one direction of one connection may hold before reading pauses; default defaultQueueBound(). */
  maxQueuedBytes?: number;
  /** Optional sink for one structured line per event worth keeping (connections, errors). */
  log?: (event: string, fields: Record<string, unknown>) => void;
}

export interface DirectionStats {
  /** Bytes delivered to the far side. */
  bytes: number;
  /** Bytes held now (delay line + socket write buffer), summed over open connections. */
  queuedBytes: number;
  /** The most one connection's direction ever held; stays under the bound plus one chunk. */
  peakQueuedBytes: number;
  /** How often reading was paused because the direction was full. */
  pauses: number;
}

export interface WanProxyStats {
  connections: { active: number; total: number };
  /** Client to target. */
  up: DirectionStats;
  /** Target to client. */
  down: DirectionStats;
  maxQueuedBytes: number;
}

export interface WanProxy {
  port: number;
  address: string;
  close(): Promise<void>;
  stats(): WanProxyStats;
}

/** Chunks are cut to this size so a large read does not hold the link as one lump (smoother pacing). */
const SLICE_BYTES = 16 * 1024;
const END = Symbol('end');
type Item = Buffer | typeof END;

interface Totals { bytes: number; peakQueuedBytes: number; pauses: number }

/** One direction of one connection: reads `from`, holds chunks in the delay line, writes them to `to`. */
class Direction {
  readonly #from: Socket;
  readonly #to: Socket;
  readonly #model: LinkModel;
  readonly #line = new DelayLine<Item>();
  readonly #bound: number;
  readonly #totals: Totals;
  #timer: NodeJS.Timeout | undefined;
  #paused = false;

  constructor(from: Socket, to: Socket, settings: LinkSettings, bound: number, totals: Totals) {
    this.#from = from;
    this.#to = to;
    this.#model = new LinkModel(settings);
    this.#bound = bound;
    this.#totals = totals;
    from.on('data', (chunk: Buffer) => this.#onData(chunk));
    // A half-close travels like data: the FIN reaches the far side after the bytes before it.
    from.on('end', () => this.#enqueue(END, 0));
    to.on('drain', () => this.#maybeResume());
  }

  /** What this direction holds: on the emulated wire, plus what the far socket has not flushed yet. */
  get queuedBytes(): number {
    return this.#line.bytes + this.#to.writableLength;
  }

  stop(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#line.clear();
  }

  #onData(chunk: Buffer): void {
    for (let offset = 0; offset < chunk.length; offset += SLICE_BYTES) {
      this.#enqueue(chunk.subarray(offset, offset + SLICE_BYTES), Math.min(SLICE_BYTES, chunk.length - offset));
    }
    const queued = this.queuedBytes;
    if (queued > this.#totals.peakQueuedBytes) this.#totals.peakQueuedBytes = queued;
    if (!this.#paused && queued > this.#bound) {
      // Stop reading: the kernel's receive buffer fills, the TCP window closes, the sender waits.
      this.#paused = true;
      this.#totals.pauses += 1;
      this.#from.pause();
    }
  }

  #enqueue(item: Item, bytes: number): void {
    this.#line.push(item, bytes, this.#model.schedule(bytes, performance.now()));
    if (!this.#timer) this.#arm();
  }

  #arm(): void {
    const at = this.#line.nextAt();
    if (at === undefined) return;
    // setTimeout has 1 ms granularity and fires late, never early; release times stay exact because
    // the model schedules in virtual time, so lateness adds no error that accumulates.
    const wait = Math.max(0, Math.ceil(at - performance.now()));
    this.#timer = setTimeout(() => this.#release(), wait);
  }

  #release(): void {
    this.#timer = undefined;
    for (const item of this.#line.takeDue(performance.now())) {
      if (this.#to.destroyed) break;
      if (item === END) {
        this.#to.end();
      } else {
        this.#totals.bytes += item.length;
        this.#to.write(item);
      }
    }
    this.#maybeResume();
    this.#arm();
  }

  #maybeResume(): void {
    // Resume at half the bound (hysteresis), so reading does not flap on every chunk.
    if (this.#paused && this.queuedBytes <= this.#bound / 2 && !this.#from.destroyed) {
      this.#paused = false;
      this.#from.resume();
    }
  }
}

interface OpenConnection { readonly sockets: Socket[]; readonly up: Direction; readonly down: Direction }

interface ProxyState {
  readonly options: WanProxyOptions;
  readonly settings: LinkSettings;
  readonly bound: number;
  readonly log: (event: string, fields: Record<string, unknown>) => void;
  readonly up: Totals;
  readonly down: Totals;
  readonly open: Set<OpenConnection>;
}

/** Relays one client to the target through two emulated directions, and ends both sides together. */
function relayThroughLink(client: Socket, id: number, state: ProxyState): void {
  const { options, settings, bound, log, open } = state;
  const upstream = connect({ host: options.toHost, port: options.toPort, allowHalfOpen: true, noDelay: true });
  const connection: OpenConnection = {
    sockets: [client, upstream],
    up: new Direction(client, upstream, settings, bound, state.up),
    down: new Direction(upstream, client, settings, bound, state.down),
  };
  open.add(connection);
  log('connection', { id, remote: `${client.remoteAddress}:${client.remotePort}` });
  let finished = false;
  const finish = (side: string, error?: Error): void => {
    if (finished) return;
    finished = true;
    open.delete(connection);
    connection.up.stop();
    connection.down.stop();
    // An error (or reset) on one side is not delayed: the other side is reset at once, so its peer
    // sees a broken connection (ECONNRESET) as it would on a real link, not a clean end of stream.
    for (const socket of connection.sockets) {
      if (error && !socket.destroyed && socket.readyState === 'open') socket.resetAndDestroy();
      else socket.destroy();
    }
    log(error ? 'connection-error' : 'connection-closed', { id, side, ...(error ? { error: error.message } : {}) });
  };
  client.on('error', (error) => finish('client', error));
  upstream.on('error', (error) => finish('target', error));
  // A socket closing cleanly has both its directions done; the other socket may still owe the far end
  // a delayed FIN, so it is left to close by itself. Only when the other side could still have sent
  // data (it never saw an end, e.g. a socket destroyed without error) is the connection cut here.
  let closed = 0;
  const onClose = (side: string) => (hadError: boolean): void => {
    closed += 1;
    const drained = connection.sockets.every((socket) => socket.readableEnded || socket.destroyed);
    if (hadError || closed === 2 || !drained) finish(side);
  };
  client.on('close', onClose('client'));
  upstream.on('close', onClose('target'));
}

/** Starts the proxy; resolves once it listens. */
export async function startWanProxy(options: WanProxyOptions): Promise<WanProxy> {
  const settings: LinkSettings = { delayMs: options.delayMs, rateBytesPerSec: options.rateBytesPerSec, jitterMs: options.jitterMs };
  new LinkModel(settings); // validates the settings before anything listens
  const state: ProxyState = {
    options, settings,
    bound: options.maxQueuedBytes ?? defaultQueueBound(settings),
    log: options.log ?? (() => {}),
    up: { bytes: 0, peakQueuedBytes: 0, pauses: 0 },
    down: { bytes: 0, peakQueuedBytes: 0, pauses: 0 },
    open: new Set(),
  };
  const { up, down, open, bound } = state;
  let total = 0;
  // allowHalfOpen: a client's FIN must not close our write side at once; it is delayed like data.
  const server: Server = createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
    total += 1;
    relayThroughLink(client, total, state);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.listenPort, options.listenHost, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;

  const directionStats = (totals: Totals, pick: (c: { up: Direction; down: Direction }) => Direction): DirectionStats => ({
    ...totals,
    queuedBytes: [...open].reduce((sum, connection) => sum + pick(connection).queuedBytes, 0),
  });

  return {
    port: address.port,
    address: address.address,
    stats: () => ({
      connections: { active: open.size, total },
      up: directionStats(up, (c) => c.up),
      down: directionStats(down, (c) => c.down),
      maxQueuedBytes: bound,
    }),
    close: () =>
      new Promise<void>((resolve) => {
        for (const connection of open) for (const socket of connection.sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

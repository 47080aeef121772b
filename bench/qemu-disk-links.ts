/**
 * Plumbing for the disk rows of `npm run bench:qemu`: links that count the bytes each way (loopback,
 * or through `ferry wan-proxy` for a 100 Mbit/s, 20 ms link), and a clock that notes when each guest
 * heartbeat reaches its serial log, so the guest's pause is measured from outside the guest.
 */
import { spawn } from 'node:child_process';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { FERRY } from '../test/helpers/ferry.js';

export interface WanShape {
  readonly delayMs: number;
  readonly rate: string;
}

/** `ferry wan-proxy` in front of `toPort`: the port it listens on, and how to stop it. */
export async function startWanProxy(toPort: number, wan: WanShape): Promise<{ port: number; stop: () => void }> {
  const proxy = spawn(process.execPath, [FERRY, 'wan-proxy', '--listen', '127.0.0.1:0', '--to', `127.0.0.1:${toPort}`, '--delay', String(wan.delayMs), '--rate', wan.rate, '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    proxy.once('exit', (code) => reject(new Error(`ferry wan-proxy exited ${code}`)));
    createInterface({ input: proxy.stdout! }).on('line', (line) => {
      const event = JSON.parse(line) as { event?: string; url?: string; port?: number; listen?: string };
      if (event.event !== 'listening') return;
      resolve(event.port ?? Number(/:(\d+)$/.exec(event.url ?? event.listen ?? '')?.[1]));
    });
  });
  return { port, stop: () => proxy.kill('SIGTERM') };
}

/** A TCP hop that counts the bytes going forward (client to server), optionally through a WAN emulator. */
export class CountingLink {
  forwardBytes = 0;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #stop: () => void;
  port = 0;

  private constructor(toPort: number, stop: () => void) {
    this.#stop = stop;
    this.#server = createServer((client) => {
      const upstream = connect(toPort, '127.0.0.1');
      for (const socket of [client, upstream]) {
        // No Nagle: a relay that holds back small writes until the previous ones are ACKed adds up to a
        // delayed-ACK timeout (~40 ms) to every request/reply exchange, which no real link does.
        socket.setNoDelay(true);
        this.#sockets.add(socket);
        socket.on('close', () => this.#sockets.delete(socket));
        socket.on('error', () => {});
      }
      client.on('data', (chunk: Buffer) => { this.forwardBytes += chunk.length; });
      client.pipe(upstream);
      upstream.pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
  }

  /** Listens on a free port and forwards to `toPort`, through `ferry wan-proxy` when `wan` is given. */
  static async open(toPort: number, wan: WanShape | undefined): Promise<CountingLink> {
    const proxy = wan ? await startWanProxy(toPort, wan) : { port: toPort, stop: () => {} };
    const link = new CountingLink(proxy.port, proxy.stop);
    await new Promise<void>((resolve) => link.#server.listen(0, '127.0.0.1', resolve));
    link.port = (link.#server.address() as { port: number }).port;
    return link;
  }

  close(): void {
    for (const socket of this.#sockets) socket.destroy();
    this.#server.close();
    this.#stop();
  }
}

/**
 * Host arrival times of heartbeat lines (`HB <counter> ...`) in serial logs. Each poll (every 5 ms) reads
 * only the bytes added since the last one, so a long run at a 20 ms heartbeat costs the loaded host little.
 */
export class HeartbeatClock {
  readonly #logs = new Map<string, { offset: number; partial: string; beats: Array<{ counter: number; at: number }> }>();
  readonly #timer: NodeJS.Timeout;

  constructor(paths: readonly string[]) {
    for (const path of paths) this.#logs.set(path, { offset: 0, partial: '', beats: [] });
    this.#timer = setInterval(() => this.#poll(), 5);
  }

  #poll(): void {
    const now = performance.now();
    for (const [path, log] of this.#logs) {
      const added = readFrom(path, log.offset);
      if (added.length === 0) continue;
      log.offset += added.length;
      const lines = (log.partial + added.toString('latin1')).split('\n');
      log.partial = lines.pop() ?? '';
      for (const line of lines) {
        const match = /^HB (\d+) /.exec(line);
        if (match) log.beats.push({ counter: Number(match[1]), at: now });
      }
    }
  }

  /** Milliseconds between the source's last heartbeat and the target's first: the guest's stall plus up to one heartbeat interval. */
  gapMs(source: string, target: string): number | undefined {
    this.#poll();
    const last = this.#logs.get(source)?.beats.at(-1);
    const first = this.#logs.get(target)?.beats[0];
    return last && first ? Math.round(first.at - last.at) : undefined;
  }

  /** When each heartbeat of `path` reached the host (performance.now()), in order. */
  arrivals(path: string): ReadonlyArray<{ readonly counter: number; readonly at: number }> {
    this.#poll();
    return this.#logs.get(path)?.beats ?? [];
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

/** The bytes of `path` from `offset` on (none when it does not exist yet). */
function readFrom(path: string, offset: number): Buffer {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return Buffer.alloc(0);
  }
  try {
    const size = fstatSync(fd).size;
    const buffer = Buffer.alloc(Math.max(0, size - offset));
    const n = buffer.length > 0 ? readSync(fd, buffer, 0, buffer.length, offset) : 0;
    return buffer.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

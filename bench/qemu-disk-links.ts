/**
 * Plumbing for the disk rows of `npm run bench:qemu`: links that count the bytes each way (loopback,
 * or through `ferry wan-proxy` for a 100 Mbit/s, 20 ms link), and a clock that notes when each guest
 * heartbeat reaches its serial log, so the guest's pause is measured from outside the guest.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
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

/** Host arrival times of heartbeat lines (`HB <counter> ...`) in serial logs, polled every 20 ms. */
export class HeartbeatClock {
  readonly #seen = new Map<string, Array<{ counter: number; at: number }>>();
  readonly #timer: NodeJS.Timeout;

  constructor(paths: readonly string[]) {
    for (const path of paths) this.#seen.set(path, []);
    this.#timer = setInterval(() => this.#poll(), 20);
  }

  #poll(): void {
    const now = performance.now();
    for (const [path, beats] of this.#seen) {
      let text = '';
      try {
        text = readFileSync(path, 'utf8');
      } catch {
        continue;
      }
      const counters = [...text.matchAll(/^HB (\d+) /gm)].map((m) => Number(m[1]));
      for (const counter of counters.slice(beats.length)) beats.push({ counter, at: now });
    }
  }

  /** Milliseconds between the source's last heartbeat and the target's first: the guest's stall plus up to one 500 ms beat. */
  gapMs(source: string, target: string): number | undefined {
    this.#poll();
    const last = this.#seen.get(source)?.at(-1);
    const first = this.#seen.get(target)?.[0];
    return last && first ? Math.round(first.at - last.at) : undefined;
  }

  /** When each heartbeat of `path` reached the host (performance.now()), in order. */
  arrivals(path: string): ReadonlyArray<{ readonly counter: number; readonly at: number }> {
    this.#poll();
    return this.#seen.get(path) ?? [];
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

/** Shared pieces of the benchmarks: real processes, real sockets, one run, ratios printed. */
import { spawn } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { openSync, writeSync, closeSync, ftruncateSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { randomFillSync } from 'node:crypto';
import { fileURLToPath } from 'node:url';

export const FERRY = fileURLToPath(new URL('../cli/bin/ferry.js', import.meta.url));

/** Raw TCP throughput on loopback between two processes (bytes/s): the ceiling a migration is measured against. */
export async function rawTcpThroughput(totalBytes: number): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const sink = new Promise<number>((resolve) => {
    server.once('connection', (socket) => {
      let received = 0;
      let started = 0;
      socket.on('data', (chunk: Buffer) => {
        if (started === 0) started = performance.now();
        received += chunk.length;
      });
      socket.on('end', () => resolve((received * 1000) / (performance.now() - started)));
    });
  });
  // The sender is a separate process, as the migration source is.
  const sender = spawn(process.execPath, ['-e', `
    const s = require('node:net').connect(${port}, '127.0.0.1');
    const chunk = Buffer.alloc(1 << 20, 7); let left = ${totalBytes};
    const pump = () => { while (left > 0) { left -= chunk.length; if (!s.write(chunk)) return s.once('drain', pump); } s.end(); };
    s.on('connect', pump);`], { stdio: 'inherit' });
  const rate = await sink;
  await new Promise((resolve) => sender.once('exit', resolve));
  server.close();
  return rate;
}

/** An image with no zero page: half text-like (compressible), half random. */
export function writeNonZeroImage(path: string, size: number, pageSize = 4096): void {
  const fd = openSync(path, 'w');
  ftruncateSync(fd, 0);
  const chunk = Buffer.alloc(16 << 20);
  const words = 'migration page dirty pass target source delta cache commit verify kernel heap object '.split(' ');
  for (let offset = 0; offset < size; offset += chunk.length) {
    for (let page = 0; page < chunk.length; page += pageSize) {
      const view = chunk.subarray(page, page + pageSize);
      if ((page / pageSize) % 2 === 0) randomFillSync(view);
      else {
        let text = '';
        let n = page + offset;
        while (text.length < pageSize) text += `${words[(n = (n * 1103515245 + 12345) >>> 0) % words.length]} ${n % 9973} `;
        view.write(text.slice(0, pageSize));
      }
    }
    writeSync(fd, chunk, 0, Math.min(chunk.length, size - offset), offset);
  }
  closeSync(fd);
}

export async function startTargetProcess(dir: string): Promise<{ url: string; stop: () => void; exited: Promise<void> }> {
  const child = spawn(process.execPath, [FERRY, 'target', '--listen', '127.0.0.1:0', '--dir', dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const parsed = JSON.parse(line) as { event?: string; url?: string };
      if (parsed.event === 'listening' && parsed.url) resolve(parsed.url);
    });
    child.once('exit', (code) => reject(new Error(`target exited with ${code}`)));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { url, stop: () => child.kill('SIGTERM'), exited };
}

export type Event = Record<string, unknown>;

export async function ferryMigrate(args: string[]): Promise<{ code: number | null; events: Event[] }> {
  const child = spawn(process.execPath, [FERRY, 'migrate', '--json', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const events: Event[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => events.push(JSON.parse(line) as Event));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { code, events };
}

export const gbps = (bytesPerSecond: number): string => `${(bytesPerSecond / 1e9).toFixed(2)} GB/s`;

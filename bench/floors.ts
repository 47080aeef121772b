/** The references ferry is measured against, each measured in the same run. */
import { spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { availableParallelism } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { createPageHasher } from '@ferry/pages';
import { roundTrips } from '../test/helpers/round-trips.js';

const COPY_PEER = fileURLToPath(new URL('./copy-peer.ts', import.meta.url));

/** Raw TCP throughput on loopback between two processes (bytes/s): one buffer rewritten, nothing stored. */
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

export interface CopyFloor {
  /** Bytes per second from the receiver's first byte to its file being complete. */
  readonly rate: number;
  /** CPU seconds (user + system) of each peer for the whole copy. */
  readonly senderCpu: number;
  readonly receiverCpu: number;
}

/** The fair floor: `image` read from its file, sent over loopback TCP, stored into `output`. */
export async function fileCopyFloor(image: string, output: string, size: number): Promise<CopyFloor> {
  const peer = (args: string[]) => {
    const child = spawn(process.execPath, ['--import', 'tsx', COPY_PEER, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    return createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  };
  const next = async <T>(lines: AsyncIterator<string>): Promise<T> => JSON.parse(String((await lines.next()).value)) as T;
  const receiver = peer(['receive', '0', output]);
  const { port } = await next<{ port: number }>(receiver);
  const sender = peer(['send', String(port), image]);
  const [received, sent] = await Promise.all([next<{ seconds: number; cpuSeconds: number }>(receiver), next<{ cpuSeconds: number }>(sender)]);
  return { rate: size / received.seconds, senderCpu: sent.cpuSeconds, receiverCpu: received.cpuSeconds };
}

/** xxh64 page hashes per second on one core (bytes/s): what the pause floor divides the image by. */
export async function hashRatePerCore(pageSize = 4096, bytes = 64 << 20): Promise<number> {
  const hasher = await createPageHasher();
  const buffer = randomFillSync(new Uint8Array(bytes));
  hasher.hashPage(buffer.subarray(0, pageSize));
  const started = performance.now();
  for (let offset = 0; offset < bytes; offset += pageSize) hasher.hashPage(buffer.subarray(offset, offset + pageSize));
  return (bytes * 1000) / (performance.now() - started);
}

/** One TCP round trip on loopback, in milliseconds (median of 20 echoes). */
export async function loopbackRttMs(): Promise<number> {
  const server = createServer((socket) => socket.pipe(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    return (await roundTrips((server.address() as { port: number }).port, 20))[10]!;
  } finally {
    server.close();
  }
}

/** A reader thread of `parallelReadRate`: reads its share in `chunk`-byte preads into one buffer, no hashing. */
const READER = `
const { parentPort, workerData: { path, start, end, chunk } } = require('node:worker_threads');
const { closeSync, openSync, readSync } = require('node:fs');
const fd = openSync(path, 'r');
const buffer = new Uint8Array(chunk);
parentPort.once('message', () => {
  for (let offset = start; offset < end; offset += chunk) readSync(fd, buffer, 0, Math.min(chunk, end - offset), offset);
  closeSync(fd);
  parentPort.postMessage('done');
});
parentPort.postMessage('ready');`;

/** Bytes per second of wall time, and per second of CPU (every thread of this process, user + system). */
export interface ScanRate {
  readonly wall: number;
  readonly cpu: number;
}

/** Times `body` (which covers `bytes`) by the wall clock and by this process's CPU time. */
export async function timedScan(bytes: number, body: () => Promise<void>): Promise<ScanRate> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  await body();
  const wallMs = performance.now() - started;
  const used = process.cpuUsage(cpu);
  return { wall: (bytes * 1000) / wallMs, cpu: (bytes * 1e6) / Math.max(1, used.user + used.system) };
}

/**
 * The paused scan's floor: `path` read on `threads` threads at once, each a contiguous share in 1 MiB
 * preads (the scan's chunk), nothing hashed. Timed from the go to the last thread's end.
 */
export async function parallelReadRate(path: string, size: number, threads = availableParallelism()): Promise<ScanRate> {
  const share = Math.ceil(size / threads);
  const readers = Array.from({ length: threads }, (_, n) =>
    new Worker(READER, { eval: true, workerData: { path, start: n * share, end: Math.min(size, (n + 1) * share), chunk: 1 << 20 } }));
  try {
    await Promise.all(readers.map((w) => once(w, 'message')));
    return await timedScan(size, async () => {
      const done = readers.map((w) => once(w, 'message'));
      for (const w of readers) w.postMessage('go');
      await Promise.all(done);
    });
  } finally {
    await Promise.all(readers.map((w) => w.terminate()));
  }
}

/**
 * The floor a migration is measured against: a plain reader/writer pair. `send PORT IMAGE` reads the
 * image in 1 MiB chunks and writes them to a TCP socket; `receive PORT OUTPUT` accepts one connection and
 * stores what arrives in a file (it listens on PORT, 0 for any, and prints the port), then prints the seconds from its first byte to the file being complete.
 * No hashing, no framing: the cost ferry cannot avoid. Each peer prints the CPU seconds (user + system) it
 * spent on the copy itself, start-up excluded.
 */
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';

const [role, portText, path] = process.argv.slice(2);
const port = Number(portText);
const CHUNK = 1 << 20;
const cpuSince = (from: NodeJS.CpuUsage): number => {
  const used = process.cpuUsage(from);
  return (used.user + used.system) / 1e6;
};

function send(): void {
  const fd = openSync(path!, 'r');
  const socket = connect(port, '127.0.0.1');
  const cpu = process.cpuUsage();
  socket.on('close', () => process.stdout.write(`${JSON.stringify({ cpuSeconds: cpuSince(cpu) })}\n`));
  const pump = (): void => {
    for (;;) {
      const chunk = Buffer.allocUnsafe(CHUNK);
      const n = readSync(fd, chunk, 0, CHUNK, null);
      if (n === 0) {
        closeSync(fd);
        socket.end();
        return;
      }
      if (!socket.write(n === CHUNK ? chunk : chunk.subarray(0, n))) {
        socket.once('drain', pump);
        return;
      }
    }
  };
  socket.on('connect', pump);
}

function receive(): void {
  const fd = openSync(path!, 'w');
  let started = 0;
  let cpu = process.cpuUsage();
  const server = createServer((socket: Socket) => {
    socket.on('data', (chunk: Buffer) => {
      if (started === 0) {
        started = performance.now();
        cpu = process.cpuUsage();
      }
      writeSync(fd, chunk);
    });
    socket.on('end', () => {
      closeSync(fd);
      process.stdout.write(`${JSON.stringify({ seconds: (performance.now() - started) / 1000, cpuSeconds: cpuSince(cpu) })}\n`);
      server.close();
    });
  });
  server.listen(port, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ port: (server.address() as { port: number }).port })}\n`));
}

if (role === 'send') send();
else if (role === 'receive') receive();
else throw new Error('usage: copy-peer send|receive PORT PATH');

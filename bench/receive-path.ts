/**
 * `npm run bench:receive`: what receiving PAGES-sized messages costs the target, receive path alone (no
 * decoding, no files). Each receiver is its own process fed 1 GiB of 1 MiB binary messages by a sender
 * process over loopback, and reports its CPU and V8's collections per GiB:
 *   - ws: a WebSocketServer with the target's options; each message is a fresh Buffer (ws assembles the
 *     socket's 64 KiB reads into it)
 *   - ws + scavenge: the same, with the target's young-generation collection every 4 MiB (YoungGarbage)
 *   - frames: what the target runs, FrameSocket (agent-target) reading frames into its reused buffers
 *   - frames + scavenge: the same, with the young-generation collection every 4 MiB
 *   - tcp, reused buffer: plain TCP chunks copied into one reused 1 MiB buffer: the least a receiver on
 *     Node's socket could cost with 'data' events (Node allocates each read)
 *   - tcp, onread: the same copy, the accepted socket's handle taken into a `net.Socket` made with `onread`,
 *     so every read lands in one reused 64 KiB buffer. `onread` is offered only for sockets the process
 *     makes, so this reaches into `net`'s internal `_handle`: a measure of what reused reads would save
 *     the target, not a way the target reads today
 * Receivers run one after the other, twice, interleaved. FERRY_BENCH_SIZE (default 1GiB) sizes the stream;
 * FERRY_BENCH_RECEIVERS picks some: ws, ws-scavenge, frames, frames-scavenge, tcp-reused, tcp-onread, comma-separated.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const SELF = fileURLToPath(import.meta.url);
const MESSAGE = 1 << 20;
const GiB = 2 ** 30;
const TOTAL = Number(/^(\d+)GiB$/.exec(process.env['FERRY_BENCH_SIZE'] ?? '1GiB')?.[1] ?? 1) * GiB;
type Mode = 'ws' | 'ws-scavenge' | 'frames' | 'frames-scavenge' | 'tcp-reused' | 'tcp-onread';

interface Report { seconds: number; user: number; system: number; gcCount: number; gcMs: number }

async function receiver(mode: Mode): Promise<void> {
  const { PerformanceObserver } = await import('node:perf_hooks');
  let gcCount = 0;
  let gcMs = 0;
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      gcCount++;
      gcMs += entry.duration;
    }
  }).observe({ entryTypes: ['gc'] });
  let received = 0;
  let started = 0;
  let cpu = process.cpuUsage();
  const first = (): void => {
    if (started !== 0) return;
    started = performance.now();
    cpu = process.cpuUsage();
  };
  const done = (): void => {
    const used = process.cpuUsage(cpu);
    const report: Report = { seconds: (performance.now() - started) / 1000, user: used.user / 1e6, system: used.system / 1e6, gcCount, gcMs };
    process.stdout.write(`${JSON.stringify(report)}\n`);
    process.exit(0);
  };
  if (mode === 'tcp-reused' || mode === 'tcp-onread') {
    const assemble = assembler();
    const read = (chunk: Uint8Array): void => {
      first();
      assemble(chunk);
      received += chunk.length;
      if (received >= TOTAL) done();
    };
    if (mode === 'tcp-onread') return onreadReceiver(read);
    const { createServer } = await import('node:net');
    return announce(createServer((socket) => socket.on('data', read)));
  }
  const { FrameSocket, YoungGarbage } = await import('@ferry/agent-target');
  const young = mode.endsWith('-scavenge') ? new YoungGarbage(4 << 20) : undefined;
  if (mode.startsWith('frames')) {
    const { createServer } = await import('node:http');
    const { checkWebSocketUpgrade } = await import('@ferry/serve');
    const server = createServer();
    server.on('upgrade', (request: import('node:http').IncomingMessage, socket: import('node:stream').Duplex, head: Buffer) => {
      const handshake = checkWebSocketUpgrade(request.method, request.headers);
      if (!handshake.ok) return void socket.destroy();
      socket.write(handshake.response);
      new FrameSocket(socket, head, 2 * MESSAGE, {
        message: (data) => {
          first();
          received += data.length;
          young?.received(data.length);
          if (received >= TOTAL) done();
        },
        refused: (_code, reason) => { throw new Error(reason); },
        closed: () => {},
        error: () => {},
      });
    });
    return announce(server);
  }
  const { WebSocketServer } = await import('ws');
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', maxPayload: 2 * MESSAGE + 1024, perMessageDeflate: false });
  wss.on('connection', (ws) => ws.on('message', (data: Buffer) => {
    first();
    received += data.length;
    young?.received(data.length);
    if (received >= TOTAL) done();
  }));
  wss.on('listening', () => process.stdout.write(`${JSON.stringify({ port: (wss.address() as { port: number }).port })}\n`));
}

/** Accepts one connection and reads it through `onread`: each read lands in one reused buffer, valid during `read`. */
async function onreadReceiver(read: (chunk: Uint8Array) => void): Promise<void> {
  const { createServer, Socket } = await import('node:net');
  announce(createServer({ pauseOnConnect: true }, (accepted) => {
    const handle = (accepted as unknown as { _handle: unknown })._handle;
    (accepted as unknown as { _handle: unknown })._handle = null;
    const socket = new Socket({
      handle, onread: {
        buffer: Buffer.allocUnsafe(64 * 1024),
        callback: (n: number, buffer: Uint8Array) => read(buffer.subarray(0, n)),
      },
    } as ConstructorParameters<typeof Socket>[0]);
    socket.resume();
  }));
}

/** Copies each chunk on into one reused 1 MiB buffer, as assembling messages from socket reads does. */
function assembler(): (chunk: Uint8Array) => void {
  const assembly = Buffer.allocUnsafe(MESSAGE);
  let filled = 0;
  return (chunk) => {
    for (let at = 0; at < chunk.length;) {
      const n = Math.min(chunk.length - at, MESSAGE - filled);
      assembly.set(chunk.subarray(at, at + n), filled);
      filled = (filled + n) % MESSAGE;
      at += n;
    }
  };
}

/** Listens on a free loopback port and tells the parent which (the first line it reads). */
function announce(server: import('node:net').Server): void {
  server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ port: (server.address() as { port: number }).port })}\n`));
}

async function sender(mode: Mode, port: number): Promise<void> {
  const message = Buffer.alloc(MESSAGE, 7);
  let left = TOTAL / MESSAGE;
  if (mode === 'tcp-reused' || mode === 'tcp-onread') {
    const { connect } = await import('node:net');
    const socket = connect(port, '127.0.0.1');
    const pump = (): void => {
      while (left-- > 0) if (!socket.write(message)) return void socket.once('drain', pump);
    };
    socket.on('connect', pump);
    return;
  }
  const { WebSocket } = await import('ws');
  // As the source: an all-zero mask, so neither side XORs the payload.
  const ws = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false, generateMask: (mask: Buffer) => void mask.fill(0) });
  const pump = (): void => {
    while (left > 0 && ws.bufferedAmount < 8 * MESSAGE) {
      left--;
      ws.send(message, { binary: true });
    }
    if (left > 0) setImmediate(pump);
  };
  ws.on('open', pump);
  ws.on('error', () => process.exit(0));
}

async function measure(mode: Mode): Promise<Report> {
  const child = (args: string[]) => spawn(process.execPath, ['--import', 'tsx', SELF, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const receiving = child(['receive', mode]);
  const lines = createInterface({ input: receiving.stdout! })[Symbol.asyncIterator]();
  const { port } = JSON.parse(String((await lines.next()).value)) as { port: number };
  const sending = child(['send', mode, String(port)]);
  const report = JSON.parse(String((await lines.next()).value)) as Report;
  sending.kill();
  return report;
}

const ALL_MODES: readonly Mode[] = ['ws', 'ws-scavenge', 'frames', 'frames-scavenge', 'tcp-reused', 'tcp-onread'];
/** FERRY_BENCH_RECEIVERS=frames,tcp-onread runs only those. */
const MODES = (process.env['FERRY_BENCH_RECEIVERS']?.split(',') ?? ALL_MODES).filter((mode): mode is Mode => (ALL_MODES as readonly string[]).includes(mode));
const [role, modeArg, portArg] = process.argv.slice(2);
if (role === 'receive') await receiver(modeArg as Mode);
else if (role === 'send') await sender(modeArg as Mode, Number(portArg));
else {
  const perGiB = (x: number): string => (x * GiB / TOTAL).toFixed(2);
  process.stdout.write('receiver                 GB/s   CPU core-s/GiB (user sys)   GC per GiB (count, ms)\n');
  for (let round = 0; round < 2; round++) {
    for (const mode of MODES) {
      const r = await measure(mode);
      process.stdout.write(`${mode.padEnd(24)} ${(TOTAL / r.seconds / 1e9).toFixed(2)}   ${perGiB(r.user + r.system)} (${perGiB(r.user)} ${perGiB(r.system)})`.padEnd(58)
        + `${Math.round(r.gcCount * GiB / TOTAL)}, ${Math.round(r.gcMs * GiB / TOTAL)}\n`);
    }
  }
}

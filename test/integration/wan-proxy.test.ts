import t from 'tap';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { startWanProxy, type WanProxy, type WanProxyOptions } from '@ferry/wan';
import { roundTrips } from '../helpers/round-trips.js';
import { until } from '../helpers/wait.js';

// Real sockets on 127.0.0.1. The proxy never releases a byte early, so lower bounds on delays and
// durations hold on any machine; how close they come to the settings is load-dependent and measured by
// `npm run bench:timing` instead.

async function listen(onSocket: (socket: Socket) => void): Promise<{ server: Server; port: number }> {
  const server = createServer({ allowHalfOpen: true }, onSocket);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return { server, port: typeof address === 'object' && address ? address.port : 0 };
}

async function proxyTo(port: number, link: Partial<WanProxyOptions>): Promise<WanProxy> {
  return startWanProxy({ listenHost: '127.0.0.1', listenPort: 0, toHost: '127.0.0.1', toPort: port, delayMs: 0, ...link });
}

async function dial(port: number): Promise<Socket> {
  const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true, noDelay: true });
  await once(socket, 'connect');
  return socket;
}

/** Deterministic, non-repeating-looking bytes, so a reordered or dropped slice changes the digest. */
function pattern(size: number, seed: number): Buffer {
  const buffer = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i += 1) buffer[i] = (i * 131 + seed + (i >>> 11)) & 255;
  return buffer;
}

t.test('each round trip takes at least twice the one-way delay, and not twice that', async (t) => {
  const echo = await listen((socket) => socket.pipe(socket));
  t.teardown(() => echo.server.close());
  const proxy = await proxyTo(echo.port, { delayMs: 40 });
  t.teardown(() => proxy.close());
  const through = await roundTrips(proxy.port, 9);
  t.comment(`RTT through the proxy: ${through.map((ms) => ms.toFixed(1)).join(' ')} ms (expected 80 plus loopback)`);
  t.ok(through[0]! >= 80, `the fastest round trip ${through[0]!.toFixed(1)} ms is not under 2 x 40 ms: no byte leaves early`);
  // A delay applied twice per direction would make every sample >= 160 ms; a loaded machine adds lag to
  // some samples, but not 80 ms to all nine.
  t.ok(through[0]! < 160, `the fastest round trip ${through[0]!.toFixed(1)} ms is under 4 x 40 ms: the delay is applied once per direction`);
});

t.test('the rate caps throughput and bytes arrive intact', async (t) => {
  const rate = 8_000_000;
  const hash = createHash('sha256');
  const arrivals: { at: number; total: number }[] = [];
  let received = 0;
  const sink = await listen((socket) => {
    socket.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      received += chunk.length;
      arrivals.push({ at: performance.now(), total: received });
    });
    socket.on('end', () => socket.end());
  });
  t.teardown(() => sink.server.close());
  const proxy = await proxyTo(sink.port, { delayMs: 20, rateBytesPerSec: rate });
  t.teardown(() => proxy.close());

  // Offer 2.75 s worth: more than the link carries in 2.5 s, so the proxy (not the sender) sets the pace.
  const data = pattern(22_000_000, 7);
  const client = await dial(proxy.port);
  const started = performance.now();
  client.end(data);
  await once(client, 'end'); // the sink ends after our FIN arrived: every byte went through
  client.destroy();

  t.equal(received, data.length, 'every byte arrived');
  t.equal(hash.digest('hex'), createHash('sha256').update(data).digest('hex'), 'in order and unchanged');
  const last = arrivals[arrivals.length - 1];
  if (!last) throw new Error('no arrivals');
  // The token bucket lets at most its burst (16 KiB at this rate) through ahead of the rate, and the last
  // byte also waits out the delay: a hard floor for the duration, whatever the load.
  const floorMs = ((data.length - 16 * 1024) * 1000) / rate + 20;
  const elapsedMs = last.at - started;
  const measured = (data.length * 1000) / elapsedMs;
  t.comment(`throughput ${(measured / 1e6).toFixed(3)} MB/s over ${(elapsedMs / 1000).toFixed(2)} s (set ${rate / 1e6} MB/s, floor ${Math.round(floorMs)} ms)`);
  t.ok(elapsedMs >= floorMs, `${Math.round(elapsedMs)} ms >= ${Math.round(floorMs)} ms: never faster than the rate`);
  // Far from the rate in the other direction means a wrong unit (bits for bytes) or a stalled link.
  t.ok(measured >= rate / 4, `throughput ${(measured / 1e6).toFixed(2)} MB/s is at least a quarter of the rate`);
  t.equal(proxy.stats().up.bytes, data.length, 'stats count the delivered bytes');
});

t.test('a slow reader does not make the proxy buffer without bound', async (t) => {
  const bound = 1024 * 1024;
  let reader: Socket | undefined;
  const hash = createHash('sha256');
  const sink = await listen((socket) => {
    reader = socket;
    socket.pause(); // reads nothing until resumed
    socket.on('data', (chunk: Buffer) => hash.update(chunk));
    socket.on('end', () => socket.end());
  });
  t.teardown(() => sink.server.close());
  const proxy = await proxyTo(sink.port, { delayMs: 5, maxQueuedBytes: bound });
  t.teardown(() => proxy.close());

  const data = pattern(64 * 1024 * 1024, 3);
  const client = await dial(proxy.port);
  client.end(data);
  await until(() => proxy.stats().up.pauses >= 1, 'the proxy stops reading from the sender');
  const stalled = proxy.stats();
  t.comment(`stalled: proxy holds ${stalled.up.queuedBytes} B (peak ${stalled.up.peakQueuedBytes}, bound ${bound}), paused ${stalled.up.pauses}x`);
  t.ok(stalled.up.pauses >= 1, 'the proxy stopped reading from the sender');
  t.ok(stalled.up.peakQueuedBytes <= bound + 64 * 1024, 'what the proxy holds stays under the bound plus one socket read');
  t.ok(stalled.up.bytes < data.length / 2, `the sender is held back by TCP flow control (${stalled.up.bytes} B delivered)`);
  t.ok(client.writableLength > data.length / 2, `the sender still holds ${client.writableLength} B it could not write`);

  reader?.resume();
  await once(client, 'end');
  client.destroy();
  t.equal(hash.digest('hex'), createHash('sha256').update(data).digest('hex'), 'after resuming, every byte arrives in order');
  t.ok(proxy.stats().up.peakQueuedBytes <= bound + 64 * 1024, 'still bounded at the end');
});

t.test('jitter varies the delay without reordering bytes', async (t) => {
  const hash = createHash('sha256');
  const sink = await listen((socket) => {
    socket.on('data', (chunk: Buffer) => hash.update(chunk));
    socket.on('end', () => socket.end());
  });
  t.teardown(() => sink.server.close());
  const proxy = await proxyTo(sink.port, { delayMs: 10, jitterMs: 8, rateBytesPerSec: 50_000_000 });
  t.teardown(() => proxy.close());
  const data = pattern(4 * 1024 * 1024, 11);
  const client = await dial(proxy.port);
  client.end(data);
  await once(client, 'end');
  client.destroy();
  t.equal(hash.digest('hex'), createHash('sha256').update(data).digest('hex'), 'same bytes, same order');
});

t.test('half-close travels after the data, both ways; errors destroy the other side', async (t) => {
  // Echo server that answers after the client's FIN: only works if the FIN is propagated (half-close).
  const echo = await listen((socket) => {
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => socket.end(Buffer.concat(chunks)));
  });
  t.teardown(() => echo.server.close());
  let connectionClosed = (): void => {};
  const closedInProxy = new Promise<void>((resolve) => { connectionClosed = resolve; });
  const proxy = await proxyTo(echo.port, { delayMs: 15, log: (event) => event === 'connection-closed' && connectionClosed() });
  t.teardown(() => proxy.close());
  const client = await dial(proxy.port);
  const start = performance.now();
  client.end('hello over the wan');
  const replies: Buffer[] = [];
  client.on('data', (chunk: Buffer) => replies.push(chunk));
  await once(client, 'end');
  t.equal(Buffer.concat(replies).toString(), 'hello over the wan');
  t.ok(performance.now() - start >= 29, 'the FIN and the reply each took the one-way delay');
  await once(client, 'close');
  await closedInProxy;
  t.equal(proxy.stats().connections.active, 0, 'the connection is gone from the proxy');

  // The target resets mid-stream: the client is closed at once.
  const resetter = await listen((socket) => socket.once('data', () => socket.resetAndDestroy()));
  t.teardown(() => resetter.server.close());
  const proxy2 = await proxyTo(resetter.port, { delayMs: 5 });
  t.teardown(() => proxy2.close());
  const victim = await dial(proxy2.port);
  victim.on('error', () => {});
  const victimError = once(victim, 'error');
  victim.write('boom');
  const [error] = (await victimError) as [NodeJS.ErrnoException];
  t.equal(error.code, 'ECONNRESET', 'a reset on the target side resets the client side');

  // Nothing listens behind the proxy: the client is closed rather than left hanging.
  const dead = await listen(() => {});
  const deadPort = dead.port;
  await new Promise<void>((resolve) => dead.server.close(() => resolve()));
  const proxy3 = await proxyTo(deadPort, { delayMs: 5 });
  t.teardown(() => proxy3.close());
  const orphan = await dial(proxy3.port);
  const [refused] = (await once(orphan, 'error')) as [NodeJS.ErrnoException];
  t.equal(refused.code, 'ECONNRESET', 'a refused upstream connection resets the client');
});

import t from 'tap';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { startWanProxy, type WanProxy, type WanProxyOptions } from '@ferry/wan';

// Real sockets on 127.0.0.1: what the proxy does to throughput and round trips is measured, not assumed.

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

/** Median round trip of a 1-byte ping through `port`, over an echo server. */
async function medianRtt(port: number, samples: number): Promise<number> {
  const socket = await dial(port);
  const times: number[] = [];
  for (let i = 0; i < samples; i += 1) {
    const start = performance.now();
    socket.write('x');
    await once(socket, 'data');
    times.push(performance.now() - start);
  }
  socket.destroy();
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] ?? Number.NaN;
}

t.test('added round-trip time is twice the one-way delay (within 10%)', async (t) => {
  const echo = await listen((socket) => socket.pipe(socket));
  t.teardown(() => echo.server.close());
  const proxy = await proxyTo(echo.port, { delayMs: 40 });
  t.teardown(() => proxy.close());
  const direct = await medianRtt(echo.port, 5);
  const through = await medianRtt(proxy.port, 9);
  const added = through - direct;
  t.comment(`RTT direct ${direct.toFixed(2)} ms, through the proxy ${through.toFixed(2)} ms, added ${added.toFixed(2)} ms (expected 80)`);
  t.ok(Math.abs(added - 80) <= 8, `added RTT ${added.toFixed(1)} ms within 10% of 80 ms`);
});

t.test('throughput matches the rate (within 10%) and bytes arrive intact', async (t) => {
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
  client.end(data);
  await once(client, 'end'); // the sink ends after our FIN arrived: every byte went through
  client.destroy();

  t.equal(received, data.length, 'every byte arrived');
  t.equal(hash.digest('hex'), createHash('sha256').update(data).digest('hex'), 'in order and unchanged');
  // Rate over the steady part: skip the first 0.25 s (burst, slow start) and the tail.
  const first = arrivals[0];
  const startAt = (first?.at ?? 0) + 250;
  const from = arrivals.find((a) => a.at >= startAt);
  const to = arrivals[arrivals.length - 1];
  if (!from || !to) throw new Error('no arrivals');
  const measured = ((to.total - from.total) * 1000) / (to.at - from.at);
  t.comment(`throughput ${(measured / 1e6).toFixed(3)} MB/s over ${((to.at - from.at) / 1000).toFixed(2)} s (set ${rate / 1e6} MB/s)`);
  t.ok(Math.abs(measured - rate) / rate <= 0.1, `throughput ${(measured / 1e6).toFixed(2)} MB/s within 10% of 8 MB/s`);
  t.ok(to.at - from.at > 2000, 'measured over more than 2 s');
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
  await sleep(1500);
  const stalled = proxy.stats();
  t.comment(`stalled: proxy holds ${stalled.up.queuedBytes} B (peak ${stalled.up.peakQueuedBytes}, bound ${bound}), paused ${stalled.up.pauses}x`);
  t.ok(stalled.up.pauses >= 1, 'the proxy stopped reading from the sender');
  t.ok(stalled.up.peakQueuedBytes <= bound + 64 * 1024, 'what the proxy holds stays under the bound plus one socket read');
  t.ok(stalled.up.bytes < data.length / 2, `the sender is held back by TCP flow control (${stalled.up.bytes} B delivered)`);

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
  const proxy = await proxyTo(echo.port, { delayMs: 15 });
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
  await sleep(20);
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

/**
 * The /events fan-out of @ferry/serve on a real WebSocket server: a watcher that stops reading is
 * disconnected once its queue passes the bound, while a watcher that reads keeps getting every event.
 */
import t from 'tap';
import { createServer } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import pino from 'pino';
import { WebSocket, WebSocketServer } from 'ws';
import { EventFeed, MAX_WATCHER_BUFFERED_BYTES } from '@ferry/serve';

t.test('a watcher that does not read is dropped; one that reads gets everything', async (t) => {
  const feed = new EventFeed(pino({ level: 'silent' }));
  const server = createServer();
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => feed.add(ws));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => { feed.close(); wss.close(); server.close(); });
  const { port } = server.address() as AddressInfo;

  const stuck = connect(port, '127.0.0.1');
  stuck.write(`GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  await new Promise((resolve) => stuck.once('data', resolve));
  stuck.pause(); // never reads again
  t.teardown(() => stuck.destroy());

  const reader = new WebSocket(`ws://127.0.0.1:${port}`);
  const received: string[] = [];
  let wake = (): void => {};
  reader.on('message', (data: Buffer) => { received.push(data.toString()); wake(); });
  await new Promise((resolve) => reader.once('open', resolve));
  t.teardown(() => reader.terminate());
  while (feed.size < 2) await new Promise((resolve) => setImmediate(resolve));

  const line = 'x'.repeat(64 * 1024);
  const events = Math.ceil((8 * MAX_WATCHER_BUFFERED_BYTES) / line.length);
  for (let i = 0; i < events; i++) {
    const arrived = new Promise<void>((resolve) => { wake = resolve; });
    feed.broadcast({ event: 'state', migrationId: 'big', name: line, bytes: i });
    await arrived; // the reader has it: the pace is the reader's
  }
  t.equal(received.length, events, 'the reading watcher got every event');
  t.equal(feed.size, 1, 'the watcher that does not read was disconnected');
});

/**
 * Connections that never authenticate are
 * closed and bounded in number; sessions that move no bytes are dropped; a session that never made
 * progress does not hold a --max-migrations slot through the resume grace; a paused session that loses
 * its source, or whose source goes silent, is dropped and its partial image removed.
 */
import t from 'tap';
import { existsSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { encodeControl, encodePages, ErrorCode, MessageType, PageEncoding } from '@ferry/protocol';
import { scratchDir } from '../helpers/ferry.js';
import { helloClient, spawnTarget } from '../helpers/target-client.js';

const PAGE = 4096;
const images = [{ name: 'ram', size: 64 * PAGE, pageSize: PAGE }];

function rawConnection(url: string, send?: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  socket.on('error', () => {});
  return new Promise((resolve) => socket.once('connect', () => {
    if (send) socket.write(send);
    resolve(socket);
  }));
}

const closedSocket = (socket: Socket): Promise<void> => new Promise((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())));

/** Subscribes to the target's /events feed; the returned promise is for one event from then on. */
async function eventOf(url: string, event: string, migrationId: string): Promise<Promise<void>> {
  const ws = new WebSocket(`${url}/events`);
  const seen = new Promise<void>((resolve) => ws.on('message', (data: Buffer) => {
    const line = JSON.parse(data.toString('utf8')) as { event: string; migrationId?: string };
    if (line.event === event && line.migrationId === migrationId) {
      ws.terminate();
      resolve();
    }
  }));
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  return seen;
}

t.test('connections that do not authenticate are closed, and only so many may wait', async (t) => {
  const root = scratchDir(t);
  writeFileSync(join(root, 'token'), 'a-token-the-clients-do-not-have\n');
  // 1 s instead of the default 3: the test proves that they are closed, not when.
  const target = await spawnTarget(t, join(root, 'target'), ['--token-file', join(root, 'token'), '--pre-auth-timeout', '1s']);
  const silent = await Promise.all(Array.from({ length: 40 }, () => rawConnection(target.url)));
  const halfSent = await Promise.all(Array.from({ length: 40 }, () => rawConnection(target.url, 'GET /migrate HTTP/1.1\r\nHost: x\r\n')));
  t.teardown(() => { for (const socket of [...silent, ...halfSent]) socket.destroy(); });
  await Promise.all([...silent, ...halfSent].map(closedSocket));
  t.pass('all 80 silent and half-sent connections were closed by the target');
  const response = await fetch(`${target.url.replace('ws', 'http')}/status`);
  t.equal(response.status, 401, 'the target still answers (and still wants its token)');
});

t.test('idle sessions are dropped and free their slots; no progress means no resume grace', async (t) => {
  const dir = join(scratchDir(t), 'target');
  const target = await spawnTarget(t, dir, ['--max-migrations', '2', '--idle-timeout', '1', '--resume-grace', '600']);
  const idle = await Promise.all(['idle-a', 'idle-b'].map((id) => helloClient(target.url, { id, images })));
  for (const client of idle) t.match(await client.next(), { type: MessageType.Welcome });
  for (const client of idle) {
    t.match(await client.next(), { type: MessageType.Error, code: ErrorCode.Timeout, message: /no bytes moved/ }, 'a session that moves nothing is dropped');
    await client.closed;
  }
  const quitter = await helloClient(target.url, { id: 'quitter', images });
  t.match(await quitter.next(), { type: MessageType.Welcome }, 'the slots are free again');
  const failed = await eventOf(target.url, 'failed', 'quitter');
  quitter.ws.terminate();
  await failed;
  t.notOk(existsSync(join(dir, 'quitter', 'ram.partial')), 'a session that never made progress is not kept for a resume');
});

t.test('a paused session that loses its source, or whose source goes silent, is dropped', async (t) => {
  const dir = join(scratchDir(t), 'target');
  const target = await spawnTarget(t, dir, ['--idle-timeout', '2']);
  for (const how of ['cut', 'silent'] as const) {
    const id = `paused-${how}`;
    const source = await helloClient(target.url, { id, images });
    t.match(await source.next(), { type: MessageType.Welcome });
    source.send(encodeControl({ type: MessageType.PassBegin, pass: 0 }));
    source.send(encodePages({ imageIndex: 0, pass: 0 }, [{ pageIndex: 1, encoding: PageEncoding.Raw, payload: new Uint8Array(PAGE).fill(1) }]));
    source.send(encodeControl({ type: MessageType.PassEnd, pass: 0, pages: 1, bytes: PAGE }));
    t.match(await source.next(), { type: MessageType.Ack });
    source.send(encodeControl({ type: MessageType.Paused }));
    const failed = await eventOf(target.url, 'failed', id);
    if (how === 'cut') source.ws.terminate();
    else t.match(await source.next(), { type: MessageType.Error, code: ErrorCode.Timeout }, 'the silent paused source hears a timeout');
    await failed;
    t.notOk(existsSync(join(dir, id, 'ram.partial')), `${how}: the session was dropped and its partial image removed`);
  }
});

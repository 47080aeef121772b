/**
 * Anonymous sockets cannot lock sources out of a target. Idle TCP connections beyond the pre-auth limit
 * (held open for longer than the test runs) push out older idle ones, never the newcomer, so a source with
 * the token still gets in, and a migration cut mid-pass still resumes; one address cannot take every place.
 */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { decodeMessage, encodeControl, MessageType, PROTOCOL_VERSION, type Message } from '@ferry/protocol';
import { fillImage } from '@ferry/workload';
import { CutProxy } from '../helpers/cut-proxy.js';
import { runMigrate, scratchDir, sha256 } from '../helpers/ferry.js';
import { spawnTarget } from '../helpers/target-client.js';
import { until } from '../helpers/wait.js';

const TOKEN = 'pre-auth-test-token';
const LIMIT = 8;
/** Longer than any test here: an idle socket is only ever closed to make room. */
const HOLD = ['--pre-auth-timeout', '600s', '--max-pre-auth', String(LIMIT)];

function tokenFile(dir: string): string {
  writeFileSync(join(dir, 'token'), TOKEN, { mode: 0o600 });
  return join(dir, 'token');
}

interface Idle {
  readonly sockets: Socket[];
  closed(): number;
}

/** `count` TCP connections from `localAddress` (any of 127.0.0.0/8) that never send a byte. */
async function idleSockets(url: string, count: number, localAddress: string): Promise<Idle> {
  const { hostname, port } = new URL(url);
  const sockets = await Promise.all(Array.from({ length: count }, () => new Promise<Socket>((resolve, reject) => {
    const socket = connect({ port: Number(port), host: hostname, localAddress });
    socket.once('connect', () => resolve(socket)).once('error', reject);
  })));
  let closed = 0;
  for (const socket of sockets) {
    socket.on('error', () => {});
    socket.once('close', () => { closed += 1; });
  }
  return { sockets, closed: () => closed };
}

/** Opens /migrate with the token and says HELLO: resolves with the target's first answer. */
async function authorisedHello(url: string, id: string): Promise<Message> {
  const ws = new WebSocket(`${url}/migrate`, { headers: { authorization: `Bearer ${TOKEN}` } });
  try {
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const answer = new Promise<Message>((resolve) => ws.once('message', (data: Buffer) => resolve(decodeMessage(new Uint8Array(data)))));
    ws.send(encodeControl({
      type: MessageType.Hello, version: PROTOCOL_VERSION, migrationId: id, resume: false, options: {},
      images: [{ name: 'ram', size: 16 * 4096, pageSize: 4096 }],
    }));
    return await answer;
  } finally {
    ws.terminate();
  }
}

t.test('more idle sockets than the limit: a source with the token still gets in', async (t) => {
  const dir = scratchDir(t);
  const target = await spawnTarget(t, join(dir, 'target'), ['--token-file', tokenFile(dir), ...HOLD, '--max-pre-auth-per-address', String(LIMIT)]);
  const idle = await idleSockets(target.url, LIMIT + 4, '127.0.0.2');
  t.teardown(() => { for (const socket of idle.sockets) socket.destroy(); });
  await until(() => idle.closed() >= 4, 'the target has taken all the idle sockets in (the limit is full)');
  t.match(await authorisedHello(target.url, 'gets-in'), { type: MessageType.Welcome }, 'the authorised upgrade and HELLO succeed');
  t.ok(idle.sockets.filter((s) => !s.destroyed).length >= LIMIT - 2, 'while the idle sockets mostly stay open: only the oldest made room');
});

t.test('one address cannot take every place: its oldest make room for its newest', async (t) => {
  const dir = scratchDir(t);
  const target = await spawnTarget(t, join(dir, 'target'), ['--token-file', tokenFile(dir), ...HOLD, '--max-pre-auth-per-address', '4']);
  const honest = await idleSockets(target.url, 1, '127.0.0.3');
  const flood = await idleSockets(target.url, 3 * LIMIT, '127.0.0.2');
  t.teardown(() => { for (const socket of [...honest.sockets, ...flood.sockets]) socket.destroy(); });
  await until(() => flood.closed() === 3 * LIMIT - 4, 'all but 4 of the flood are closed');
  t.equal(honest.closed(), 0, 'the connection from another address still waits');
  const [socket] = honest.sockets;
  const { port } = new URL(target.url);
  socket!.write(`GET /events HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${TOKEN}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  const answer = await new Promise<string>((resolve) => socket!.once('data', (data: Buffer) => resolve(data.toString('latin1'))));
  t.match(answer, /^HTTP\/1\.1 101 /, 'and its authorised upgrade succeeds');
});

t.test('a migration cut mid-pass resumes while idle sockets fill the limit', async (t) => {
  const dir = scratchDir(t);
  const token = tokenFile(dir);
  const image = join(dir, 'vm.ram');
  await fillImage(image, 32 * 1024 * 1024, { seed: 18 });
  const target = await spawnTarget(t, join(dir, 'target'), ['--token-file', token, ...HOLD, '--max-pre-auth-per-address', String(LIMIT)]);
  const proxy = await CutProxy.start(target.url);
  t.teardown(() => proxy.close());
  let idle: Idle | undefined;
  t.teardown(() => { for (const socket of idle?.sockets ?? []) socket.destroy(); });
  let attack: Promise<void> | undefined;
  const run = await runMigrate(t, ['--to', proxy.url, '--id', 'cut-while-flooded', '--image', `ram=${image}`, '--token-file', token, '--rate-limit', '2MB/s', '--reconnect-timeout', '15'], (event) => {
    if (attack || event['event'] !== 'progress' || Number(event['bytesSent']) < 1e6) return;
    attack = (async () => {
      idle = await idleSockets(target.url, LIMIT + 4, '127.0.0.2');
      await until(() => idle!.closed() >= 4, 'the limit is full of idle sockets');
      proxy.cut();
    })();
  });
  await attack;
  t.equal(proxy.cuts, 1, 'the link was cut while the limit was full');
  t.equal(run.code, 0, `migrate commits (stderr: ${run.stderr.slice(-1500)})`);
  t.ok(run.events.some((e) => e['event'] === 'reconnected' && e['resumed'] === true), 'the source reconnected and resumed its session');
  t.equal(await sha256(join(dir, 'target', 'cut-while-flooded', 'ram')), await sha256(image), 'byte-identical');
});

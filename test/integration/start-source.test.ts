/**
 * `startSource` in process, over real HTTP on loopback: the token is enforced on every route and on
 * /events, a bad body is a 400 that says why, without starting anything, and idle sockets are bounded.
 */
import t from 'tap';
import pino from 'pino';
import { connect, type Socket } from 'node:net';
import { WebSocket } from 'ws';
import { startSource, type MigrationRequest } from '@ferry/agent-source';
import { until } from '../helpers/wait.js';

const TOKEN = 'start-source-test-token';

t.test('startSource refuses without the token and answers a bad body with a clear 400', async (t) => {
  let prepared = 0;
  const parseRequest = (body: unknown): MigrationRequest => {
    const image = (body as { image?: unknown }).image;
    if (!Array.isArray(image)) throw new Error('at least one --image NAME=PATH is required');
    return { options: {} as MigrationRequest['options'], prepare: async () => { prepared++; throw new Error('not reached'); } };
  };
  const source = await startSource({ host: '127.0.0.1', port: 0, logger: pino({ level: 'silent' }), token: TOKEN, parseRequest });
  t.teardown(() => source.close());
  t.match(source.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  const auth = { authorization: `Bearer ${TOKEN}` };
  const post = { ...auth, 'content-type': 'application/json' };

  const anonymous = await fetch(`${source.url}/status`);
  t.equal(anonymous.status, 401, 'no token: refused');
  t.match(await anonymous.json(), { error: /bearer token/ });
  const wrong = await fetch(`${source.url}/migrations`, { method: 'POST', headers: { authorization: 'Bearer nope', 'content-type': 'application/json' }, body: '{"image":[]}' });
  t.equal(wrong.status, 401, 'a wrong token cannot start a migration');

  const events = new WebSocket(`${source.url.replace(/^http/, 'ws')}/events`);
  const refused = await new Promise<number>((resolve) => events.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)).once('error', () => resolve(-1)));
  t.equal(refused, 401, '/events without the token is refused too');

  const status = await fetch(`${source.url}/status`, { headers: auth });
  t.equal(status.status, 200);
  t.same(await status.json(), { role: 'source', migrations: [] });

  const notJson = await fetch(`${source.url}/migrations`, { method: 'POST', headers: post, body: '{"to":' });
  t.equal(notJson.status, 400, 'a body that is not JSON');
  t.match(await notJson.json(), { error: /request body is not JSON/ });
  const missing = await fetch(`${source.url}/migrations`, { method: 'POST', headers: post, body: '{"to":"ws://127.0.0.1:1"}' });
  t.equal(missing.status, 400, 'options the parser refuses');
  t.match(await missing.json(), { error: /--image NAME=PATH is required/ }, "the parser's message reaches the client");

  const unknown = await fetch(`${source.url}/nowhere`, { headers: auth });
  t.equal(unknown.status, 404);
  t.equal(prepared, 0, 'no refused request started a migration');
  t.same(source.status(), { role: 'source', migrations: [] });
});

t.test('idle connections are bounded on the source too, and never lock a client with the token out', async (t) => {
  const parseRequest = (): MigrationRequest => { throw new Error('not reached'); };
  const preAuth = { maxConnections: 2, timeoutMs: 600_000 };
  const source = await startSource({ host: '127.0.0.1', port: 0, logger: pino({ level: 'silent' }), token: TOKEN, preAuth, parseRequest });
  t.teardown(() => source.close());
  const idle = await Promise.all(Array.from({ length: 4 }, () => new Promise<Socket>((resolve) => {
    const socket = connect(source.port, '127.0.0.1', () => resolve(socket));
  })));
  let closed = 0;
  for (const socket of idle) socket.once('close', () => { closed += 1; }).on('error', () => {});
  t.teardown(() => { for (const socket of idle) socket.destroy(); });
  await until(() => closed === 2, 'the two oldest idle connections made room');
  const status = await fetch(`${source.url}/status`, { headers: { authorization: `Bearer ${TOKEN}` } });
  t.equal(status.status, 200, 'a client with the token is served while the limit is full');
});

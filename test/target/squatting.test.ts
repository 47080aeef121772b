/**
 * Sources that hold a target's slots, table memory or kept sessions without migrating anything, written
 * as an attacker would with raw WebSocket clients against a running `ferry target`.
 */
import t from 'tap';
import { encodeControl, encodePages, ErrorCode, MessageType, PageEncoding } from '@ferry/protocol';
import { scratchDir } from '../helpers/ferry.js';
import { helloClient, secretOf, spawnTarget, type Client } from '../helpers/target-client.js';

const PAGE = 4096;
const GiB = 1024 * 1024 * 1024;

const hello = (url: string, id: string, size = 64 * PAGE, extra: { resume?: boolean; sessionSecret?: string } = {}): Promise<Client> =>
  helloClient(url, { id, images: [{ name: 'ram', size, pageSize: PAGE }], ...extra });

/** One pass of pages `indices` (each filled with `fill`): enough progress for the target to keep the session across a cut. */
function sendPass(client: Client, indices: number[], encoding: PageEncoding = PageEncoding.Raw, fill = 7): void {
  client.send(encodeControl({ type: MessageType.PassBegin, pass: 0 }));
  client.send(encodePages({ imageIndex: 0, pass: 0 }, indices.map((pageIndex) => (encoding === PageEncoding.Zero
    ? { pageIndex, encoding: PageEncoding.Zero, payload: new Uint8Array(0) }
    : { pageIndex, encoding: PageEncoding.Raw, payload: new Uint8Array(PAGE).fill(fill) }))));
  client.send(encodeControl({ type: MessageType.PassEnd, pass: 0, pages: indices.length, bytes: indices.length * PAGE }));
}

interface Status {
  tableMemory: { reserved: number; limit: number };
  migrations: Array<{ migrationId: string; phase: string; attached: boolean }>;
}

async function status(url: string): Promise<Status> {
  const response = await fetch(`${url.replace(/^ws/, 'http')}/status`);
  return await response.json() as Status;
}

/** Polls /status until `holds` is true of it: waits for a state the target reports, not for a time. */
async function untilStatus(url: string, holds: (s: Status) => boolean, what: string): Promise<void> {
  const deadline = performance.now() + 30_000;
  while (!holds(await status(url))) {
    if (performance.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Waits until the target lists `id` as kept for a resume (no connection attached). */
const untilDetached = (url: string, id: string): Promise<void> =>
  untilStatus(url, (s) => s.migrations.some((m) => m.migrationId === id && !m.attached), `${id} is detached`);

t.test('sessions that said HELLO, sent one ZERO page and left do not hold the slots of new migrations', async (t) => {
  const dir = scratchDir(t);
  const target = await spawnTarget(t, dir, ['--max-migrations', '2', '--resume-grace', '600']);
  for (const id of ['squat-1', 'squat-2']) {
    const squatter = await hello(target.url, id);
    t.match(await squatter.next(), { type: MessageType.Welcome });
    sendPass(squatter, [0], PageEncoding.Zero);
    t.match(await squatter.next(), { type: MessageType.Ack });
    squatter.ws.terminate();
    await untilDetached(target.url, id);
  }
  const honest = await hello(target.url, 'honest');
  t.match(await honest.next(), { type: MessageType.Welcome, resumed: false }, 'a new migration gets a slot while two sessions wait for a resume');
  honest.ws.terminate();
});

t.test('a HELLO announcing 32 GiB reserves nothing: the table budget pays for pages that arrived', async (t) => {
  const dir = scratchDir(t);
  const target = await spawnTarget(t, dir);
  const big = await hello(target.url, 'announced', 32 * GiB);
  t.match(await big.next(), { type: MessageType.Welcome }, 'the announcement alone is welcomed');
  t.equal((await status(target.url)).tableMemory.reserved, 0, 'and costs no table memory');
  const honest = await hello(target.url, 'honest', GiB);
  t.match(await honest.next(), { type: MessageType.Welcome }, 'a second migration still fits beside it');
  sendPass(honest, [0]);
  t.match(await honest.next(), { type: MessageType.Ack, pagesApplied: 1 });
  t.equal((await status(target.url)).tableMemory.reserved, 16 * 12, 'one page that arrived costs the sparse table\'s first 16 slots, not a 128 KiB chunk');
  for (const client of [big, honest]) client.ws.terminate();
});

t.test('table memory past --max-table-memory fails the session that needs it, with the flag named', async (t) => {
  const dir = scratchDir(t);
  // One migration at a time: its share is the whole 384 KiB, i.e. two dense chunks and the sparse rest.
  const target = await spawnTarget(t, dir, ['--max-table-memory', '384KiB', '--max-migrations', '1']);
  const chunkPages = 16 * 1024;
  const size = 3 * chunkPages * PAGE; // three 128 KiB table chunks once every page holds data
  const huge = await hello(target.url, 'too-big', 4 * size);
  t.match(await huge.next(), { type: MessageType.Error, code: ErrorCode.Limit, message: /--max-table-memory/ }, 'a HELLO that could never complete is refused up front');
  const first = await hello(target.url, 'first', size);
  t.match(await first.next(), { type: MessageType.Welcome });
  // Page 0, then COPY records of it: 2048 pages in each chunk make it dense.
  const copies = Array.from({ length: 3 * 2048 }, (_, k) => ({ pageIndex: Math.floor(k / 2048) * chunkPages + (k % 2048) + 1, encoding: PageEncoding.Copy, payload: new Uint8Array(4) }));
  first.send(encodeControl({ type: MessageType.PassBegin, pass: 0 }));
  first.send(encodePages({ imageIndex: 0, pass: 0 }, [{ pageIndex: 0, encoding: PageEncoding.Raw, payload: new Uint8Array(PAGE).fill(7) }, ...copies]));
  t.match(await first.next(), { type: MessageType.Error, code: ErrorCode.Limit, message: /--max-table-memory/ }, 'the chunk past the budget fails its session');
  await first.closed;
  t.equal((await status(target.url)).tableMemory.reserved, 0, 'what the failed session held is given back');
});

t.test('a fresh HELLO does not replace a session waiting for its source to resume', async (t) => {
  const dir = scratchDir(t);
  const target = await spawnTarget(t, dir, ['--resume-grace', '600']);
  const source = await hello(target.url, 'victim');
  const secret = secretOf(await source.next());
  sendPass(source, [3]);
  t.match(await source.next(), { type: MessageType.Ack, pagesApplied: 1 });
  source.ws.terminate();
  await untilDetached(target.url, 'victim');

  const fresh = await hello(target.url, 'victim');
  t.match(await fresh.next(), { type: MessageType.Error, code: ErrorCode.Conflict, message: /waiting for its source to resume/ }, 'a HELLO without the secret is refused');
  await fresh.closed;
  const guess = await hello(target.url, 'victim', 64 * PAGE, { resume: true, sessionSecret: 'guessed' });
  t.match(await guess.next(), { type: MessageType.Error, code: ErrorCode.Auth }, 'a resume with a wrong secret is refused');
  await guess.closed;

  const resumed = await hello(target.url, 'victim', 64 * PAGE, { resume: true, sessionSecret: secret });
  t.match(await resumed.next(), { type: MessageType.Welcome, resumed: true }, 'the real source still resumes');
  resumed.ws.terminate();
});

t.test('when a cut session must be dropped to make room, it is the one that received the least', async (t) => {
  const dir = scratchDir(t);
  const target = await spawnTarget(t, dir, ['--max-migrations', '1', '--resume-grace', '600']);
  const squatter = await hello(target.url, 'squat');
  t.match(await squatter.next(), { type: MessageType.Welcome });
  sendPass(squatter, [0], PageEncoding.Zero);
  t.match(await squatter.next(), { type: MessageType.Ack });
  squatter.ws.terminate();
  await untilDetached(target.url, 'squat');

  const source = await hello(target.url, 'real');
  const secret = secretOf(await source.next());
  sendPass(source, [1, 2, 3, 4]);
  t.match(await source.next(), { type: MessageType.Ack, pagesApplied: 4 });
  source.ws.terminate();
  await untilDetached(target.url, 'real');
  await untilStatus(target.url, (s) => !s.migrations.some((m) => m.migrationId === 'squat'), 'the squatter is dropped');
  t.same((await status(target.url)).migrations.map((m) => m.migrationId), ['real'], 'the session that moved more bytes is kept, the squatter dropped');
  const resumed = await hello(target.url, 'real', 64 * PAGE, { resume: true, sessionSecret: secret });
  t.match(await resumed.next(), { type: MessageType.Welcome, resumed: true });
  resumed.ws.terminate();
});

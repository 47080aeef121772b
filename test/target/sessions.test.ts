/**
 * Session bookkeeping on a running `ferry target`, driven by a raw WebSocket client: a second source
 * for a migration in progress is refused, a kept (cut) session is resumed with its page tables or
 * refused to a HELLO without its secret, and --max-migrations is enforced with a clear error.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { WebSocket } from 'ws';
import { readFileSync } from 'node:fs';
import {
  digestToHex, encodeControl, encodePages, ErrorCode, MessageType, PageEncoding,
} from '@ferry/protocol';
import { blockDigests, createPageHasher, tableDigest, zeroPageHash } from '@ferry/pages';
import { FERRY, scratchDir } from '../helpers/ferry.js';
import { helloClient, type Client } from '../helpers/target-client.js';

const PAGE = 4096;

/** A source's first message: HELLO for one 64-page image `ram`. */
const hello = (url: string, id: string, resume: boolean, sessionSecret?: string): Promise<Client> =>
  helloClient(url, { id, resume, images: [{ name: 'ram', size: 64 * PAGE, pageSize: PAGE }], ...(sessionSecret !== undefined ? { sessionSecret } : {}) });

/** The target's /events feed, to wait for what the target did rather than guess when it is done. */
async function events(url: string): Promise<{ next(event: string, migrationId: string): Promise<void>; close(): void }> {
  const ws = new WebSocket(`${url}/events`);
  const seen: Array<{ event: string; migrationId: string }> = [];
  const waiting: Array<{ event: string; migrationId: string; resolve: () => void }> = [];
  ws.on('message', (data: Buffer) => {
    const line = JSON.parse(data.toString('utf8')) as { event: string; migrationId: string };
    const at = waiting.findIndex((w) => w.event === line.event && w.migrationId === line.migrationId);
    if (at >= 0) waiting.splice(at, 1)[0]!.resolve();
    else seen.push(line);
  });
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  return {
    next: (event, migrationId) => {
      const at = seen.findIndex((s) => s.event === event && s.migrationId === migrationId);
      if (at >= 0) return Promise.resolve(void seen.splice(at, 1));
      return new Promise((resolve) => waiting.push({ event, migrationId, resolve }));
    },
    close: () => ws.terminate(),
  };
}

/** One pass with one page: a session that made progress, which the target keeps across a cut. */
function sendOnePass(ws: WebSocket): void {
  ws.send(encodeControl({ type: MessageType.PassBegin, pass: 0 }));
  ws.send(encodePages({ imageIndex: 0, pass: 0 }, [{ pageIndex: 1, encoding: PageEncoding.Raw, payload: new Uint8Array(PAGE).fill(1) }]));
  ws.send(encodeControl({ type: MessageType.PassEnd, pass: 0, pages: 1, bytes: PAGE }));
}

const closed = (ws: WebSocket): Promise<void> => new Promise((resolve) => (ws.readyState === WebSocket.CLOSED ? resolve() : ws.once('close', () => resolve())));

t.test('a running target keeps its sessions straight', async (t) => {
  const dir = scratchDir(t);
  const child = spawn(process.execPath, [FERRY, 'target', '--listen', '127.0.0.1:0', '--dir', join(dir, 'target'), '--max-migrations', '2'], { stdio: ['ignore', 'pipe', 'ignore'] });
  t.teardown(() => void child.kill('SIGKILL'));
  const url = await new Promise<string>((resolve) => createInterface({ input: child.stdout }).on('line', (line) => resolve((JSON.parse(line) as { url: string }).url)));

  const feed = await events(url);
  t.teardown(() => feed.close());
  const first = await hello(url, 'alpha', false);
  const welcome = await first.next();
  t.match(welcome, { type: MessageType.Welcome, resumed: false }, 'a new migration is welcomed');
  const secret = welcome.type === MessageType.Welcome ? welcome.sessionSecret : undefined;
  t.type(secret, 'string', 'with a session secret');
  sendOnePass(first.ws);
  t.match(await first.next(), { type: MessageType.Ack, pagesApplied: 1 }, 'the first page arrived');
  const twin = await hello(url, 'alpha', false);
  t.match(await twin.next(), { type: MessageType.Error, code: ErrorCode.Conflict }, 'a second source for the same migration is refused');
  await closed(twin.ws);

  const other = await hello(url, 'beta', false);
  t.match(await other.next(), { type: MessageType.Welcome });
  const third = await hello(url, 'gamma', false);
  t.match(await third.next(), { type: MessageType.Error, code: ErrorCode.Limit }, '--max-migrations 2 refuses a third');
  await closed(third.ws);

  first.ws.terminate(); // a cut during pre-copy: the target keeps "alpha" for a resume
  await feed.next('detached', 'alpha');
  const resumed = await hello(url, 'alpha', true, secret);
  t.match(await resumed.next(), { type: MessageType.Welcome, resumed: true }, 'the source resumes the kept session');
  t.match(await resumed.next(), { type: MessageType.PageTable, image: 0, firstPage: 0 }, 'and hears which pages the target holds');
  resumed.ws.terminate();
  await feed.next('detached', 'alpha'); // the new HELLO goes only once the target has seen the cut

  const restarted = await hello(url, 'alpha', false);
  t.match(await restarted.next(), { type: MessageType.Error, code: ErrorCode.Conflict }, 'a HELLO without the secret does not replace the kept session');
  other.ws.terminate();
});

t.test('verify names the differing ranges, and a matching table leads to COMMIT_READY, GO, RESUMED', async (t) => {
  const dir = scratchDir(t);
  const child = spawn(process.execPath, [FERRY, 'target', '--listen', '127.0.0.1:0', '--dir', join(dir, 'target')], { stdio: ['ignore', 'pipe', 'ignore'] });
  t.teardown(() => void child.kill('SIGKILL'));
  const url = await new Promise<string>((resolve) => createInterface({ input: child.stdout }).on('line', (line) => resolve((JSON.parse(line) as { url: string }).url)));
  const hasher = await createPageHasher();
  const client = await hello(url, 'verify', false);
  t.match(await client.next(), { type: MessageType.Welcome });

  // Pages 3 and 40 get content; the source "believes" page 10 was sent too, which the target never got.
  const page = (fill: number) => new Uint8Array(PAGE).fill(fill);
  client.ws.send(encodeControl({ type: MessageType.PassBegin, pass: 0 }));
  client.ws.send(encodePages({ imageIndex: 0, pass: 0 }, [
    { pageIndex: 3, encoding: PageEncoding.Raw, payload: page(3) },
    { pageIndex: 40, encoding: PageEncoding.Raw, payload: page(40) },
  ]));
  client.ws.send(encodeControl({ type: MessageType.PassEnd, pass: 0, pages: 2, bytes: 2 * PAGE }));
  t.match(await client.next(), { type: MessageType.Ack, pagesApplied: 2 });
  client.ws.send(encodeControl({ type: MessageType.Paused }));

  const table = new BigUint64Array(64).fill(zeroPageHash(hasher, PAGE));
  table[3] = hasher.hashPage(page(3));
  table[40] = hasher.hashPage(page(40));
  const verify = (hashes: BigUint64Array) => {
    const blocks = blockDigests(hasher, hashes, 8);
    return encodeControl({
      type: MessageType.Verify, image: 0, pageCount: 64, digest: digestToHex(tableDigest(hasher, hashes)), blockPages: 8,
      blockDigests: new Uint8Array(blocks.buffer),
    });
  };
  const believed = table.slice();
  believed[10] = hasher.hashPage(page(10));
  client.ws.send(verify(believed));
  t.match(await client.next(), { type: MessageType.VerifyResult, ok: false, mismatches: [[8, 16]] }, 'the block holding page 10 differs');

  client.ws.send(encodeControl({ type: MessageType.PassBegin, pass: 1 }));
  client.ws.send(encodePages({ imageIndex: 0, pass: 1 }, [{ pageIndex: 10, encoding: PageEncoding.Raw, payload: page(10) }]));
  client.ws.send(encodeControl({ type: MessageType.PassEnd, pass: 1, pages: 1, bytes: PAGE }));
  t.match(await client.next(), { type: MessageType.Ack });
  client.ws.send(verify(believed));
  t.match(await client.next(), { type: MessageType.VerifyResult, ok: true, mismatches: [] }, 'after the re-send the tables agree');
  t.match(await client.next(), { type: MessageType.CommitReady });
  client.ws.send(encodeControl({ type: MessageType.Go }));
  t.match(await client.next(), { type: MessageType.Resumed });
  const committed = readFileSync(join(dir, 'target', 'verify', 'ram'));
  t.same([committed[3 * PAGE], committed[10 * PAGE], committed[40 * PAGE], committed[11 * PAGE]], [3, 10, 40, 0], 'the committed file holds what was sent');
  client.ws.terminate();
});

/**
 * Session bookkeeping on a running `ferry target`, driven by a raw WebSocket client: a second source
 * for a migration in progress is refused, a kept (cut) session is resumed with its page tables or
 * replaced when its source starts over, and --max-migrations is enforced with a clear error.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { WebSocket } from 'ws';
import { decodeMessage, encodeControl, ErrorCode, MessageType, PROTOCOL_VERSION, type Message } from '@ferry/protocol';
import { FERRY, scratchDir } from '../helpers/ferry.js';

const PAGE = 4096;

interface Client { readonly ws: WebSocket; readonly messages: Message[]; next(): Promise<Message> }

async function hello(url: string, id: string, resume: boolean): Promise<Client> {
  const ws = new WebSocket(`${url}/migrate`);
  const messages: Message[] = [];
  const waiting: Array<(m: Message) => void> = [];
  ws.on('message', (data: Buffer) => {
    const message = decodeMessage(new Uint8Array(data));
    const waiter = waiting.shift();
    if (waiter) waiter(message);
    else messages.push(message);
  });
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  ws.send(encodeControl({
    type: MessageType.Hello, version: PROTOCOL_VERSION, migrationId: id, resume, options: {},
    images: [{ name: 'ram', size: 64 * PAGE, pageSize: PAGE }],
  }));
  const next = (): Promise<Message> => {
    const queued = messages.shift();
    return queued ? Promise.resolve(queued) : new Promise((resolve) => waiting.push(resolve));
  };
  return { ws, messages, next };
}

const closed = (ws: WebSocket): Promise<void> => new Promise((resolve) => (ws.readyState === WebSocket.CLOSED ? resolve() : ws.once('close', () => resolve())));

t.test('a running target keeps its sessions straight', async (t) => {
  const dir = scratchDir(t);
  const child = spawn(process.execPath, [FERRY, 'target', '--listen', '127.0.0.1:0', '--dir', join(dir, 'target'), '--max-migrations', '2'], { stdio: ['ignore', 'pipe', 'ignore'] });
  t.teardown(() => void child.kill('SIGKILL'));
  const url = await new Promise<string>((resolve) => createInterface({ input: child.stdout }).on('line', (line) => resolve((JSON.parse(line) as { url: string }).url)));

  const first = await hello(url, 'alpha', false);
  t.match(await first.next(), { type: MessageType.Welcome, resumed: false }, 'a new migration is welcomed');
  const twin = await hello(url, 'alpha', false);
  t.match(await twin.next(), { type: MessageType.Error, code: ErrorCode.Conflict }, 'a second source for the same migration is refused');
  await closed(twin.ws);

  const other = await hello(url, 'beta', false);
  t.match(await other.next(), { type: MessageType.Welcome });
  const third = await hello(url, 'gamma', false);
  t.match(await third.next(), { type: MessageType.Error, code: ErrorCode.Limit }, '--max-migrations 2 refuses a third');
  await closed(third.ws);

  first.ws.terminate(); // a cut during pre-copy: the target keeps "alpha" for a resume
  await closed(first.ws);
  const resumed = await hello(url, 'alpha', true);
  t.match(await resumed.next(), { type: MessageType.Welcome, resumed: true }, 'the source resumes the kept session');
  t.match(await resumed.next(), { type: MessageType.PageTable, image: 0, firstPage: 0 }, 'and hears which pages the target holds');
  resumed.ws.terminate();
  await closed(resumed.ws);

  const restarted = await hello(url, 'alpha', false);
  t.match(await restarted.next(), { type: MessageType.Welcome, resumed: false }, 'a source that starts over replaces the kept session');
  for (const client of [restarted, other]) client.ws.terminate();
});

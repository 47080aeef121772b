/**
 * `--base` against a hostile source: the operator's file is used only as the operator allows (image
 * name, page size, migration id), a source that does not fit learns neither its path nor its size, and
 * copying a large base does not stop the target from serving everyone else.
 */
import t from 'tap';
import { closeSync, existsSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { MessageType, type Message } from '@ferry/protocol';
import { scratchDir } from '../helpers/ferry.js';
import { helloClient, spawnTarget } from '../helpers/target-client.js';
import { until } from '../helpers/wait.js';

const PAGE = 4096;
// Not a power of two: the base's size must not match an unrelated number in a reply (WELCOME's ACK
// interval is 256 KiB, which 64 pages would equal).
const PAGES = 72;

/** A base whose page 3 holds a short secret among zeros: what 512-byte hashes would give away. */
function plantBase(dir: string): string {
  const path = join(dir, 'base.ram');
  const bytes = Buffer.alloc(PAGES * PAGE);
  bytes.write('pin=483920', 3 * PAGE);
  for (let page = 8; page < PAGES; page++) bytes.fill(page, page * PAGE, (page + 1) * PAGE);
  writeFileSync(path, bytes);
  return path;
}

/** The first reply to a HELLO for image `ram` of this geometry. */
async function firstReply(url: string, id: string, size: number, pageSize: number): Promise<Message> {
  const client = await helloClient(url, { id, images: [{ name: 'ram', size, pageSize }] });
  const reply = await client.next();
  client.ws.terminate();
  return reply;
}

t.test('a source cannot choose the page size of a base, nor learn its path or size', async (t) => {
  const dir = scratchDir(t);
  const base = plantBase(dir);
  const target = await spawnTarget(t, join(dir, 'target'), ['--base', `ram=${base}`]);

  t.match(await firstReply(target.url, 'fits', PAGES * PAGE, PAGE), { type: MessageType.Welcome, resumed: true }, 'a HELLO that fits the base is seeded from it');
  const small = await firstReply(target.url, 'small-pages', PAGES * PAGE, 512);
  t.match(small, { type: MessageType.Welcome, resumed: false }, 'with 512-byte pages the base is not used: no table of its hashes');
  const wrongSize = await firstReply(target.url, 'wrong-size', 2 * PAGES * PAGE, PAGE);
  t.match(wrongSize, { type: MessageType.Welcome, resumed: false }, 'another size: a cold migration, not an error');
  for (const reply of [small, wrongSize]) {
    const text = JSON.stringify(reply);
    t.notOk(text.includes(base) || text.includes(String(PAGES * PAGE)), 'the reply names neither the path nor the size of the base');
  }
  await until(() => target.stderr().includes('--base not used'), 'the target logs why the base was not used');
  t.match(target.stderr(), /--base not used for this migration: the source asks for another page size/, 'the reason is in the local log');
});

t.test('a base bound to a migration id seeds only that migration', async (t) => {
  const dir = scratchDir(t);
  const base = plantBase(dir);
  const target = await spawnTarget(t, join(dir, 'target'), ['--base', `ram=${base},page=4096,id=vm-42`]);
  t.match(await firstReply(target.url, 'intruder', PAGES * PAGE, PAGE), { type: MessageType.Welcome, resumed: false }, 'another id gets no table');
  const allowed = await helloClient(target.url, { id: 'vm-42', images: [{ name: 'ram', size: PAGES * PAGE, pageSize: PAGE }] });
  t.match(await allowed.next(), { type: MessageType.Welcome, resumed: true }, 'the bound id is seeded');
  t.match(await allowed.next(), { type: MessageType.PageTable, image: 0, firstPage: 0 }, 'and hears the table of the base');
  allowed.ws.terminate();
});

t.test('a bad --base is a usage error at start, naming the flag', async (t) => {
  const dir = scratchDir(t);
  const odd = join(dir, 'odd.ram');
  writeFileSync(odd, Buffer.alloc(1000));
  for (const [spec, why] of [[`ram=${odd}`, /not a positive multiple/], [`ram=${join(dir, 'missing')}`, /ENOENT/], [`ram=${odd},page=3000`, /power of two/]] as const) {
    const failed = await spawnTarget(t, join(dir, 'target'), ['--base', spec]).then(() => undefined, (error: Error) => error);
    t.match(failed?.message, why, `--base ${spec.slice(spec.lastIndexOf('/') + 1)} is refused`);
    t.match(failed?.message, /--base ram/, 'naming the flag');
  }
});

/** GET /status; resolves when the whole answer has arrived. */
function getStatus(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    request(`${url.replace(/^ws/, 'http')}/status`, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
    }).on('error', reject).end();
  });
}

t.test('while a large base is copied, the target still answers /status', async (t) => {
  const dir = scratchDir(t);
  const base = join(dir, 'big.ram');
  const size = 512 * 1024 * 1024;
  const chunk = Buffer.alloc(1024 * 1024);
  const fd = openSync(base, 'w');
  for (let at = 0; at < size; at += chunk.length) {
    for (let page = 0; page < chunk.length / PAGE; page++) chunk.writeUInt32LE(at + page * PAGE, page * PAGE); // every page non-zero and distinct
    writeSync(fd, chunk);
  }
  closeSync(fd);
  const target = await spawnTarget(t, join(dir, 'target'), ['--base', `ram=${base}`]);

  const order: string[] = [];
  const client = await helloClient(target.url, { id: 'big', images: [{ name: 'ram', size, pageSize: PAGE }] });
  client.ws.on('message', () => order.push('target message'));
  await until(() => existsSync(join(dir, 'target', 'big', 'ram.partial')), 'the copy has begun');
  const status = await getStatus(target.url);
  order.push('status answered');
  t.equal(status, 200);
  t.match(await client.next(), { type: MessageType.Welcome, resumed: true });
  t.match(await client.next(120_000), { type: MessageType.PageTable, image: 0, firstPage: 0 }, 'the table of the seeded image follows');
  const answered = order.indexOf('status answered');
  t.ok(answered >= 0 && order.slice(0, answered).length <= 1, `the /status round trip completed before the copy ended (order: ${order.slice(0, 3).join(', ')})`);
  client.ws.terminate();
});

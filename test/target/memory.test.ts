/**
 * A source may make a target hold page-table memory only in proportion to what it sends, and not keep
 * others from theirs. Real target processes: HELLOs for huge images, a source with the token that writes
 * one page in every table chunk, one that fills the whole budget densely, and resumes by sources that
 * never read; other migrations still commit, the peak RSS (VmHWM) stays under 256 MiB and connections it
 * replaced are closed.
 */
import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { closeSync, ftruncateSync, openSync, readdirSync, readlinkSync, writeFileSync, writeSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { encodeControl, encodePages, ErrorCode, MessageType, PageEncoding, PROTOCOL_VERSION } from '@ferry/protocol';
import { runMigrate, scratchDir, sha256 } from '../helpers/ferry.js';
import { helloClient, secretOf, sendAndStopReading, spawnTarget, type Client } from '../helpers/target-client.js';
import { until } from '../helpers/wait.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const TiB = 1024 * GiB;
const BUDGET = 256 * MiB;
/** Pages per table chunk on the target, and how many of them make it dense (agent-target/src/hash-table.ts). */
const CHUNK_PAGES = 16 * 1024;
const DENSE_AT = 2048;
const TOKEN = 'table-memory-test-token';

const socketsOf = (pid: number): number =>
  readdirSync(`/proc/${pid}/fd`).filter((fd) => { try { return readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:'); } catch { return false; } }).length;

t.test('HELLOs for images bigger than the whole table budget are refused up front; the target stays small and keeps serving', async (t) => {
  const target = await spawnTarget(t, join(scratchDir(t), 'target'));
  const huge = [
    { id: 'tib-512', images: Array.from({ length: 16 }, (_, i) => ({ name: `ram${i}`, size: TiB, pageSize: 512 })) },
    { id: 'tib-4k', images: [{ name: 'ram', size: TiB, pageSize: 4096 }] },
    { id: 'gib-64', images: [{ name: 'ram', size: 64 * GiB, pageSize: 4096 }] },
  ];
  for (const hello of huge) {
    const client = await helloClient(target.url, hello);
    const reply = await client.next();
    t.match(reply, { type: MessageType.Error, code: ErrorCode.Limit, message: /page tables.*--max-table-memory/ }, `${hello.id}: refused with a clear error`);
    t.not(await client.closed, 1000, `${hello.id}: and closed`);
  }
  const small = await helloClient(target.url, { id: 'small', images: [{ name: 'ram', size: 8 * MiB, pageSize: 4096 }] });
  t.match(await small.next(), { type: MessageType.Welcome }, 'a migration that fits is still welcomed');
  small.ws.terminate();
  t.ok(target.peakRss() < BUDGET, `peak RSS ${(target.peakRss() / MiB).toFixed(0)} MiB < 256 MiB`);
});

/** One page of 7s, then COPY records of it to `pages`: 13 bytes each on the wire. */
function copies(pages: number[]): Uint8Array {
  return encodePages({ imageIndex: 0, pass: 0 }, [
    { pageIndex: 0, encoding: PageEncoding.Raw, payload: new Uint8Array(4096).fill(7) },
    ...pages.map((pageIndex) => ({ pageIndex, encoding: PageEncoding.Copy, payload: new Uint8Array(4) })),
  ]);
}

function sendPass(client: Client, pages: number[]): void {
  client.send(encodeControl({ type: MessageType.PassBegin, pass: 0 }));
  client.send(copies(pages));
  client.send(encodeControl({ type: MessageType.PassEnd, pass: 0, pages: pages.length + 1, bytes: 0 }));
}

interface Status {
  tableMemory: { reserved: number; limit: number; share: number };
  migrations: Array<{ migrationId: string; attached: boolean }>;
}

async function status(url: string): Promise<Status> {
  const response = await fetch(`${url.replace(/^ws/, 'http')}/status`, { headers: { authorization: `Bearer ${TOKEN}` } });
  return await response.json() as Status;
}

const tableMemory = async (url: string): Promise<Status['tableMemory']> => (await status(url)).tableMemory;
const migrations = async (url: string): Promise<Status['migrations']> => (await status(url)).migrations;

/** Polls an asynchronous condition (the target's /status): waits for a state, not for a time. */
async function untilAsync(condition: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = performance.now() + 30_000;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function tokenFile(dir: string): string {
  writeFileSync(join(dir, 'token'), TOKEN, { mode: 0o600 });
  return join(dir, 'token');
}

/**
 * `ferry migrate` of an image with 4 MiB of random pages at the start of each of `chunks` table chunks
 * (zeros between them); resolves once it committed.
 */
async function honestMigration(t: Test, url: string, dir: string, id: string, chunks: number): Promise<void> {
  const image = join(dir, `${id}.img`);
  const file = openSync(image, 'w');
  for (let chunk = 0; chunk < chunks; chunk++) writeSync(file, randomBytes(4 * MiB), 0, 4 * MiB, chunk * CHUNK_PAGES * 4096);
  ftruncateSync(file, chunks * CHUNK_PAGES * 4096);
  closeSync(file);
  const run = await runMigrate(t, ['--to', url, '--id', id, '--image', `ram=${image}`, '--token-file', join(dir, 'token')]);
  t.equal(run.code, 0, `${id} commits: ${run.stderr.slice(-400)}`);
  t.equal(await sha256(join(dir, 'target', id, 'ram')), await sha256(image), `${id}: the committed image is the source's`);
}

t.test('a source with the token that writes one page in every table chunk holds a few KiB, and others still commit', async (t) => {
  const dir = scratchDir(t);
  const target = await spawnTarget(t, join(dir, 'target'), ['--token-file', tokenFile(dir), '--resume-grace', '600']);
  // 32 GiB announced: 512 chunks of 16384 pages, the whole 64 MiB default budget if each took a dense chunk.
  const images = [{ name: 'ram', size: 32 * GiB, pageSize: 4096 }];
  const attacker = await helloClient(target.url, { id: 'one-per-chunk', images, token: TOKEN });
  t.match(await attacker.next(), { type: MessageType.Welcome });
  const pages = Array.from({ length: 8 * MiB / CHUNK_PAGES - 1 }, (_, k) => (k + 1) * CHUNK_PAGES);
  sendPass(attacker, pages);
  t.match(await attacker.next(), { type: MessageType.Ack, pagesApplied: pages.length + 1 }, 'a page in every chunk, 6.6 KB of COPY records');
  const held = (await tableMemory(target.url)).reserved;
  t.ok(held <= 64 * 1024, `the attacker holds ${held} bytes of table memory (it held 64 MiB when a page took its chunk)`);
  attacker.ws.terminate(); // and stays kept for a resume
  await honestMigration(t, target.url, dir, 'honest', 1);
});

for (const filler of ['connected', 'kept for a resume'] as const) {
  t.test(`a full table budget: a session within its share takes memory back from the one that filled it (${filler})`, async (t) => {
    const dir = scratchDir(t);
    // 2 MiB for 4 migrations: each is owed 512 KiB, i.e. 65536 pages (a 256 MiB image) made dense.
    const target = await spawnTarget(t, join(dir, 'target'), ['--token-file', tokenFile(dir), '--max-table-memory', '2MiB', '--max-migrations', '4', '--resume-grace', '600']);
    const images = [{ name: 'ram', size: 16 * CHUNK_PAGES * 4096, pageSize: 4096 }]; // 16 chunks: the whole budget
    const hog = await helloClient(target.url, { id: 'hog', images, token: TOKEN });
    t.match(await hog.next(), { type: MessageType.Welcome });
    // A dense fill of 15 chunks (enough pages in each to make it dense), by COPY records.
    const pages = Array.from({ length: 15 * DENSE_AT }, (_, k) => Math.floor(k / DENSE_AT) * CHUNK_PAGES + (k % DENSE_AT) + 1);
    sendPass(hog, pages);
    t.match(await hog.next(), { type: MessageType.Ack, pagesApplied: pages.length + 1 });
    const full = await tableMemory(target.url);
    t.ok(full.limit - full.reserved <= 128 * 1024, `the hog holds ${full.reserved} of ${full.limit} bytes; too little is left for 3072 pages in three chunks`);
    t.equal(full.share, 512 * 1024, 'each migration is owed a quarter');
    if (filler === 'kept for a resume') {
      hog.ws.terminate();
      await untilAsync(async () => (await migrations(target.url)).some((m) => m.migrationId === 'hog' && !m.attached), 'the hog is kept for a resume');
    }

    await honestMigration(t, target.url, dir, 'honest', 3);
    if (filler === 'connected') {
      // ACKs the hog has not read yet (one per 256 KiB received, and PASS_END's) come first.
      let reply = await hog.next();
      while (reply.type === MessageType.Ack) reply = await hog.next();
      t.match(reply, { type: MessageType.Error, code: ErrorCode.Limit, message: /more than its share.*honest needed memory within its own share/ }, 'the hog, past its share, lost its tables and was told why');
      await hog.closed;
    }
    await untilAsync(async () => !(await migrations(target.url)).some((m) => m.migrationId === 'hog'), 'the hog is gone');
    t.equal((await tableMemory(target.url)).reserved, 0, 'and everything is given back');
  });
}

t.test('resumes that never read a 32 GiB table: memory stays bounded, replaced connections close', async (t) => {
  const target = await spawnTarget(t, join(scratchDir(t), 'target'));
  const images = [{ name: 'ram', size: 32 * GiB, pageSize: 4096 }]; // its page table streams 64 MiB to each resume
  const source = await helloClient(target.url, { id: 'big', images });
  const secret = secretOf(await source.next());
  sendPass(source, [CHUNK_PAGES]);
  t.match(await source.next(), { type: MessageType.Ack, pagesApplied: 2 }, 'pages arrived: kept across a cut');
  source.ws.terminate();

  const resume = encodeControl({ type: MessageType.Hello, version: PROTOCOL_VERSION, migrationId: 'big', resume: true, options: {}, images, sessionSecret: secret });
  const stuck: Socket[] = [];
  for (let i = 0; i < 6; i++) stuck.push(await sendAndStopReading(target.url, resume));
  t.teardown(() => { for (const socket of stuck) socket.destroy(); });
  // The last resume holds the session; each earlier one was closed by the target (within its close grace).
  await until(() => socketsOf(target.pid) <= 4, 'the replaced connections are closed (listener, the last resume and few else)');
  t.ok(target.peakRss() < BUDGET, `peak RSS ${(target.peakRss() / MiB).toFixed(0)} MiB < 256 MiB`);
});

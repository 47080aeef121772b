/**
 * A ~100-byte HELLO must not make a target allocate (or stall on) page tables for the
 * size it announces. A real target process with its default limits: HELLOs for huge images, a table
 * filled with a few bytes per chunk, and resumes by sources that never read; its peak RSS (VmHWM) stays
 * under 256 MiB and connections it replaced are closed.
 */
import t from 'tap';
import { readdirSync, readlinkSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { encodeControl, encodePages, ErrorCode, MessageType, PageEncoding, PROTOCOL_VERSION } from '@ferry/protocol';
import { scratchDir } from '../helpers/ferry.js';
import { helloClient, secretOf, sendAndStopReading, spawnTarget } from '../helpers/target-client.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const TiB = 1024 * GiB;
const BUDGET = 256 * MiB;
/** Pages per table chunk on the target (agent-target/src/hash-table.ts). */
const CHUNK_PAGES = 16 * 1024;

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

t.test('a full table budget, then resumes that never read: memory stays bounded, replaced connections close', async (t) => {
  const target = await spawnTarget(t, join(scratchDir(t), 'target'));
  const images = [{ name: 'ram', size: 32 * GiB, pageSize: 4096 }]; // 8 Mi pages: the whole 64 MiB default budget
  const source = await helloClient(target.url, { id: 'big', images });
  const secret = secretOf(await source.next());

  // One real page, then a 13-byte COPY of it into every table chunk: every chunk gets allocated.
  const copies = Array.from({ length: 8 * MiB / CHUNK_PAGES - 1 }, (_, k) => {
    const payload = new Uint8Array(4);
    return { pageIndex: (k + 1) * CHUNK_PAGES, encoding: PageEncoding.Copy, payload };
  });
  source.send(encodeControl({ type: MessageType.PassBegin, pass: 0 }));
  source.send(encodePages({ imageIndex: 0, pass: 0 }, [{ pageIndex: 0, encoding: PageEncoding.Raw, payload: new Uint8Array(4096).fill(7) }, ...copies]));
  source.send(encodeControl({ type: MessageType.PassEnd, pass: 0, pages: copies.length + 1, bytes: 0 }));
  t.match(await source.next(), { type: MessageType.Ack, pagesApplied: copies.length + 1 }, 'every chunk now holds a page');
  const other = await helloClient(target.url, { id: 'other', images: [{ name: 'ram', size: MiB, pageSize: 4096 }] });
  t.match(await other.next(), { type: MessageType.Welcome }, 'a HELLO costs no table memory');
  other.send(encodeControl({ type: MessageType.PassBegin, pass: 0 }));
  other.send(encodePages({ imageIndex: 0, pass: 0 }, [{ pageIndex: 0, encoding: PageEncoding.Raw, payload: new Uint8Array(4096).fill(1) }]));
  t.match(await other.next(), { type: MessageType.Error, code: ErrorCode.Limit }, 'but the budget is taken: its first page is refused');
  source.ws.terminate();

  const resume = encodeControl({ type: MessageType.Hello, version: PROTOCOL_VERSION, migrationId: 'big', resume: true, options: {}, images, sessionSecret: secret });
  const stuck: Socket[] = [];
  for (let i = 0; i < 6; i++) stuck.push(await sendAndStopReading(target.url, resume));
  t.teardown(() => { for (const socket of stuck) socket.destroy(); });
  // The last resume holds the session; each earlier one was closed by the target (within its close grace).
  for (let waited = 0; socketsOf(target.pid) > 4 && waited < 100; waited++) await new Promise((resolve) => setTimeout(resolve, 100));
  t.ok(socketsOf(target.pid) <= 4, `the replaced connections are closed (${socketsOf(target.pid)} sockets open: listener, the last resume and few else)`);
  t.ok(target.peakRss() < BUDGET, `peak RSS ${(target.peakRss() / MiB).toFixed(0)} MiB < 256 MiB`);
});

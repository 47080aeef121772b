/**
 * The target hands a session every message in a buffer it reuses for the next one (FrameSocket). Here
 * every message is written into one buffer that is scribbled over as soon as `receive` returns: a session
 * that kept a view of a message anywhere (a queued message, a page payload, a blob chunk, a name) would
 * find it overwritten, and the image, the blob or the VERIFY would not match.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import {
  decodeMessage, DEFAULT_LIMITS, digestToHex, ErrorCode, FerryError, encodeControl, encodePages, encodeStateChunk, MessageType, PageEncoding, PROTOCOL_VERSION,
  type Hello, type Message,
} from '@ferry/protocol';
import { blockDigests, createPageHasher, tableDigest } from '@ferry/pages';
import { privatePaths, TargetSession, type Peer, type SessionContext } from '@ferry/agent-target';
import { compress } from 'lz4-wasm-nodejs';
import { scratchDir } from '../helpers/ferry.js';
import { until } from '../helpers/wait.js';

const PAGE = 4096;
const PAGES = 64;

t.test('nothing a session keeps is a view of the reused buffer its messages arrive in', async (t) => {
  const hasher = await createPageHasher();
  const dir = scratchDir(t);
  const sent: Message[] = [];
  let closed: number | undefined;
  const peer: Peer = {
    send: async (message) => void sent.push(decodeMessage(message)),
    close: (code) => { closed = code; },
    pause: () => {},
    resume: () => {},
  };
  const ctx: SessionContext = {
    dir, privatePaths: privatePaths(dir, []), hasher, limits: DEFAULT_LIMITS, logger: pino({ level: 'silent' }), bases: {}, commitHook: undefined,
    resumeGraceMs: 0, idleTimeoutMs: 0, onEvent: () => {}, onEnd: () => {},
  };
  const hello: Hello = { type: MessageType.Hello, version: PROTOCOL_VERSION, migrationId: 'reused', resume: false, options: {}, images: [{ name: 'ram', size: PAGES * PAGE, pageSize: PAGE }] };
  const session = await TargetSession.create(hello, ctx);
  session.attach(peer, false);

  const page = (i: number): Uint8Array => Uint8Array.from({ length: PAGE }, (_, k) => (i * 7 + k * 13) & 0xff);
  const record = (i: number) => (i % 3 === 0
    ? { pageIndex: i, encoding: PageEncoding.Lz4, payload: compress(page(i)) }
    : { pageIndex: i, encoding: PageEncoding.Raw, payload: page(i) });
  const pages = (from: number, to: number, pass: number): Uint8Array =>
    encodePages({ imageIndex: 0, pass }, Array.from({ length: to - from }, (_, k) => record(from + k)));
  const blob = Uint8Array.from({ length: 10_000 }, (_, k) => (k * 5) & 0xff);
  const blobHash = hasher.create();
  blobHash.update(blob);
  const table = new BigUint64Array(PAGES).map((_, i) => hasher.hashPage(page(i)));
  const messages = [
    encodeControl({ type: MessageType.PassBegin, pass: 0 }), pages(0, PAGES / 2, 0), encodeControl({ type: MessageType.PassEnd, pass: 0, pages: PAGES / 2, bytes: 0 }),
    encodeControl({ type: MessageType.Paused }),
    encodeControl({ type: MessageType.State, name: 'cpu', size: blob.length }), encodeStateChunk(blob.subarray(0, 6000)), encodeStateChunk(blob.subarray(6000)),
    // STATE_END waits for an fsync: what follows is queued meanwhile.
    encodeControl({ type: MessageType.StateEnd, name: 'cpu', xxh64: digestToHex(blobHash.digest()) }),
    encodeControl({ type: MessageType.PassBegin, pass: 1 }), pages(PAGES / 2, PAGES, 1), encodeControl({ type: MessageType.PassEnd, pass: 1, pages: PAGES / 2, bytes: 0 }),
    encodeControl({
      type: MessageType.Verify, image: 0, pageCount: PAGES, digest: digestToHex(tableDigest(hasher, table)), blockPages: 8,
      blockDigests: new Uint8Array(blockDigests(hasher, table, 8).buffer),
    }),
  ];
  const wire = new Uint8Array(Math.max(...messages.map((m) => m.length)));
  for (const message of messages) {
    wire.set(message);
    session.receive(peer, wire.subarray(0, message.length));
    wire.fill(0xee);
  }
  await until(() => closed !== undefined || sent.some((m) => m.type === MessageType.CommitReady || m.type === MessageType.Error), 'COMMIT_READY or ERROR');
  t.notOk(sent.find((m) => m.type === MessageType.Error), 'no ERROR');
  t.match(sent.find((m) => m.type === MessageType.VerifyResult), { ok: true }, 'the image verifies: every page as sent');
  t.ok(sent.some((m) => m.type === MessageType.CommitReady), 'COMMIT_READY');
  t.same(readFileSync(join(dir, 'reused', 'state', 'cpu.partial')), Buffer.from(blob), 'the state blob as sent');
  const image = readFileSync(join(dir, 'reused', 'ram.partial'));
  t.ok(Array.from({ length: PAGES }, (_, i) => image.subarray(i * PAGE, (i + 1) * PAGE).equals(page(i))).every(Boolean), 'the image file as sent');
  await session.fail(new FerryError(ErrorCode.Aborted, 'test over'), false);
});

/**
 * The source's state machines through their seams, without spawning processes: PassSender and
 * verifyImages against an in-process WebSocket peer (real sockets, real scan workers on a real file),
 * retryUntil with an injected wait.
 */
import t, { type Test } from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import { decodeMessage, encodeControl, encodePages, ErrorCode, FerryError, MessageType, PageEncoding, type ControlMessage, type Message, type PageRange } from '@ferry/protocol';
import { createPageHasher, ScanPool } from '@ferry/pages';
import { PassSender, retryUntil, SendMeter, TargetConnection, verifyImages } from '@ferry/agent-source';
import { scratchDir } from '../helpers/ferry.js';

const PAGE = 4096;
const PAGES = 64;

/** A peer that records every message and answers through `reply`. */
async function peer(t: Test, reply: (message: Message, ws: WebSocket) => void = () => {}) {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((resolve) => server.once('listening', resolve));
  const received: Message[] = [];
  let receivedBytes = 0;
  let waiting: { count: number; resolve: () => void } | undefined;
  const passEndsSeen = (): number => received.filter((m) => m.type === MessageType.PassEnd).length;
  server.on('connection', (ws) => ws.on('message', (data: Buffer) => {
    receivedBytes += data.length;
    const message = decodeMessage(new Uint8Array(data));
    received.push(message);
    reply(message, ws);
    if (waiting && passEndsSeen() >= waiting.count) waiting.resolve();
  }));
  /** Resolves once `count` PASS_END messages arrived (the sender does not wait for them to arrive). */
  const passEnds = (count: number): Promise<void> =>
    passEndsSeen() >= count ? Promise.resolve() : new Promise((resolve) => { waiting = { count, resolve }; });
  const address = server.address();
  const meter = new SendMeter();
  const connection = await TargetConnection.connect({
    url: `ws://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`, timeoutMs: 5000, maxPayload: 1 << 26, meter,
  }, new AbortController().signal);
  t.teardown(() => {
    connection.terminate();
    for (const client of server.clients) client.terminate();
    server.close();
  });
  return { connection, meter, received, passEnds, receivedBytes: () => receivedBytes };
}

async function pool(t: Test, fill: (page: number) => number): Promise<{ pool: ScanPool; path: string }> {
  const path = join(scratchDir(t), 'image');
  const bytes = Buffer.alloc(PAGES * PAGE);
  for (let page = 0; page < PAGES; page++) bytes.fill(fill(page), page * PAGE, (page + 1) * PAGE);
  writeFileSync(path, bytes);
  const scan = await ScanPool.start({ imagePath: path, pageSize: PAGE, workers: 1, deltaCacheBytes: 1 << 20, delta: true, compress: 'never' });
  t.teardown(() => scan.close());
  return { pool: scan, path };
}

t.test('PassSender: a pass frames the dirty pages and counts every byte once', async (t) => {
  const { connection, meter, received, passEnds, receivedBytes } = await peer(t);
  const { pool: scan, path } = await pool(t, (page) => (page % 2 === 0 ? 0 : page));
  const sender = new PassSender(connection, [scan], meter, {}, 'never');
  const first = await sender.sendPass(0, new AbortController().signal);
  t.equal(first.dirtyPages, PAGES / 2, 'pass 0: every non-zero page is dirty');
  t.equal(sender.totals.pagesSent, PAGES / 2, 'and sent');
  await passEnds(1);
  t.match(received[0], { type: MessageType.PassBegin, pass: 0 });
  t.ok(received.some((m) => m.type === MessageType.Pages), 'pages went as PAGES messages');
  t.match(received.at(-1), { type: MessageType.PassEnd, pass: 0, pages: PAGES / 2, bytes: first.bytesSent }, 'PASS_END says what the pass sent');
  t.equal(first.bytesSent, receivedBytes() - encodeControl(received.at(-1) as ControlMessage).length, 'which is every byte up to PASS_END');

  const unchanged = await sender.sendPass(1, new AbortController().signal);
  t.equal(unchanged.dirtyPages, 0, 'pass 1 of an unchanged image sends no page');
  const bytes = Buffer.alloc(PAGE, 0xee);
  writeFileSync(path, bytes, { flag: 'r+' });
  const changed = await sender.sendPass(2, new AbortController().signal);
  t.equal(changed.dirtyPages, 1, 'a rewritten page is dirty on the next pass');
  await passEnds(3);
  t.equal(receivedBytes(), meter.bytes, 'the meter counts exactly the bytes the peer received');
});

t.test('PassSender: an aborted pass stops and rejects with the reason', async (t) => {
  const { connection, meter } = await peer(t);
  const { pool: scan } = await pool(t, (page) => page + 1);
  const sender = new PassSender(connection, [scan], meter, {}, 'never');
  const controller = new AbortController();
  const reason = new FerryError(ErrorCode.Aborted, 'stop now');
  controller.abort(reason);
  await t.rejects(sender.sendPass(0, controller.signal), reason);
  // What the target holds is unknown after an abort (the migration rolls back or adopts the target's table).
  t.match(await sender.sendPass(1, new AbortController().signal), { pass: 1 }, 'the scan workers stopped: the next pass can run');
});

t.test('verifyImages: ok, a mismatch re-sent, and a mismatch that stays', async (t) => {
  const hasher = await createPageHasher();
  const { pool: scan } = await pool(t, () => 0);
  let answers = [false, true];
  const { connection } = await peer(t, (message, ws) => {
    if (message.type !== MessageType.Verify) return;
    const ok = answers.shift() ?? false;
    ws.send(encodeControl({ type: MessageType.VerifyResult, image: message.image, ok, mismatches: ok ? [] : [[3, 5]] }));
  });
  const resent: Array<readonly PageRange[]> = [];
  const results: boolean[] = [];
  const deps = {
    connection, hasher, pools: [scan], imageNames: ['ram'], replyTimeoutMs: 5000, retries: 1, signal: new AbortController().signal,
    resend: async (scope: { image: number; ranges: readonly PageRange[] }) => { resent.push(scope.ranges); },
    onResult: (_image: string, ok: boolean) => { results.push(ok); },
  };
  await verifyImages(deps);
  t.same(resent, [[[3, 5]]], 'the mismatching ranges were re-sent once');
  t.same(results, [false, true]);
  answers = [false, false];
  await t.rejects(verifyImages(deps), { code: ErrorCode.Verify, message: /image ram still differs on the target after 1 re-sends \(2 pages in 1 ranges\)/ });
});

t.test('verifyImages: a target that names the same pages many times gets them re-sent once', async (t) => {
  const hasher = await createPageHasher();
  const { pool: scan } = await pool(t, () => 0);
  let answers = [false, true];
  // 60000 copies of the whole image and then some: re-sent as given, that would be 60000 images' worth.
  const repeated: PageRange[] = [...Array.from({ length: 60000 }, (): PageRange => [0, PAGES]), [PAGES - 1, PAGES + 4]];
  const { connection } = await peer(t, (message, ws) => {
    if (message.type !== MessageType.Verify) return;
    const ok = answers.shift() ?? false;
    ws.send(encodeControl({ type: MessageType.VerifyResult, image: message.image, ok, mismatches: ok ? [] : repeated }));
  });
  const resent: Array<readonly PageRange[]> = [];
  const reported: number[] = [];
  await verifyImages({
    connection, hasher, pools: [scan], imageNames: ['ram'], replyTimeoutMs: 5000, retries: 1, signal: new AbortController().signal,
    resend: async (scope) => { resent.push(scope.ranges); },
    onResult: (_image, _ok, pages) => { reported.push(pages); },
  });
  t.same(resent, [[[0, PAGES + 4]]], 'one merged range, re-sent once');
  t.same(reported, [PAGES + 4, 0], 'each page counted once');
});

t.test('verifyImages: a result for another image is a protocol error', async (t) => {
  const hasher = await createPageHasher();
  const { pool: scan } = await pool(t, () => 0);
  const { connection } = await peer(t, (message, ws) => {
    if (message.type === MessageType.Verify) ws.send(encodeControl({ type: MessageType.VerifyResult, image: 7, ok: true, mismatches: [] }));
  });
  await t.rejects(verifyImages({
    connection, hasher, pools: [scan], imageNames: ['ram'], replyTimeoutMs: 5000, retries: 1, signal: new AbortController().signal,
    resend: async () => {}, onResult: () => {},
  }), { code: ErrorCode.UnexpectedMessage });
});

t.test('verifyImages: every VERIFY goes out before the first result is awaited (one round trip for all images)', async (t) => {
  const hasher = await createPageHasher();
  const { pool: ram } = await pool(t, () => 0);
  const { pool: disk } = await pool(t, (page) => page);
  const verifies: number[] = [];
  // This peer answers only once both VERIFYs are in: a source that awaited each result first would time out.
  const { connection } = await peer(t, (message, ws) => {
    if (message.type !== MessageType.Verify) return;
    verifies.push(message.image);
    if (verifies.length < 2) return;
    for (const image of verifies) ws.send(encodeControl({ type: MessageType.VerifyResult, image, ok: true, mismatches: [] }));
  });
  const results: string[] = [];
  await verifyImages({
    connection, hasher, pools: [ram, disk], imageNames: ['ram', 'vda'], replyTimeoutMs: 5000, retries: 1, signal: new AbortController().signal,
    resend: async () => {}, onResult: (image) => { results.push(image); },
  });
  t.same(verifies, [0, 1], 'both images verified, in order');
  t.same(results, ['ram', 'vda']);
});

t.test('PassSender: every image\'s ranges are asked for when the pass begins; `after` runs once its images are scanned', async (t) => {
  const { connection, meter } = await peer(t);
  const { pool: ram } = await pool(t, (page) => page + 1);
  const { pool: disk } = await pool(t, (page) => page + 2);
  const asked: Array<{ image: number; scannedBefore: number }> = [];
  let sender: PassSender | undefined;
  const rangesFor = async (image: number): Promise<PageRange[] | undefined> => {
    asked.push({ image, scannedBefore: sender?.passScanned ?? -1 });
    return image === 1 ? [[0, 4]] : undefined;
  };
  sender = new PassSender(connection, [ram, disk], meter, {}, 'never', rangesFor);
  let diskPagesWhenRun: number | undefined;
  const outcome = await sender.sendPass(0, new AbortController().signal, undefined, true, {
    images: [1],
    run: () => { diskPagesWhenRun = sender?.imageBytesSent[1]; },
  });
  t.same(asked, [{ image: 0, scannedBefore: 0 }, { image: 1, scannedBefore: 0 }], 'the disk\'s ranges were asked for before any page was scanned');
  t.ok(diskPagesWhenRun !== undefined && diskPagesWhenRun > 4 * PAGE, `after.run ran once the disk's pages were sent (${diskPagesWhenRun} bytes)`);
  t.equal(outcome.dirtyPages, PAGES + 4, 'every RAM page and the 4 tracked disk pages');
});

t.test('TargetConnection.drained: resolves once the peer holds every byte sent before it; rejects on a closed link', async (t) => {
  const { connection, meter, receivedBytes } = await peer(t);
  const records = Array.from({ length: 256 }, (_, pageIndex) => ({ pageIndex, encoding: PageEncoding.Raw, payload: new Uint8Array(PAGE).fill(pageIndex) }));
  for (let i = 0; i < 16; i++) void connection.sendRaw([encodePages({ imageIndex: 0, pass: 0 }, records)]);
  await connection.drained(5000, new AbortController().signal);
  t.equal(receivedBytes(), meter.bytes, 'everything sent before the drain reached the peer');
  connection.terminate();
  await t.rejects(connection.drained(5000, new AbortController().signal), { code: ErrorCode.Disconnected });
});

t.test('retryUntil: backs off, retries only link failures, gives up at the deadline', async (t) => {
  const cut = new FerryError(ErrorCode.Disconnected, 'link cut');
  const waits: number[] = [];
  let calls = 0;
  const { result, attempts } = await retryUntil(60_000, async (ms) => { waits.push(ms); }, async () => {
    calls += 1;
    if (calls < 6) throw new FerryError(calls % 2 ? ErrorCode.Disconnected : ErrorCode.Timeout, 'not yet');
    return 'connected';
  }, cut);
  t.equal(result, 'connected');
  t.equal(attempts, 6);
  t.same(waits, [200, 400, 800, 1600, 3200, 5000], 'doubling from 200 ms, capped at 5 s');

  let tried = 0;
  await t.rejects(retryUntil(60_000, async () => {}, async () => {
    tried += 1;
    throw new FerryError(ErrorCode.Auth, 'bad token');
  }, cut), { code: ErrorCode.Auth }, 'anything but a link failure is thrown at once');
  t.equal(tried, 1);

  await t.rejects(retryUntil(0, async () => {}, async () => { throw new FerryError(ErrorCode.Disconnected, 'refused'); }, cut),
    { code: ErrorCode.Disconnected, message: /link cut; reconnecting failed for 0 s \(last: refused\)/ });
});

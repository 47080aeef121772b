/**
 * Hostile input to a running `ferry target`: each bad message gets an ERROR and the session is closed,
 * the process keeps serving other migrations, and nothing is written outside DIR.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { WebSocket } from 'ws';
import { compress } from 'lz4-wasm-nodejs';
import {
  decodeMessage, encodeControl, encodePages, ErrorCode, MessageType, PageEncoding, PROTOCOL_VERSION, type Message,
} from '@ferry/protocol';
import { fillImage } from '@ferry/workload';
import { FERRY, runMigrate, scratchDir, sha256 } from '../helpers/ferry.js';

const PAGE = 4096;
const PAGES = 256;

interface Reply { readonly messages: Message[]; readonly closeCode: number }

/** Opens a session with a valid HELLO, sends `hostile`, and collects what comes back until the close. */
async function attack(url: string, id: string, hostile: Array<Buffer | Uint8Array | string>): Promise<Reply> {
  const ws = new WebSocket(`${url}/migrate`);
  const messages: Message[] = [];
  ws.on('message', (data: Buffer) => messages.push(decodeMessage(new Uint8Array(data))));
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  ws.send(encodeControl({
    type: MessageType.Hello, version: PROTOCOL_VERSION, migrationId: id, resume: false, options: {},
    images: [{ name: 'ram', size: PAGES * PAGE, pageSize: PAGE }],
  }));
  for (const message of hostile) ws.send(message);
  const closeCode = await new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  return { messages, closeCode };
}

const pages = (records: Array<{ pageIndex: number; encoding: PageEncoding; payload: Uint8Array }>): Uint8Array =>
  encodePages({ imageIndex: 0, pass: 0 }, records);

/** An LZ4 payload whose size prefix says one page but whose block decodes to `actual` bytes. */
function lyingLz4(actual: number): Uint8Array {
  const payload = compress(new Uint8Array(actual).fill(7));
  new DataView(payload.buffer, payload.byteOffset, 4).setUint32(0, PAGE, true);
  return payload;
}

t.test('hostile messages end their session with ERROR; the target keeps serving', async (t) => {
  const root = scratchDir(t);
  const dir = join(root, 'target');
  const child = spawn(process.execPath, [FERRY, 'target', '--listen', '127.0.0.1:0', '--dir', dir, '--max-message-size', '1MiB'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => void child.kill('SIGKILL'));
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const event = JSON.parse(line) as { event: string; url: string };
      if (event.event === 'listening') resolve(event.url);
    });
    child.once('exit', (code) => reject(new Error(`target exited ${code}`)));
  });

  // PAGES belong to a pass: the hostile records come inside one, so that they are what is judged.
  const passBegin = encodeControl({ type: MessageType.PassBegin, pass: 0 });
  const cases: Array<[string, Array<Buffer | Uint8Array | string>, string]> = [
    ['unknown message type', [Buffer.from([99, 1, 2, 3])], ErrorCode.Malformed],
    ['truncated record', [passBegin, pages([{ pageIndex: 1, encoding: PageEncoding.Raw, payload: new Uint8Array(PAGE) }]).subarray(0, 30)], ErrorCode.Malformed],
    ['page index past the end', [passBegin, pages([{ pageIndex: PAGES, encoding: PageEncoding.Raw, payload: new Uint8Array(PAGE) }])], ErrorCode.Malformed],
    ['LZ4 payload decoding to less than a page', [passBegin, pages([{ pageIndex: 3, encoding: PageEncoding.Lz4, payload: lyingLz4(PAGE / 2) }])], ErrorCode.BadPayload],
    ['LZ4 payload decoding to more than a page', [passBegin, pages([{ pageIndex: 3, encoding: PageEncoding.Lz4, payload: lyingLz4(PAGE * 2) }])], ErrorCode.BadPayload],
    ['blob name ../x', [encodeControl({ type: MessageType.Paused }), encodeControl({ type: MessageType.State, name: '../x', size: 10 })], ErrorCode.Malformed],
    ['oversize message', [Buffer.alloc(1024 * 1024 + 100, 5)], ErrorCode.Limit],
    ['text frame', ['hello'], ErrorCode.Malformed],
    ['GO before anything was verified', [encodeControl({ type: MessageType.Go })], ErrorCode.UnexpectedMessage],
  ];
  for (const [name, hostile, code] of cases) {
    const id = `hostile-${name.replace(/[^a-z0-9]+/gi, '-')}`.slice(0, 64);
    const reply = await attack(url, id, hostile);
    const error = reply.messages.find((m) => m.type === MessageType.Error);
    t.ok(error, `${name}: an ERROR came back`);
    t.equal(error?.type === MessageType.Error ? error.code : undefined, code, `${name}: ${code} (${error?.type === MessageType.Error ? error.message : ''})`);
    t.not(reply.closeCode, 1000, `${name}: the session was closed (code ${reply.closeCode})`);
    t.notOk(existsSync(join(dir, id, 'ram')), `${name}: no committed image`);
  }
  t.same(readdirSync(root).sort(), ['target'], 'nothing was written next to DIR');
  t.notOk(existsSync(join(dir, 'x')), 'the ../x blob was not written anywhere');

  // The same process still migrates for real.
  const image = join(root, 'vm.ram');
  await fillImage(image, 8 * 1024 * 1024, { seed: 9 });
  const run = await runMigrate(t, ['--to', url, '--id', 'after-attacks', '--image', `ram=${image}`]);
  t.equal(run.code, 0, `a real migration still commits (stderr: ${run.stderr.slice(-800)})`);
  t.equal(await sha256(join(dir, 'after-attacks', 'ram')), await sha256(image), 'and is byte-identical');
});

/**
 * A real `ferry target` attacked at the WebSocket frame level over bare TCP sockets: frames a server must
 * refuse get an ERROR and the close code RFC 6455 gives them, without the target waiting for (or
 * holding) what they announce; a stream fed one byte at a time, fragments with control frames between them, and a
 * cut in the middle of a frame leave the target serving, and the session resumable.
 */
import t from 'tap';
import { join } from 'node:path';
import {
  decodeMessage, encodeControl, encodePages, ErrorCode, MessageType, PageEncoding, PROTOCOL_VERSION, type Message,
} from '@ferry/protocol';
import { scratchDir } from '../helpers/ferry.js';
import { helloClient, secretOf, spawnTarget, type TargetProcess } from '../helpers/target-client.js';
import { until } from '../helpers/wait.js';
import { clientFrame, closeFrame, Op, rawWebSocket, type RawClient } from '../helpers/ws-frame.js';

const PAGE = 4096;
const PAGES = 64;
const LIMIT = 1024 * 1024;

const hello = (id: string): Uint8Array => encodeControl({
  type: MessageType.Hello, version: PROTOCOL_VERSION, migrationId: id, resume: false, options: {},
  images: [{ name: 'ram', size: PAGES * PAGE, pageSize: PAGE }],
});
const binary = (message: Uint8Array, fin = true): Buffer => clientFrame(Op.Binary, message, { fin });
const messagesOf = (client: RawClient): Message[] => client.frames.filter((f) => f.opcode === Op.Binary).map((f) => decodeMessage(new Uint8Array(f.payload)));
const errorOf = (client: RawClient): Message | undefined => messagesOf(client).find((m) => m.type === MessageType.Error);

async function status(target: TargetProcess): Promise<{ migrations: Array<{ migrationId: string; attached: boolean; pagesApplied: number }> }> {
  const response = await fetch(`${target.url.replace('ws:', 'http:')}/status`);
  return await response.json() as never;
}

t.test('frames a server must refuse: ERROR, the RFC close code, and the session ends', async (t) => {
  const target = await spawnTarget(t, join(scratchDir(t), 'target'), ['--max-message-size', '1MiB']);
  const half = Buffer.alloc(64 * 1024, 3);
  const cases: Array<[string, Buffer, string, number]> = [
    ['an unmasked frame', clientFrame(Op.Binary, encodeControl({ type: MessageType.PassBegin, pass: 0 }), { mask: undefined }), ErrorCode.Malformed, 1002],
    ['a reserved bit', clientFrame(Op.Binary, encodeControl({ type: MessageType.PassBegin, pass: 0 }), { rsv: 0x40 }), ErrorCode.Malformed, 1002],
    // Only the 10 bytes that announce 2^62 bytes: the refusal cannot wait for them.
    ['a 64-bit length of 2^62, header only', Buffer.from([0x82, 0xff, 0x40, 0, 0, 0, 0, 0, 0, 0]), ErrorCode.Limit, 1009],
    ['continuations past the limit', Buffer.concat([binary(half, false), ...Array.from({ length: 20 }, () => clientFrame(Op.Continuation, half, { fin: false }))]), ErrorCode.Limit, 1009],
    ['a ping of 126 bytes', clientFrame(Op.Ping, Buffer.alloc(126)), ErrorCode.Malformed, 1002],
    ['a fragmented ping', clientFrame(Op.Ping, Buffer.from('x'), { fin: false }), ErrorCode.Malformed, 1002],
    ['a ping inside a fragmented message that then starts another', Buffer.concat([binary(half, false), clientFrame(Op.Ping, Buffer.from('p')), binary(half)]), ErrorCode.Malformed, 1002],
    ['a text frame', clientFrame(Op.Text, Buffer.from('hello')), ErrorCode.Malformed, 1003],
  ];
  for (const [name, frames, code, closeCode] of cases) {
    const client = await rawWebSocket(target.url);
    client.socket.write(binary(hello(`frames-${closeCode}-${name.length}`)));
    await until(() => messagesOf(client).some((m) => m.type === MessageType.Welcome), `${name}: WELCOME`);
    client.socket.write(frames);
    await client.ended;
    t.match(errorOf(client), { type: MessageType.Error, code }, `${name}: ERROR ${code}`);
    t.equal(client.closeCode(), closeCode, `${name}: close ${closeCode}`);
  }
  await until(async () => (await status(target)).migrations.length === 0, 'every refused session ended');
});

t.test('one byte at a time, fragments with pings and pongs between them, then a cut mid-frame: the session is whole and resumable', async (t) => {
  const target = await spawnTarget(t, join(scratchDir(t), 'target'));
  const client = await rawWebSocket(target.url);
  const pages = encodePages({ imageIndex: 0, pass: 0 }, Array.from({ length: 4 }, (_, i) => ({ pageIndex: i, encoding: PageEncoding.Raw, payload: new Uint8Array(PAGE).fill(i + 1) })));
  const third = Math.floor(pages.length / 3);
  const stream = Buffer.concat([
    binary(hello('bytewise')),
    binary(encodeControl({ type: MessageType.PassBegin, pass: 0 })),
    binary(pages.subarray(0, third), false),
    clientFrame(Op.Ping, Buffer.from('ping one')),
    clientFrame(Op.Continuation, pages.subarray(third, 2 * third), { fin: false }),
    clientFrame(Op.Pong, Buffer.from('unasked')),
    clientFrame(Op.Continuation, pages.subarray(2 * third), { fin: true }),
  ]);
  for (const byte of stream) await new Promise<void>((resolve) => client.socket.write(Uint8Array.of(byte), () => resolve()));
  await until(async () => (await status(target)).migrations[0]?.pagesApplied === 4, 'the 4 pages applied');
  const pong = client.frames.find((f) => f.opcode === Op.Pong);
  t.equal(pong?.payload.toString(), 'ping one', 'the ping was answered with its payload');
  const secret = secretOf(messagesOf(client).find((m) => m.type === MessageType.Welcome)!);

  // Half a PAGES frame, then the connection is cut.
  const next = binary(encodePages({ imageIndex: 0, pass: 0 }, [{ pageIndex: 9, encoding: PageEncoding.Raw, payload: new Uint8Array(PAGE).fill(9) }]));
  client.socket.write(next.subarray(0, next.length >> 1));
  client.socket.destroy();
  await until(async () => (await status(target)).migrations[0]?.attached === false, 'the session detached');
  t.equal((await status(target)).migrations[0]?.pagesApplied, 4, 'nothing of the half frame was applied');
  const resumed = await helloClient(target.url, { id: 'bytewise', images: [{ name: 'ram', size: PAGES * PAGE, pageSize: PAGE }], resume: true, sessionSecret: secret });
  t.match(await resumed.next(), { type: MessageType.Welcome, resumed: true }, 'a resume finds the session');
  resumed.ws.close();
});

t.test('a client that closes gets its close code back and the target ends the TCP connection', async (t) => {
  const target = await spawnTarget(t, join(scratchDir(t), 'target'));
  const client = await rawWebSocket(target.url);
  client.socket.write(binary(hello('closing')));
  await until(() => messagesOf(client).some((m) => m.type === MessageType.Welcome), 'WELCOME');
  client.socket.write(closeFrame(4001, 'done'));
  await client.ended;
  t.equal(client.closeCode(), 4001, 'the close frame echoes the code');
  await until(async () => (await status(target)).migrations.length === 0, 'the session that sent nothing ended');
});

/**
 * The target's WebSocket frame reader, fed by hand-written client frames split at every byte boundary:
 * what it hands out, what it refuses (and with which close code, before reading what follows), and that
 * its buffers are reused from one message to the next.
 */
import t from 'tap';
import {
  checkWebSocketUpgrade, CloseCode, closePayload, FrameReader, serverFrameHeader, unmask, type FrameEvent,
} from '@ferry/serve';
import { clientFrame, closeFrame, MASK, Op } from '../helpers/ws-frame.js';

const LIMIT = 256 * 1024;

/** Every event, copied (a message is only valid until the next call), with the stream fed in `splits` pieces. */
function readAll(stream: Uint8Array, pieceBytes: number, limit = LIMIT): FrameEvent[] {
  const reader = new FrameReader(limit);
  const events: FrameEvent[] = [];
  for (let at = 0; at < stream.length; at += pieceBytes) {
    reader.feed(Uint8Array.from(stream.subarray(at, at + pieceBytes)));
    for (let event = reader.next(); event; event = reader.next()) {
      events.push(event.kind === 'message' || event.kind === 'ping' ? { kind: event.kind, data: Uint8Array.from(event.data) } : event);
    }
  }
  return events;
}

const bytes = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

t.test('messages, fragments and control frames come out the same however the stream is split', async (t) => {
  const small = bytes(100, 1);
  const medium = bytes(70_000, 2); // 64-bit length
  const mid = bytes(300, 3); // 16-bit length
  const parts = [bytes(1000, 4), bytes(0, 0), bytes(5000, 5)];
  const stream = Buffer.concat([
    clientFrame(Op.Binary, small),
    clientFrame(Op.Binary, mid),
    clientFrame(Op.Binary, medium),
    clientFrame(Op.Binary, parts[0]!, { fin: false }),
    clientFrame(Op.Ping, Buffer.from('are you there')),
    clientFrame(Op.Continuation, parts[1]!, { fin: false }),
    clientFrame(Op.Pong, Buffer.from('ignored')),
    clientFrame(Op.Continuation, parts[2]!, { fin: true }),
    clientFrame(Op.Binary, small, { mask: new Uint8Array(4) }),
    clientFrame(Op.Binary, bytes(300, 9), { lengthBytes: 8 }),
    closeFrame(1000, 'bye'),
    clientFrame(Op.Binary, small), // after the close: never read
  ]);
  const expected: FrameEvent[] = [
    { kind: 'message', data: small }, { kind: 'message', data: mid }, { kind: 'message', data: medium },
    { kind: 'ping', data: Buffer.from('are you there') }, { kind: 'pong' },
    { kind: 'message', data: Buffer.concat(parts) }, { kind: 'message', data: small }, { kind: 'message', data: bytes(300, 9) },
    { kind: 'close', code: 1000, reason: 'bye' },
  ];
  const normalise = (events: FrameEvent[]): unknown[] => events.map((e) => ('data' in e ? { ...e, data: Buffer.from(e.data).toString('hex') } : e));
  for (const piece of [1, 2, 3, 7, 13, 125, 4096, 65536, stream.length]) {
    t.same(normalise(readAll(stream, piece)), normalise(expected), `split every ${piece} bytes`);
  }
});

t.test('a close frame without a code reads as NoStatus', async (t) => {
  t.same(readAll(clientFrame(Op.Close, new Uint8Array(0)), 1), [{ kind: 'close', code: CloseCode.NoStatus, reason: '' }]);
});

t.test('frames a server must refuse are refused with their close code, from the header alone', async (t) => {
  const payload = bytes(10, 0);
  const cases: Array<[string, Buffer, number]> = [
    ['unmasked', clientFrame(Op.Binary, payload, { mask: undefined }), CloseCode.ProtocolError],
    ['RSV1', clientFrame(Op.Binary, payload, { rsv: 0x40 }), CloseCode.ProtocolError],
    ['RSV3', clientFrame(Op.Binary, payload, { rsv: 0x10 }), CloseCode.ProtocolError],
    ['unknown data opcode', clientFrame(3, payload), CloseCode.ProtocolError],
    ['unknown control opcode', clientFrame(0xb, payload), CloseCode.ProtocolError],
    ['text', clientFrame(Op.Text, Buffer.from('hello')), CloseCode.UnsupportedData],
    ['a ping of 126 bytes', clientFrame(Op.Ping, bytes(126, 0)), CloseCode.ProtocolError],
    ['a fragmented ping', clientFrame(Op.Ping, payload, { fin: false }), CloseCode.ProtocolError],
    ['a continuation with no message', clientFrame(Op.Continuation, payload), CloseCode.ProtocolError],
    ['one byte over the limit', clientFrame(Op.Binary, bytes(LIMIT + 1, 0)), CloseCode.TooBig],
    ['a 64-bit length of 2^63', clientFrame(Op.Binary, new Uint8Array(0), { announced: 2 ** 53 - 1, lengthBytes: 8 }), CloseCode.TooBig],
  ];
  for (const [name, frame, code] of cases) {
    const events = readAll(frame, 1);
    t.equal(events.length, 1, `${name}: one event`);
    t.match(events[0], { kind: 'refused', code }, `${name}: refused with ${code} (${events[0]?.kind === 'refused' ? events[0].reason : ''})`);
  }
  // The refusal comes with the length, before the mask and the payload.
  const huge = Buffer.from([0x82, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
  const reader = new FrameReader(LIMIT);
  reader.feed(huge);
  t.match(reader.next(), { kind: 'refused', code: CloseCode.TooBig }, 'a 64-bit length with its top bit set, refused from its 10 header bytes');
  t.equal(reader.next(), undefined, 'nothing is read after a refusal');
});

t.test('a fragmented message is judged by its whole size, and control frames cannot nest', async (t) => {
  const half = bytes(LIMIT / 2, 1);
  const endless = Buffer.concat([clientFrame(Op.Binary, half, { fin: false }), clientFrame(Op.Continuation, half, { fin: false }), clientFrame(Op.Continuation, bytes(1, 0), { fin: false })]);
  t.match(readAll(endless, 4096).at(-1), { kind: 'refused', code: CloseCode.TooBig }, 'continuations past the limit: TooBig');
  const exactly = Buffer.concat([clientFrame(Op.Binary, half, { fin: false }), clientFrame(Op.Continuation, half)]);
  t.equal(readAll(exactly, 4096).map((e) => e.kind).join(), 'message', 'a message exactly at the limit is whole');
  const newInside = Buffer.concat([clientFrame(Op.Binary, bytes(5, 0), { fin: false }), clientFrame(Op.Binary, bytes(5, 0))]);
  t.match(readAll(newInside, 1), [{ kind: 'refused', code: CloseCode.ProtocolError }], 'a new message inside a fragmented one');
  const closes: Array<[string, Buffer, number]> = [
    ['one byte', clientFrame(Op.Close, Uint8Array.of(3)), CloseCode.ProtocolError],
    ['code 1005', closeFrame(1005), CloseCode.ProtocolError],
    ['code 999', closeFrame(999), CloseCode.ProtocolError],
    ['a reason that is not UTF-8', clientFrame(Op.Close, Uint8Array.of(0x03, 0xe8, 0xff, 0xfe)), CloseCode.InvalidData],
  ];
  for (const [name, frame, code] of closes) t.match(readAll(frame, 1), [{ kind: 'refused', code }], `close frame with ${name}`);
});

t.test('messages land in reused buffers: a split message costs no new buffer', async (t) => {
  const reader = new FrameReader(4 * 1024 * 1024);
  const message = (seed: number): Buffer => clientFrame(Op.Binary, bytes(1024 * 1024, seed));
  const seen: Array<ArrayBufferLike> = [];
  for (let seed = 0; seed < 4; seed++) {
    const frame = message(seed);
    for (let at = 0; at < frame.length; at += 65536) {
      reader.feed(frame.subarray(at, at + 65536));
      for (let event = reader.next(); event; event = reader.next()) {
        if (event.kind !== 'message') continue;
        t.ok(Buffer.from(event.data).equals(Buffer.from(bytes(1024 * 1024, seed))), `message ${seed} intact`);
        seen.push(event.data.buffer);
      }
    }
  }
  t.equal(seen.length, 4);
  t.ok(seen.every((buffer) => buffer === seen[0]), 'every message in the same buffer');
  // A message whole in one chunk is a view of that chunk, unmasked in place.
  const chunk = clientFrame(Op.Binary, bytes(50, 3));
  reader.feed(chunk);
  const event = reader.next();
  t.equal(event?.kind === 'message' && event.data.buffer, chunk.buffer, 'a message whole in its chunk is not copied');
});

t.test('unmask matches a byte-by-byte XOR at every alignment and length', async (t) => {
  const backing = new Uint8Array(64);
  for (let offset = 0; offset < 8; offset++) {
    for (let length = 0; length < 40; length++) {
      const data = bytes(length, offset);
      const view = new Uint8Array(backing.buffer, offset, length);
      view.set(data);
      unmask(view, MASK);
      const expected = data.map((b, i) => b ^ MASK[i % 4]!);
      if (!Buffer.from(view).equals(Buffer.from(expected))) t.fail(`offset ${offset} length ${length}`);
    }
  }
  t.pass('all alignments');
});

t.test('what the server writes: frame headers, close payloads, the handshake', async (t) => {
  t.same([...serverFrameHeader(2, 5)], [0x82, 5]);
  t.same([...serverFrameHeader(2, 300)], [0x82, 126, 1, 44]);
  t.same([...serverFrameHeader(2, 70_000)], [0x82, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]);
  const long = closePayload(1008, 'é'.repeat(100));
  t.ok(long.length <= 125, 'a close payload fits a control frame');
  t.doesNotThrow(() => new TextDecoder('utf-8', { fatal: true }).decode(long.subarray(2)), 'and is not cut inside a character');
  const ok = checkWebSocketUpgrade('GET', { upgrade: 'websocket', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' });
  t.match(ok, { ok: true, response: /Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=\r\n/ }, 'the accept key of RFC 6455 section 1.3');
  t.match(checkWebSocketUpgrade('POST', { upgrade: 'websocket' }), { ok: false, status: 405 });
  t.match(checkWebSocketUpgrade('GET', { upgrade: 'h2c', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' }), { ok: false, status: 400 });
  t.match(checkWebSocketUpgrade('GET', { upgrade: 'websocket', 'sec-websocket-key': 'short', 'sec-websocket-version': '13' }), { ok: false, status: 400 });
  t.match(checkWebSocketUpgrade('GET', { upgrade: 'websocket', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '12' }), { ok: false, status: 400 });
});

import t from 'tap';
import msgpack from 'msgpack-lite';
import {
  DEFAULT_LIMITS, ErrorCode, MAX_ACK_EVERY_BYTES, MessageType, MIN_ACK_EVERY_BYTES, PageEncoding, PROTOCOL_VERSION, MIN_PROTOCOL_VERSION, PAGES_HEADER_BYTES,
  checkDistinctVariables, checkImageGeometry, checkVersion, decodeMessage, decodePageRecords, decodePagesHeader, encodeControl, encodePages,
  encodePagesHeader, encodeStateChunk, maxCompressedPayload, messageTypeName, packPages, PACKED_HEADER_BYTES, PackCodec, unpackPages,
  writeCopyRecord, writeRecord, type ControlMessage,
  type PageRecord, type RecordToWrite, variableOf,
} from '@ferry/protocol';

type T = Pick<typeof t, 'throws'>;
const roundTrip = (msg: ControlMessage) => decodeMessage(encodeControl(msg));
/** A control message with an arbitrary (possibly invalid) msgpack body. */
const withBody = (type: number, body: unknown): Uint8Array =>
  Buffer.concat([Buffer.from([type]), msgpack.encode(body)]);
const rejects = (t: T, fn: () => unknown, message: RegExp, name?: string) =>
  t.throws(fn, { name: 'FerryError', code: ErrorCode.Malformed, message }, name ?? String(message));

t.test('every control message survives a round trip', async (t) => {
  const messages: ControlMessage[] = [
    {
      type: MessageType.Hello, version: PROTOCOL_VERSION, migrationId: 'mig-01.A_b', resume: true,
      images: [{ name: 'ram', size: 8192, pageSize: 4096 }, { name: 'vram.bin', size: 1 << 20, pageSize: 512 }],
      options: { policy: 'smart', compress: true, workers: 4 },
    },
    { type: MessageType.Welcome, version: PROTOCOL_VERSION, resumed: true, sessionSecret: 's3cret' },
    { type: MessageType.Welcome, version: PROTOCOL_VERSION, resumed: false, sessionSecret: '' },
    { type: MessageType.Welcome, version: PROTOCOL_VERSION, resumed: true, sessionSecret: 's', ackEveryBytes: 262_144, bytesReceived: 2 ** 40 },
    { type: MessageType.PassBegin, pass: 0xffff_ffff },
    { type: MessageType.PassEnd, pass: 3, pages: 2 ** 40, bytes: 2 ** 52 },
    { type: MessageType.Ack, pass: 7, bytesReceived: 123_456_789, pagesApplied: 30_141 },
    { type: MessageType.Paused },
    { type: MessageType.State, name: 'device-state', size: 12_345 },
    { type: MessageType.StateEnd, name: 'device-state', xxh64: '0123456789abcdef' },
    { type: MessageType.VerifyResult, image: 1, ok: false, mismatches: [[0, 4], [8, 10]] },
    { type: MessageType.VerifyResult, image: 0, ok: true, mismatches: [] },
    { type: MessageType.CommitReady },
    { type: MessageType.CommitReady, durableUs: 1234 },
    { type: MessageType.Go },
    { type: MessageType.Resumed },
    { type: MessageType.Resumed, commitUs: 0, resumeUs: 56_789 },
    { type: MessageType.Abort, reason: 'operator pressed Ctrl-C' },
    { type: MessageType.Error, code: ErrorCode.Verify, message: 'image ram differs in pages 0-4' },
  ];
  for (const msg of messages) t.same(roundTrip(msg), msg, `${messageTypeName(msg.type)} round trip`);
});

t.test('every message type encodes and decodes; numbers are unique and 0 is invalid', async (t) => {
  const binary = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
  // One encoded sample per message type; a type added to MessageType without one fails below.
  const samples: Partial<Record<keyof typeof MessageType, Uint8Array>> = {
    Hello: encodeControl({ type: MessageType.Hello, version: PROTOCOL_VERSION, migrationId: 'm', resume: false, images: [{ name: 'ram', size: 4096, pageSize: 4096 }], options: {} }),
    Welcome: encodeControl({ type: MessageType.Welcome, version: PROTOCOL_VERSION, resumed: false, sessionSecret: 'x' }),
    PassBegin: encodeControl({ type: MessageType.PassBegin, pass: 0 }),
    PassEnd: encodeControl({ type: MessageType.PassEnd, pass: 0, pages: 1, bytes: 20 }),
    Pages: encodePages({ imageIndex: 0, pass: 0 }, [{ pageIndex: 0, encoding: PageEncoding.Zero, payload: new Uint8Array(0) }]),
    Ack: encodeControl({ type: MessageType.Ack, pass: 0, bytesReceived: 1, pagesApplied: 1 }),
    Paused: encodeControl({ type: MessageType.Paused }),
    State: encodeControl({ type: MessageType.State, name: 'blob', size: 8 }),
    StateChunk: encodeStateChunk(binary),
    StateEnd: encodeControl({ type: MessageType.StateEnd, name: 'blob', xxh64: '0123456789abcdef' }),
    Verify: encodeControl({ type: MessageType.Verify, image: 0, pageCount: 1, digest: '0123456789abcdef', blockPages: 1, blockDigests: binary }),
    VerifyResult: encodeControl({ type: MessageType.VerifyResult, image: 0, ok: true, mismatches: [] }),
    CommitReady: encodeControl({ type: MessageType.CommitReady }),
    Go: encodeControl({ type: MessageType.Go }),
    Resumed: encodeControl({ type: MessageType.Resumed }),
    Abort: encodeControl({ type: MessageType.Abort, reason: 'test' }),
    Error: encodeControl({ type: MessageType.Error, code: ErrorCode.Internal, message: 'test' }),
    PageTable: encodeControl({ type: MessageType.PageTable, image: 0, firstPage: 0, hashes: binary }),
    PagesPacked: await packPages(encodePages({ imageIndex: 0, pass: 0 }, [{ pageIndex: 0, encoding: PageEncoding.Zero, payload: new Uint8Array(0) }])),
  };
  // A packed PAGES message decodes as the PAGES message it holds.
  const decodesAs = (name: keyof typeof MessageType): number => MessageType[name === 'PagesPacked' ? 'Pages' : name];
  const names = Object.keys(MessageType) as Array<keyof typeof MessageType>;
  const numbers = names.map((name) => MessageType[name]);
  t.equal(new Set(numbers).size, numbers.length, `${numbers.length} message types, no number used twice`);
  t.equal(MessageType.Invalid, 0, 'Invalid is 0');
  for (const name of names.filter((n) => n !== 'Invalid')) {
    const sample = samples[name];
    t.ok(sample, `${name} has a sample`);
    if (!sample) continue;
    t.equal(sample[0], MessageType[name], `${name} is encoded with type byte ${MessageType[name]}`);
    t.equal(decodeMessage(sample).type, decodesAs(name), `${name} decodes as ${messageTypeName(decodesAs(name))}`);
    t.equal(messageTypeName(MessageType[name]), name, `${name} has its name`);
  }
  rejects(t, () => decodeMessage(new Uint8Array([MessageType.Invalid, 0x80])), /unknown message type 0/, 'type 0 is rejected');
  const unused = Math.max(...numbers) + 1;
  rejects(t, () => decodeMessage(new Uint8Array([unused, 0x80])), new RegExp(`unknown message type ${unused}`), 'an unassigned type is rejected');
});

t.test('golden bytes: type byte then a msgpack map', async (t) => {
  t.same([...encodeControl({ type: MessageType.Go })], [MessageType.Go, 0x80]);
  t.same([...encodeControl({ type: MessageType.PassBegin, pass: 1 })], [3, 0x81, 0xa4, ...Buffer.from('pass'), 0x01]);
});

t.test('VERIFY and PAGE_TABLE carry binary intact, from any Uint8Array view', async (t) => {
  const backing = new Uint8Array(40).map((_, i) => i * 7 + 1);
  const blockDigests = backing.subarray(5, 29); // 3 blocks of 8 bytes at an odd offset
  const verify = roundTrip({
    type: MessageType.Verify, image: 2, pageCount: 10, digest: 'ffeeddccbbaa0099', blockPages: 4, blockDigests,
  });
  if (verify.type !== MessageType.Verify) throw new Error('not a VERIFY');
  t.match(verify, { image: 2, pageCount: 10, digest: 'ffeeddccbbaa0099', blockPages: 4 });
  t.same([...verify.blockDigests], [...blockDigests]);
  const hashes = new Uint8Array(16).map((_, i) => 255 - i);
  const table = roundTrip({ type: MessageType.PageTable, image: 1, firstPage: 262_144, hashes });
  if (table.type !== MessageType.PageTable) throw new Error('not a PAGE_TABLE');
  t.match(table, { image: 1, firstPage: 262_144 });
  t.same([...table.hashes], [...hashes]);
});

t.test('STATE_CHUNK is the type byte then raw bytes', async (t) => {
  const data = new Uint8Array([0, 1, 2, 250, 255]);
  const encoded = encodeStateChunk(data);
  t.same([...encoded], [MessageType.StateChunk, 0, 1, 2, 250, 255]);
  const decoded = decodeMessage(encoded);
  if (decoded.type !== MessageType.StateChunk) throw new Error('not a STATE_CHUNK');
  t.same([...decoded.data], [...data]);
  const empty = decodeMessage(encodeStateChunk(new Uint8Array(0)));
  t.equal(empty.type === MessageType.StateChunk && empty.data.length, 0, 'empty chunk');
});

t.test('ERROR with a code from a newer peer keeps its text as Internal', async (t) => {
  t.same(decodeMessage(withBody(MessageType.Error, { code: 'FERRY_ERR_FROM_THE_FUTURE', message: 'x' })),
    { type: MessageType.Error, code: ErrorCode.Internal, message: 'x' });
});

t.test('HELLO without options decodes to empty options', async (t) => {
  const body = { version: 1, migrationId: 'm', images: [{ name: 'ram', size: 4096, pageSize: 4096 }], resume: false };
  t.same(decodeMessage(withBody(MessageType.Hello, body)), { type: MessageType.Hello, ...body, options: {} });
});

const P = 512;
const geometry = { pageCount: 8, pageSize: P };
const filled = (n: number, v: number) => new Uint8Array(n).fill(v);
const u32 = (v: number) => { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, v, true); return b; };
const lz4Like = (declared: number, rest = 8) => Buffer.concat([u32(declared), filled(rest, 0xaa)]);

t.test('PAGES: header golden bytes and a round trip of every encoding', async (t) => {
  t.same([...encodePagesHeader({ imageIndex: 0x0102, pass: 0x03040506, count: 0x0708090a })],
    [5, 0x02, 0x01, 0x06, 0x05, 0x04, 0x03, 0x0a, 0x09, 0x08, 0x07]);
  const records: RecordToWrite[] = [
    { pageIndex: 0, encoding: PageEncoding.Zero, payload: new Uint8Array(0) },
    { pageIndex: 1, encoding: PageEncoding.Raw, payload: filled(P, 0x5a) },
    { pageIndex: 2, encoding: PageEncoding.Lz4, payload: lz4Like(P, 20) },
    { pageIndex: 3, encoding: PageEncoding.XorLz4, payload: lz4Like(P, 6) },
    { pageIndex: 7, encoding: PageEncoding.Copy, payload: u32(1) },
  ];
  const message = encodePages({ imageIndex: 3, pass: 9 }, records);
  t.equal(message.length, PAGES_HEADER_BYTES + 5 * 9 + P + 24 + 10 + 4);
  t.same(decodePagesHeader(message), { imageIndex: 3, pass: 9, count: 5 });
  const whole = decodeMessage(message);
  t.match(whole, { type: MessageType.Pages, imageIndex: 3, pass: 9, count: 5 });
  const decoded = decodePageRecords(message, geometry);
  t.same(decoded.map((r) => [r.pageIndex, r.encoding, [...r.payload]]), records.map((r) => [r.pageIndex, r.encoding, [...r.payload]]));
  t.match(decoded[4], { encoding: PageEncoding.Copy, from: 1 }, 'a COPY record carries its decoded source page');
  t.same(decodePageRecords(encodePages({ imageIndex: 0, pass: 0 }, []), geometry), [], 'zero records');
});

t.test('PAGES: record golden bytes, written in place by writeRecord and writeCopyRecord', async (t) => {
  const out = new Uint8Array(9 + 3 + 9 + 4 + 2);
  const view = new DataView(out.buffer);
  const afterRaw = writeRecord(out, view, 0, { pageIndex: 0x01020304, encoding: PageEncoding.Lz4, payload: new Uint8Array([0xa, 0xb, 0xc]) });
  t.equal(afterRaw, 12);
  const afterCopy = writeCopyRecord(view, afterRaw, 0x0a0b0c0d, 0x11223344);
  t.equal(afterCopy, 25);
  t.same([...out], [
    0x04, 0x03, 0x02, 0x01, PageEncoding.Lz4, 3, 0, 0, 0, 0xa, 0xb, 0xc,
    0x0d, 0x0c, 0x0b, 0x0a, PageEncoding.Copy, 4, 0, 0, 0, 0x44, 0x33, 0x22, 0x11,
    0, 0,
  ], 'u32 LE page | u8 encoding | u32 LE length | payload; nothing written past the record');
});

t.test('the target\'s durations on COMMIT_READY and RESUMED: optional, and only sane integers', async (t) => {
  // An older target sends empty bodies; an older source ignores fields it does not know (asFields keeps no schema).
  t.same(decodeMessage(withBody(MessageType.CommitReady, {})), { type: MessageType.CommitReady }, 'COMMIT_READY without durations');
  t.same(decodeMessage(withBody(MessageType.Resumed, {})), { type: MessageType.Resumed }, 'RESUMED without durations');
  for (const bad of [-1, 1.5, 'fast', 2 ** 53, 3_600_000_001, null, [1]]) {
    rejects(t, () => decodeMessage(withBody(MessageType.CommitReady, { durableUs: bad })), /COMMIT_READY: durableUs must be an integer/, `durableUs ${JSON.stringify(bad)}`);
    rejects(t, () => decodeMessage(withBody(MessageType.Resumed, { resumeUs: bad })), /RESUMED: resumeUs must be an integer/, `resumeUs ${JSON.stringify(bad)}`);
  }
  t.same(decodeMessage(withBody(MessageType.Resumed, { commitUs: 5, extra: 'ignored' })), { type: MessageType.Resumed, commitUs: 5 }, 'unknown fields are dropped');
});

t.test('WELCOME\'s ACK cadence: optional, both fields together, and bounded', async (t) => {
  const welcome = (fields: Record<string, unknown>) => withBody(MessageType.Welcome, { version: PROTOCOL_VERSION, resumed: false, sessionSecret: 's', ...fields });
  // An older target says nothing of its ACKs: the source then does not pace on them.
  t.same(decodeMessage(welcome({})), { type: MessageType.Welcome, version: PROTOCOL_VERSION, resumed: false, sessionSecret: 's' }, 'without a cadence');
  t.same(decodeMessage(welcome({ ackEveryBytes: MIN_ACK_EVERY_BYTES, bytesReceived: 0 })),
    { type: MessageType.Welcome, version: PROTOCOL_VERSION, resumed: false, sessionSecret: 's', ackEveryBytes: MIN_ACK_EVERY_BYTES, bytesReceived: 0 }, 'the smallest cadence');
  const bad: Array<[Record<string, unknown>, RegExp]> = [
    [{ ackEveryBytes: 262_144 }, /bytesReceived must be an integer/],
    [{ bytesReceived: 5 }, /ackEveryBytes must be an integer/],
    [{ ackEveryBytes: 0, bytesReceived: 0 }, /ackEveryBytes must be at least 4096/],
    [{ ackEveryBytes: MIN_ACK_EVERY_BYTES - 1, bytesReceived: 0 }, /ackEveryBytes must be at least 4096/],
    [{ ackEveryBytes: MAX_ACK_EVERY_BYTES + 1, bytesReceived: 0 }, /ackEveryBytes must be an integer from 0 to 67108864/],
    [{ ackEveryBytes: 1.5e5, bytesReceived: -1 }, /bytesReceived must be an integer/],
    [{ ackEveryBytes: '262144', bytesReceived: 0 }, /ackEveryBytes must be an integer/],
    [{ ackEveryBytes: 262_144, bytesReceived: 2 ** 53 }, /bytesReceived must be an integer/],
    [{ ackEveryBytes: null, bytesReceived: 0 }, /ackEveryBytes must be an integer/],
  ];
  for (const [fields, message] of bad) rejects(t, () => decodeMessage(welcome(fields)), message, `WELCOME ${JSON.stringify(fields)}`);
});

t.test('rejects malformed control messages', async (t) => {
  rejects(t, () => decodeMessage(new Uint8Array(0)), /empty message/);
  for (const type of [0, 20, 200, 255]) rejects(t, () => decodeMessage(withBody(type, {})), /unknown message type/, `type ${type}`);
  rejects(t, () => decodeMessage(new Uint8Array([MessageType.Go])), /empty body/);
  for (const body of [[1, 2], 5, 'go', null, true, Buffer.from([1, 2])]) {
    rejects(t, () => decodeMessage(withBody(MessageType.Go, body)), /body must be a map/, `GO body ${JSON.stringify(body)}`);
  }
  rejects(t, () => decodeMessage(new Uint8Array([MessageType.PassBegin, 0x81, 0xa4, 0x70])), /not valid msgpack/, 'truncated msgpack');
  rejects(t, () => decodeMessage(new Uint8Array([MessageType.PassBegin, 0xc1])), /not valid msgpack/, 'reserved msgpack byte');
  const trailing = Buffer.concat([encodeControl({ type: MessageType.PassBegin, pass: 1 }), Buffer.from([0])]);
  rejects(t, () => decodeMessage(trailing), /1 bytes after the body/);

  const bad: Array<[number, unknown, RegExp]> = [
    [MessageType.PassBegin, {}, /pass must be an integer/],
    [MessageType.PassBegin, { pass: '1' }, /pass must be an integer/],
    [MessageType.PassBegin, { pass: -1 }, /pass must be an integer/],
    [MessageType.PassBegin, { pass: 1.5 }, /pass must be an integer/],
    [MessageType.PassBegin, { pass: 2 ** 32 }, /pass must be an integer from 0 to 4294967295/],
    [MessageType.PassEnd, { pass: 1, pages: 2 }, /bytes must be an integer/],
    [MessageType.Ack, { pass: 1, bytesReceived: 1, pagesApplied: null }, /pagesApplied/],
    [MessageType.Welcome, { version: PROTOCOL_VERSION, resumed: 'yes', sessionSecret: 's' }, /resumed must be true or false/],
    [MessageType.Welcome, { version: PROTOCOL_VERSION, resumed: false }, /WELCOME: sessionSecret must be a string/],
    [MessageType.Welcome, { version: 0x10000, resumed: true }, /version/],
    [MessageType.State, { name: 'blob', size: -3 }, /size must be an integer/],
    [MessageType.StateEnd, { name: 'blob', xxh64: '0123456789ABCDEF' }, /xxh64 must be 16 lowercase hex/],
    [MessageType.StateEnd, { name: 'blob', xxh64: '0123456789abcde' }, /xxh64 must be 16 lowercase hex/],
    [MessageType.Abort, {}, /reason must be a string/],
    [MessageType.Abort, { reason: 'x'.repeat(4097) }, /reason must be a string of at most 4096/],
    [MessageType.Error, { code: 17, message: 'x' }, /code must be a string/],
    [MessageType.Verify, { image: 0, pageCount: 10, digest: '0'.repeat(16), blockPages: 0, blockDigests: Buffer.alloc(0) }, /blockPages must be at least 1/],
    [MessageType.Verify, { image: 0, pageCount: 10, digest: '0'.repeat(16), blockPages: 4, blockDigests: Buffer.alloc(16) }, /16 bytes of block digests, expected 24/],
    [MessageType.Verify, { image: 0, pageCount: 10, digest: '0'.repeat(16), blockPages: 4, blockDigests: [1, 2, 3] }, /blockDigests must be binary/],
    [MessageType.Verify, { image: 0, pageCount: 10, digest: 'nope', blockPages: 10, blockDigests: Buffer.alloc(8) }, /digest must be 16/],
    [MessageType.VerifyResult, { image: 0, ok: false, mismatches: [[4, 4]] }, /bad mismatch range/],
    [MessageType.VerifyResult, { image: 0, ok: false, mismatches: [[5, 2]] }, /bad mismatch range/],
    [MessageType.VerifyResult, { image: 0, ok: false, mismatches: [[-1, 2]] }, /bad mismatch range/],
    [MessageType.VerifyResult, { image: 0, ok: false, mismatches: [[1]] }, /a mismatch must be \[start, end\]/],
    [MessageType.VerifyResult, { image: 0, ok: false, mismatches: 'all' }, /mismatches must be a list/],
    [MessageType.PageTable, { image: 0, firstPage: 0, hashes: Buffer.alloc(0) }, /not a whole number of u64/],
    [MessageType.PageTable, { image: 0, firstPage: 0, hashes: Buffer.alloc(12) }, /not a whole number of u64/],
    [MessageType.PageTable, { image: 0x10000, firstPage: 0, hashes: Buffer.alloc(8) }, /image must be/],
  ];
  for (const [type, body, message] of bad) rejects(t, () => decodeMessage(withBody(type, body)), message, `${type} ${JSON.stringify(body)}`);
});

const hello = (patch: Record<string, unknown> = {}, image: Record<string, unknown> = {}) => withBody(MessageType.Hello, {
  version: 1, migrationId: 'm1', resume: false, options: {},
  images: [{ name: 'ram', size: 8192, pageSize: 4096, ...image }], ...patch,
});

t.test('HELLO: names, page sizes, images and options are validated', async (t) => {
  t.doesNotThrow(() => decodeMessage(hello({}, { name: 'a'.repeat(64) })), '64-character name is fine');
  for (const name of ['../x', 'a/b', '.', '..', 'a'.repeat(65), '', 'sp ace', 'é', 7]) {
    rejects(t, () => decodeMessage(hello({}, { name })), /image name .* is not allowed/, `image name ${JSON.stringify(name)}`);
    rejects(t, () => decodeMessage(hello({ migrationId: name })), /migration id .* is not allowed/, `migration id ${JSON.stringify(name)}`);
    rejects(t, () => decodeMessage(withBody(MessageType.State, { name, size: 1 })), /state blob name .* is not allowed/, `blob ${JSON.stringify(name)}`);
  }
  for (const pageSize of [3000, 4097, 256, 2 ** 21, 0]) {
    rejects(t, () => decodeMessage(hello({}, { pageSize })), /page size .* is not a power of two/, `page size ${pageSize}`);
  }
  rejects(t, () => decodeMessage(hello({ images: [] })), /at least one image/);
  rejects(t, () => decodeMessage(hello({ images: [{ name: 'a', size: 4096, pageSize: 4096 }, { name: 'a', size: 4096, pageSize: 4096 }] })), /unique/);
  rejects(t, () => decodeMessage(hello({ images: ['ram'] })), /image 0: body must be a map/);
  rejects(t, () => decodeMessage(hello({ resume: 1 })), /resume must be true or false/);
  rejects(t, () => decodeMessage(hello({ options: { nested: { a: 1 } } })), /HELLO options: nested must be a string/);
  const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, i]));
  rejects(t, () => decodeMessage(hello({ options: many })), /at most 64 entries/);
});

t.test('checkImageGeometry: page size a power of two, size a positive multiple, under the limit', async (t) => {
  t.equal(checkImageGeometry('ram', 1 << 20, 4096, DEFAULT_LIMITS), 256);
  rejects(t, () => checkImageGeometry('ram', 4097, 4096, DEFAULT_LIMITS), /multiple of the page size/);
  rejects(t, () => checkImageGeometry('ram', 4096 * 3 + 512, 4096, DEFAULT_LIMITS), /multiple of the page size/);
  rejects(t, () => checkImageGeometry('ram', 0, 4096, DEFAULT_LIMITS), /positive multiple/);
  rejects(t, () => checkImageGeometry('ram', 6000 * 2, 6000, DEFAULT_LIMITS), /power of two/);
  t.throws(() => checkImageGeometry('ram', 8192, 4096, { ...DEFAULT_LIMITS, maxImageBytes: 4096 }), { code: ErrorCode.Limit });
});

/** Builds a PAGES message by hand: [pageIndex, encoding, declaredLength, payload]. */
function rawPages(count: number, records: Array<[number, number, number, Uint8Array]>, extra = 0): Uint8Array {
  const parts: Uint8Array[] = [encodePagesHeader({ imageIndex: 0, pass: 1, count })];
  for (const [page, encoding, length, payload] of records) {
    const header = new Uint8Array(9);
    const view = new DataView(header.buffer);
    view.setUint32(0, page, true);
    view.setUint8(4, encoding);
    view.setUint32(5, length, true);
    parts.push(header, payload);
  }
  parts.push(new Uint8Array(extra));
  return Buffer.concat(parts);
}
const rec = (page: number, encoding: number, payload: Uint8Array): [number, number, number, Uint8Array] => [page, encoding, payload.length, payload];

t.test('PAGES: each malformed record is rejected', async (t) => {
  const decode = (m: Uint8Array) => () => decodePageRecords(m, geometry);
  const header = encodePagesHeader({ imageIndex: 0, pass: 0, count: 0 });
  rejects(t, () => decodeMessage(header.subarray(0, 10)), /shorter than the 11-byte header/);
  rejects(t, () => decodePagesHeader(new Uint8Array([6, ...header.subarray(1)])), /wrong message type byte/);
  rejects(t, decode(rawPages(2, [rec(0, PageEncoding.Zero, new Uint8Array(0))])), /claims 2 records, the message can hold at most 1/);
  rejects(t, decode(rawPages(2, [rec(0, PageEncoding.Raw, filled(P, 1))], 5)), /record 1 is truncated/);
  rejects(t, decode(rawPages(1, [[0, PageEncoding.Raw, P + 1, filled(P, 1)]])), /claims 513 payload bytes, 512 remain/);
  rejects(t, decode(rawPages(1, [rec(8, PageEncoding.Zero, new Uint8Array(0))])), /page index 8 is past the end/);
  rejects(t, decode(rawPages(1, [rec(0xffff_ffff, PageEncoding.Zero, new Uint8Array(0))])), /past the end/);
  rejects(t, decode(rawPages(1, [rec(0, PageEncoding.Raw, filled(P - 1, 1))])), /RAW payload is 511 bytes/);
  rejects(t, decode(rawPages(1, [rec(0, PageEncoding.Zero, filled(1, 0))])), /ZERO record carries no payload/);
  for (const encoding of [PageEncoding.Lz4, PageEncoding.XorLz4]) {
    // The bodies are garbage: only the declared size is looked at, nothing is decompressed.
    rejects(t, decode(rawPages(1, [rec(0, encoding, lz4Like(P * 2))])), /declares 1024 bytes, the page size is 512/);
    rejects(t, decode(rawPages(1, [rec(0, encoding, lz4Like(0xffff_ffff))])), /declares 4294967295 bytes/);
    rejects(t, decode(rawPages(1, [rec(0, encoding, lz4Like(P, 0))])), /compressed payload of 4 bytes is impossible/);
    rejects(t, decode(rawPages(1, [rec(0, encoding, lz4Like(P, maxCompressedPayload(P) - 3))])), /is impossible/);
    t.doesNotThrow(decode(rawPages(1, [rec(0, encoding, lz4Like(P, maxCompressedPayload(P) - 4))])), 'largest possible payload');
  }
  rejects(t, decode(rawPages(1, [rec(0, PageEncoding.Copy, u32(8))])), /COPY from page 8, past the end/);
  rejects(t, decode(rawPages(1, [rec(0, PageEncoding.Copy, new Uint8Array(3))])), /COPY payload must be 4 bytes/);
  for (const encoding of [0, 6, 255]) {
    rejects(t, decode(rawPages(1, [rec(0, encoding, new Uint8Array(0))])), new RegExp(`unknown page encoding ${encoding}`));
  }
  rejects(t, decode(rawPages(1, [rec(0, PageEncoding.Zero, new Uint8Array(0))], 1)), /1 bytes after the last record/);
  rejects(t, decode(rawPages(0, [], 3)), /3 bytes after the last record/);
});

t.test('checkVersion accepts the current version only', async (t) => {
  t.equal(MIN_PROTOCOL_VERSION, PROTOCOL_VERSION, 'this build accepts exactly one version');
  t.doesNotThrow(() => checkVersion(PROTOCOL_VERSION, 'source'));
  for (const v of [MIN_PROTOCOL_VERSION - 1, PROTOCOL_VERSION + 1, 0xffff]) {
    t.throws(() => checkVersion(v, 'target'), { name: 'FerryError', code: ErrorCode.Version, message: new RegExp(`target speaks ferry protocol ${v}`) });
  }
});

t.test('a WELCOME of another version gets the version error, not a field error', async (t) => {
  t.equal(PROTOCOL_VERSION, 3, 'v3: PAGES_PACKED');
  const v2Welcome = withBody(MessageType.Welcome, { version: 2, resumed: false, sessionSecret: 'x' });
  t.throws(() => decodeMessage(v2Welcome), { code: ErrorCode.Version, message: /target speaks ferry protocol 2, this side speaks 3: run the same ferry version/ });
});

t.test('names: one rule for every name, reserved image and blob names, one variable per name', async (t) => {
  const hello = (names: string[], migrationId = 'm') => withBody(MessageType.Hello, {
    version: PROTOCOL_VERSION, migrationId, resume: false, options: {}, images: names.map((name) => ({ name, size: 4096, pageSize: 4096 })),
  });
  t.equal(decodeMessage(hello(['ram', 'disk.qcow2', '_x', '.hidden'])).type, MessageType.Hello);
  rejects(t, () => decodeMessage(hello(['-ram'])), /image name "-ram" is not allowed: .*not starting with -/);
  rejects(t, () => decodeMessage(hello(['ram'], '--help')), /migration id "--help" is not allowed/);
  for (const reserved of ['state', 'manifest.json', 'manifest.json.tmp', 'qemu.log', 'qmp.sock', 'qemu-state.sock', 'ram.partial']) {
    rejects(t, () => decodeMessage(hello([reserved])), new RegExp(`image name "${reserved.replace('.', '\\.')}" is reserved`));
  }
  rejects(t, () => decodeMessage(hello(['vm.disk', 'VM-DISK'])), /"vm\.disk" and "VM-DISK" would both be FERRY_IMAGE_VM_DISK/);
  rejects(t, () => decodeMessage(withBody(MessageType.State, { name: 'qemu-state.partial', size: 1 })), /state blob name "qemu-state\.partial" is reserved/);
  t.equal(variableOf('__proto__'), '__PROTO__');
  t.doesNotThrow(() => checkDistinctVariables(['a', 'b', 'a_b'], 'FERRY_STATE_', 'state blobs'));
  rejects(t, () => checkDistinctVariables(['a.b', 'a_b'], 'FERRY_STATE_', 'state blobs'), /state blobs "a\.b" and "a_b" would both be FERRY_STATE_A_B/);
});

t.test('PAGES_PACKED: unpacks to the PAGES message it holds, and refuses what it cannot prove', async (t) => {
  const text = Buffer.from('2024-03-11T10:00:00Z INFO [worker-3] GET /api/v1/orders 200 12ms user=alice\n'.repeat(60).slice(0, P));
  const records: RecordToWrite[] = [
    { pageIndex: 0, encoding: PageEncoding.Raw, payload: text },
    { pageIndex: 1, encoding: PageEncoding.Raw, payload: text },
    { pageIndex: 2, encoding: PageEncoding.Zero, payload: new Uint8Array(0) },
    { pageIndex: 7, encoding: PageEncoding.Copy, payload: u32(1) },
  ];
  const pages = encodePages({ imageIndex: 2, pass: 4 }, records);
  const packed = await packPages(pages);
  const header = packed.subarray(0, PACKED_HEADER_BYTES);
  const body = packed.subarray(PACKED_HEADER_BYTES);
  t.same([...header], [MessageType.PagesPacked, PackCodec.Brotli, ...u32(pages.length)], 'header: type, codec, the unpacked length (LE)');
  t.ok(packed.length < pages.length / 4, `two text pages pack small (${packed.length} of ${pages.length} bytes)`);
  const decoded = decodeMessage(packed);
  t.match(decoded, { type: MessageType.Pages, imageIndex: 2, pass: 4, count: 4 });
  t.same([...(decoded as { bytes: Uint8Array }).bytes], [...pages], 'the same bytes as the PAGES message');

  const bad = (bytes: Uint8Array | Buffer, message: RegExp, name: string) => rejects(t, () => decodeMessage(bytes), message, name);
  const withHeader = (codec: number, length: number, rest: Uint8Array) => Buffer.concat([Buffer.from([MessageType.PagesPacked, codec]), Buffer.from(u32(length)), rest]);
  bad(header, /leave no room for a body/, 'a header alone');
  bad(withHeader(PackCodec.Invalid, pages.length, body), /unknown codec 0/, 'codec 0');
  bad(withHeader(7, pages.length, body), /unknown codec 7/, 'an unknown codec');
  bad(withHeader(PackCodec.Brotli, DEFAULT_LIMITS.maxMessageBytes + 1, body), /over the \d+-byte message limit/, 'a declared length over the limit, before anything is unpacked');
  t.throws(() => unpackPages(packed, pages.length - 1), { code: ErrorCode.Malformed }, 'the receiver\'s own limit holds');
  bad(withHeader(PackCodec.Brotli, pages.length - 1, body), /does not unpack to/, 'a body that unpacks to more than declared stops there (no bombs)');
  bad(withHeader(PackCodec.Brotli, pages.length + 1, body), /unpacks to \d+ bytes, \d+ declared/, 'a body shorter than declared');
  bad(withHeader(PackCodec.Brotli, pages.length, body.subarray(0, body.length - 3)), /does not unpack|unpacks to/, 'a cut body');
  bad(withHeader(PackCodec.Brotli, pages.length, Buffer.from('not brotli at all')), /does not unpack/, 'garbage');
  const control = encodeControl({ type: MessageType.Go });
  const goBody = (await packPages(control)).subarray(PACKED_HEADER_BYTES);
  bad(withHeader(PackCodec.Brotli, control.length, goBody), /not a PAGES message/, 'a packed control message');
  const nested = (await packPages(packed)).subarray(PACKED_HEADER_BYTES);
  bad(withHeader(PackCodec.Brotli, packed.length, nested), /not a PAGES message/, 'a packed PAGES_PACKED');
});

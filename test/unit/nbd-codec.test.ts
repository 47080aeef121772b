/**
 * The NBD client's pure codec: golden bytes of what it sends, and every parser fed the server's bytes
 * split at every offset (a parse must not care where the socket cut the stream), plus each rejection.
 */
import t, { type Test } from 'tap';
import {
  ByteQueue, decodeBlockStatus, decodeErrorChunk, decodeInfo, decodeMetaContext, decodeOffsetHole,
  encodeGoData, encodeMetaContextData, encodeOption, encodeRequest, NbdError, parseGreeting,
  parseOptionReply, parseReply, nbd,
} from '@ferry/nbd';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const bytes = (h: string): Uint8Array => new Uint8Array(Buffer.from(h.replace(/\s+/g, ''), 'hex'));

/** Feeds `input` in two pieces cut at every offset; `parse` must return undefined until the end, then `expected`. */
function everySplit<T>(t: Test, input: Uint8Array, parse: (q: ByteQueue) => T | undefined, check: (value: T) => void): void {
  for (let cut = 0; cut <= input.length; cut++) {
    const queue = new ByteQueue();
    queue.push(input.subarray(0, cut));
    const early = parse(queue);
    if (cut < input.length) {
      if (early !== undefined) t.fail(`parsed with only ${cut} of ${input.length} bytes`);
      queue.push(input.subarray(cut));
      const value = parse(queue);
      if (value === undefined) t.fail(`no parse after the cut at ${cut}`);
      else check(value);
    } else if (early === undefined) t.fail('no parse of the whole input');
    else check(early);
    if (queue.length !== 0) t.fail(`left ${queue.length} bytes after the cut at ${cut}`);
  }
}

const GREETING = bytes('4e42444d41474943 49484156454f5054 0003');

t.test('greeting: fixed newstyle, any split', (t) => {
  everySplit(t, GREETING, parseGreeting, (g) => t.equal(g.handshakeFlags, 3));
  t.end();
});

t.test('greeting rejections', (t) => {
  const check = (input: Uint8Array, pattern: RegExp) => {
    const q = new ByteQueue();
    q.push(input);
    t.throws(() => parseGreeting(q), pattern);
  };
  check(bytes('0000000000000000 49484156454f5054 0001'), /not an NBD server/);
  check(bytes('4e42444d41474943 0000000000420281 0001'), /newstyle/);
  check(bytes('4e42444d41474943 49484156454f5054 0000'), /fixed newstyle/);
  t.end();
});

t.test('what the client sends: golden bytes', (t) => {
  t.equal(hex(encodeOption(nbd.Opt.StructuredReply)), '49484156454f5054' + '00000008' + '00000000');
  t.equal(hex(encodeGoData('d', [nbd.Info.BlockSize])), '00000001' + '64' + '0001' + '0003');
  t.equal(hex(encodeMetaContextData('d', ['a:b'])), '00000001' + '64' + '00000001' + '00000003' + '613a62');
  t.equal(hex(encodeRequest({ flags: 0, type: nbd.Cmd.BlockStatus, cookie: 5n, offset: 4096, length: 8192 })),
    '25609513' + '0000' + '0007' + '0000000000000005' + '0000000000001000' + '00002000');
  t.throws(() => encodeGoData('x'.repeat(5000), []), /longer than 4096/);
  t.end();
});

const optionReply = (option: number, type: number, data: string): Uint8Array => {
  const body = bytes(data);
  const head = new Uint8Array(20);
  const v = new DataView(head.buffer);
  v.setBigUint64(0, nbd.OPTION_REPLY_MAGIC);
  v.setUint32(8, option);
  v.setUint32(12, type);
  v.setUint32(16, body.length);
  return new Uint8Array([...head, ...body]);
};

t.test('option replies: any split; info and meta context decode', (t) => {
  const info = optionReply(nbd.Opt.Go, nbd.Rep.Info, '0000 0000000010000000 0003');
  everySplit(t, info, (q) => parseOptionReply(q, 1024), (r) => {
    t.equal(r.option, nbd.Opt.Go);
    t.equal(r.type, nbd.Rep.Info);
    t.same(decodeInfo(r.data), { kind: 'export', size: 0x10000000, transmissionFlags: 3 });
  });
  const meta = optionReply(nbd.Opt.SetMetaContext, nbd.Rep.MetaContext, '00000007 ' + hex(new TextEncoder().encode('qemu:dirty-bitmap:b0')));
  everySplit(t, meta, (q) => parseOptionReply(q, 1024), (r) => t.same(decodeMetaContext(r.data), { id: 7, name: 'qemu:dirty-bitmap:b0' }));
  t.same(decodeInfo(bytes('0003 00000001 00001000 02000000')), { kind: 'block-size', minimum: 1, preferred: 4096, maximum: 0x2000000 });
  t.same(decodeInfo(bytes('0009 ff')), { kind: 'other', type: 9 });
  t.end();
});

t.test('option reply rejections', (t) => {
  const q = new ByteQueue();
  q.push(optionReply(1, 1, '00'.repeat(100)));
  t.throws(() => parseOptionReply(q, 99), /over the 99-byte limit/, 'length checked before waiting for or allocating the data');
  const bad = new ByteQueue();
  bad.push(bytes('00'.repeat(20)));
  t.throws(() => parseOptionReply(bad, 99), /magic/);
  t.throws(() => decodeInfo(bytes('0000 00')), /must be 12/);
  t.throws(() => decodeInfo(bytes('0000 ffffffffffffffff 0001')), /too large/);
  t.throws(() => decodeInfo(bytes('00')), /shorter/);
  t.throws(() => decodeMetaContext(bytes('000000')), /shorter/);
  t.throws(() => decodeMetaContext(bytes('00000001 ff')), /UTF-8/);
  t.end();
});

const chunk = (flags: number, type: number, cookie: bigint, payload: string): Uint8Array => {
  const body = bytes(payload);
  const head = new Uint8Array(20);
  const v = new DataView(head.buffer);
  v.setUint32(0, nbd.STRUCTURED_REPLY_MAGIC);
  v.setUint16(4, flags);
  v.setUint16(6, type);
  v.setBigUint64(8, cookie);
  v.setUint32(16, body.length);
  return new Uint8Array([...head, ...body]);
};

t.test('structured chunks and simple replies: any split', (t) => {
  const status = chunk(nbd.REPLY_FLAG_DONE, nbd.ReplyType.BlockStatus, 9n, '00000002 00001000 00000001 00003000 00000000');
  everySplit(t, status, (q) => parseReply(q, 1024), (r) => {
    if (r.kind !== 'chunk') return void t.fail('not a chunk');
    t.equal(r.cookie, 9n);
    t.equal(r.flags, nbd.REPLY_FLAG_DONE);
    t.same(decodeBlockStatus(r.payload), { contextId: 2, extents: [{ length: 4096, flags: 1 }, { length: 12288, flags: 0 }] });
  });
  const simple = bytes('67446698 00000005 000000000000000a');
  everySplit(t, simple, (q) => parseReply(q, 1024), (r) => t.same(r, { kind: 'simple', error: 5, cookie: 10n }));
  t.same(decodeOffsetHole(bytes('0000000000002000 00001000')), { offset: 8192, length: 4096 });
  t.same(decodeErrorChunk(nbd.ReplyType.Error, bytes('00000016 0002 6f6b')), { error: 22, message: 'ok' });
  t.end();
});

t.test('reply rejections: bad magic, oversized chunk, malformed payloads', (t) => {
  const q = new ByteQueue();
  q.push(bytes('deadbeef'));
  t.throws(() => parseReply(q, 1024), /bad reply magic/);
  const big = new ByteQueue();
  big.push(chunk(0, nbd.ReplyType.OffsetData, 1n, '00'.repeat(64)).subarray(0, 20));
  t.throws(() => parseReply(big, 63), /over the 63-byte limit/, 'the length is refused from the header alone');
  t.throws(() => decodeBlockStatus(bytes('00000001')), /BLOCK_STATUS chunk of 4 bytes/);
  t.throws(() => decodeBlockStatus(bytes('00000001 00000000 00000000')), /length 0/);
  t.throws(() => decodeBlockStatus(bytes('00000001 00001000 000000')), /BLOCK_STATUS chunk/);
  t.throws(() => decodeOffsetHole(bytes('0000000000000000 00000000')), /length 0/);
  t.throws(() => decodeErrorChunk(nbd.ReplyType.Error, bytes('00000001 0009 61')), /longer than the chunk/);
  t.type(new NbdError('protocol', 'x'), Error);
  t.end();
});

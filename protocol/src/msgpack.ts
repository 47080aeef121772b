import msgpack from 'msgpack-lite';
// @ts-expect-error msgpack-lite ships no types for its internals; DecodeBuffer lets us detect trailing bytes.
import { DecodeBuffer } from 'msgpack-lite/lib/decode-buffer.js';
import { malformed } from './errors.js';

// No preset extension types: untrusted input must never turn into Dates, Errors or typed arrays by itself.
const codec = msgpack.createCodec({ preset: false });

interface MsgpackDecodeBuffer {
  offset: number;
  write(chunk: Uint8Array): void;
  read(): unknown;
}

export function packBody(type: number, body: unknown): Buffer {
  const packed = msgpack.encode(body, { codec });
  const message = Buffer.allocUnsafe(1 + packed.length);
  message[0] = type;
  packed.copy(message, 1);
  return message;
}

export function unpackBody(message: Uint8Array, what: string): unknown {
  const body = message.subarray(1);
  if (body.length === 0) throw malformed(`${what}: empty body`);
  const decoder = new DecodeBuffer({ codec }) as MsgpackDecodeBuffer;
  decoder.write(Buffer.from(body.buffer, body.byteOffset, body.length));
  let value: unknown;
  try {
    value = decoder.read();
  } catch (error) {
    throw malformed(`${what}: body is not valid msgpack (${error instanceof Error ? error.message : String(error)})`);
  }
  if (decoder.offset !== body.length) throw malformed(`${what}: ${body.length - decoder.offset} bytes after the body`);
  return value;
}

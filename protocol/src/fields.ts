import { malformed } from './errors.js';

/** Field readers for decoded msgpack maps: each checks type and range, or throws FERRY_ERR_MALFORMED. */
export type Fields = Readonly<Record<string, unknown>>;

export function asFields(value: unknown, what: string): Fields {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    throw malformed(`${what}: body must be a map`);
  }
  // Own properties only: a "__proto__" key must not supply fields through the prototype.
  return Object.fromEntries(Object.entries(value)) as Fields;
}

export function uint(fields: Fields, key: string, what: string, max = Number.MAX_SAFE_INTEGER): number {
  const value = fields[key];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > max) {
    throw malformed(`${what}: ${key} must be an integer from 0 to ${max}, got ${describe(value)}`);
  }
  return value;
}

export function str(fields: Fields, key: string, what: string, maxLength = 4096): string {
  const value = fields[key];
  if (typeof value !== 'string' || value.length > maxLength) {
    throw malformed(`${what}: ${key} must be a string of at most ${maxLength} characters, got ${describe(value)}`);
  }
  return value;
}

export function bool(fields: Fields, key: string, what: string): boolean {
  const value = fields[key];
  if (typeof value !== 'boolean') throw malformed(`${what}: ${key} must be true or false, got ${describe(value)}`);
  return value;
}

export function bytes(fields: Fields, key: string, what: string, maxLength: number): Uint8Array {
  const value = fields[key];
  if (!(value instanceof Uint8Array) || value.length > maxLength) {
    throw malformed(`${what}: ${key} must be binary of at most ${maxLength} bytes, got ${describe(value)}`);
  }
  return value;
}

export function list(fields: Fields, key: string, what: string, maxLength: number): readonly unknown[] {
  const value = fields[key];
  if (!Array.isArray(value) || value.length > maxLength) {
    throw malformed(`${what}: ${key} must be a list of at most ${maxLength} items, got ${describe(value)}`);
  }
  return value;
}

/** A 64-bit digest travels as 16 lowercase hex digits: readable in logs, no bigint in msgpack. */
export function digest(fields: Fields, key: string, what: string): string {
  const value = fields[key];
  if (typeof value !== 'string' || !/^[0-9a-f]{16}$/.test(value)) {
    throw malformed(`${what}: ${key} must be 16 lowercase hex digits, got ${describe(value)}`);
  }
  return value;
}

export const digestToHex = (value: bigint): string => value.toString(16).padStart(16, '0');
export const hexToDigest = (hex: string): bigint => BigInt(`0x${hex}`);

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value instanceof Uint8Array) return `${value.length} bytes of binary`;
  if (Array.isArray(value)) return `a list of ${value.length}`;
  const text = JSON.stringify(value) ?? typeof value;
  return text.length > 40 ? `${text.slice(0, 40)}...` : text;
}

/** msgpack-lite writes only Buffers as `bin`; any other Uint8Array would become an array of numbers. */
export const asBin = (bytes: Uint8Array): Buffer =>
  Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

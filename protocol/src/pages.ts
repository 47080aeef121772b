/**
 * PAGES, the hot path: a fixed binary header and page records, no msgpack. Little endian throughout.
 *
 *   message = header record{count}
 *   header  = u8 type(5) | u16 imageIndex | u32 pass | u32 count              (11 bytes)
 *   record  = u32 pageIndex | u8 encoding | u32 length | payload[length]       (9 + length bytes)
 *
 *   encoding  ZERO     length 0
 *             RAW      length == pageSize, the page bytes
 *             LZ4      u32 LE uncompressed length (must equal pageSize) | LZ4 block
 *             XOR_LZ4  as LZ4, of (new page XOR the copy the target holds)
 *             COPY     length 4, u32 LE index of a page of the same image with identical bytes
 *
 * A message is validated whole before any record is applied, so a malformed message never half-applies.
 */
import { MessageType, PageEncoding, PAGES_HEADER_BYTES, RECORD_HEADER_BYTES } from './constants.js';
import { malformed } from './errors.js';

export interface PagesHeader {
  readonly imageIndex: number;
  readonly pass: number;
  readonly count: number;
}

export interface PageRecord {
  readonly pageIndex: number;
  readonly encoding: PageEncoding;
  /** A view into the message; copy it if it must outlive the message buffer. */
  readonly payload: Uint8Array;
}

export interface PageGeometry {
  readonly pageCount: number;
  readonly pageSize: number;
}

/** Worst-case LZ4 block size for n input bytes (LZ4_COMPRESSBOUND), plus the 4-byte size prefix. */
export const maxCompressedPayload = (pageSize: number): number => 4 + pageSize + Math.ceil(pageSize / 255) + 16;

export function writePagesHeader(into: Uint8Array, offset: number, header: PagesHeader): void {
  const view = new DataView(into.buffer, into.byteOffset + offset, PAGES_HEADER_BYTES);
  view.setUint8(0, MessageType.Pages);
  view.setUint16(1, header.imageIndex, true);
  view.setUint32(3, header.pass, true);
  view.setUint32(7, header.count, true);
}

export function encodePagesHeader(header: PagesHeader): Uint8Array {
  const bytes = new Uint8Array(PAGES_HEADER_BYTES);
  writePagesHeader(bytes, 0, header);
  return bytes;
}

export function writeRecordHeader(
  view: DataView,
  offset: number,
  pageIndex: number,
  encoding: PageEncoding,
  length: number,
): void {
  view.setUint32(offset, pageIndex, true);
  view.setUint8(offset + 4, encoding);
  view.setUint32(offset + 5, length, true);
}

/** Builds a whole PAGES message from records; for tests and small messages (workers write in place). */
export function encodePages(header: Omit<PagesHeader, 'count'>, records: readonly PageRecord[]): Uint8Array {
  const size = records.reduce((sum, r) => sum + RECORD_HEADER_BYTES + r.payload.length, PAGES_HEADER_BYTES);
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  writePagesHeader(bytes, 0, { ...header, count: records.length });
  let offset = PAGES_HEADER_BYTES;
  for (const record of records) {
    writeRecordHeader(view, offset, record.pageIndex, record.encoding, record.payload.length);
    bytes.set(record.payload, offset + RECORD_HEADER_BYTES);
    offset += RECORD_HEADER_BYTES + record.payload.length;
  }
  return bytes;
}

export function decodePagesHeader(message: Uint8Array): PagesHeader {
  if (message.length < PAGES_HEADER_BYTES) {
    throw malformed(`PAGES: ${message.length} bytes is shorter than the ${PAGES_HEADER_BYTES}-byte header`);
  }
  const view = new DataView(message.buffer, message.byteOffset, message.length);
  if (view.getUint8(0) !== MessageType.Pages) throw malformed('PAGES: wrong message type byte');
  return { imageIndex: view.getUint16(1, true), pass: view.getUint32(3, true), count: view.getUint32(7, true) };
}

/** Decodes and validates every record of a PAGES message against the image's geometry. */
export function decodePageRecords(message: Uint8Array, geometry: PageGeometry): PageRecord[] {
  const header = decodePagesHeader(message);
  const view = new DataView(message.buffer, message.byteOffset, message.length);
  const maxRecords = Math.floor((message.length - PAGES_HEADER_BYTES) / RECORD_HEADER_BYTES);
  if (header.count > maxRecords) throw malformed(`PAGES: header claims ${header.count} records, the message can hold at most ${maxRecords}`);
  const records: PageRecord[] = new Array(header.count);
  let offset = PAGES_HEADER_BYTES;
  for (let n = 0; n < header.count; n++) {
    if (offset + RECORD_HEADER_BYTES > message.length) throw malformed(`PAGES: record ${n} is truncated`);
    const pageIndex = view.getUint32(offset, true);
    const encoding = view.getUint8(offset + 4);
    const length = view.getUint32(offset + 5, true);
    offset += RECORD_HEADER_BYTES;
    if (length > message.length - offset) throw malformed(`PAGES: record ${n} (page ${pageIndex}) claims ${length} payload bytes, ${message.length - offset} remain`);
    if (pageIndex >= geometry.pageCount) throw malformed(`PAGES: page index ${pageIndex} is past the end of the image (${geometry.pageCount} pages)`);
    const payload = message.subarray(offset, offset + length);
    checkPayload(n, pageIndex, encoding, payload, geometry);
    records[n] = { pageIndex, encoding: encoding as PageEncoding, payload };
    offset += length;
  }
  if (offset !== message.length) throw malformed(`PAGES: ${message.length - offset} bytes after the last record`);
  return records;
}

function checkPayload(n: number, pageIndex: number, encoding: number, payload: Uint8Array, geometry: PageGeometry): void {
  const where = `PAGES: record ${n} (page ${pageIndex})`;
  switch (encoding) {
    case PageEncoding.Zero:
      if (payload.length !== 0) throw malformed(`${where}: a ZERO record carries no payload, got ${payload.length} bytes`);
      return;
    case PageEncoding.Raw:
      if (payload.length !== geometry.pageSize) throw malformed(`${where}: RAW payload is ${payload.length} bytes, the page size is ${geometry.pageSize}`);
      return;
    case PageEncoding.Lz4:
    case PageEncoding.XorLz4: {
      if (payload.length < 5 || payload.length > maxCompressedPayload(geometry.pageSize)) {
        throw malformed(`${where}: compressed payload of ${payload.length} bytes is impossible for a ${geometry.pageSize}-byte page`);
      }
      const declared = new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0, true);
      // Checked before anything is decompressed: no LZ4 bombs.
      if (declared !== geometry.pageSize) throw malformed(`${where}: compressed payload declares ${declared} bytes, the page size is ${geometry.pageSize}`);
      return;
    }
    case PageEncoding.Copy: {
      if (payload.length !== 4) throw malformed(`${where}: COPY payload must be 4 bytes, got ${payload.length}`);
      const from = new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0, true);
      if (from >= geometry.pageCount) throw malformed(`${where}: COPY from page ${from}, past the end of the image`);
      return;
    }
    default:
      throw malformed(`${where}: unknown page encoding ${encoding}`);
  }
}

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

interface RecordFields {
  readonly pageIndex: number;
  /** A view into the message; copy it if it must outlive the message buffer. */
  readonly payload: Uint8Array;
}

export interface DataRecord extends RecordFields {
  readonly encoding: Exclude<PageEncoding, typeof PageEncoding.Copy>;
}

export interface CopyRecord extends RecordFields {
  readonly encoding: typeof PageEncoding.Copy;
  /** The page whose bytes to copy, decoded and bound-checked with the message. */
  readonly from: number;
}

export type PageRecord = DataRecord | CopyRecord;

/** A record as written: any encoding with its payload as it goes on the wire (tests craft bad ones). */
export interface RecordToWrite {
  readonly pageIndex: number;
  readonly encoding: PageEncoding;
  readonly payload: Uint8Array;
}

export interface PageGeometry {
  readonly pageCount: number;
  readonly pageSize: number;
}

/** A COPY payload: the u32 LE index of the page to copy from. */
const COPY_PAYLOAD_BYTES = 4;

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

function writeRecordHeader(view: DataView, offset: number, pageIndex: number, encoding: PageEncoding, length: number): void {
  view.setUint32(offset, pageIndex, true);
  view.setUint8(offset + 4, encoding);
  view.setUint32(offset + 5, length, true);
}

/**
 * Writes one record (header and payload) at `offset` of `into` (`view` covers `into`) and returns the
 * offset after it. The scan workers build PAGES messages in place with this and `writeCopyRecord`.
 */
export function writeRecord(
  into: Uint8Array,
  view: DataView,
  offset: number,
  record: RecordToWrite,
): number {
  writeRecordHeader(view, offset, record.pageIndex, record.encoding, record.payload.length);
  into.set(record.payload, offset + RECORD_HEADER_BYTES);
  return offset + RECORD_HEADER_BYTES + record.payload.length;
}

/** Writes a COPY record (page `pageIndex` has the bytes of page `from`); returns the offset after it. */
export function writeCopyRecord(view: DataView, offset: number, pageIndex: number, from: number): number {
  writeRecordHeader(view, offset, pageIndex, PageEncoding.Copy, COPY_PAYLOAD_BYTES);
  view.setUint32(offset + RECORD_HEADER_BYTES, from, true);
  return offset + RECORD_HEADER_BYTES + COPY_PAYLOAD_BYTES;
}

/** Builds a whole PAGES message from records; for tests and small messages (workers write in place). */
export function encodePages(header: Omit<PagesHeader, 'count'>, records: readonly RecordToWrite[]): Uint8Array {
  const size = records.reduce((sum, r) => sum + RECORD_HEADER_BYTES + r.payload.length, PAGES_HEADER_BYTES);
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  writePagesHeader(bytes, 0, { ...header, count: records.length });
  let offset = PAGES_HEADER_BYTES;
  for (const record of records) offset = writeRecord(bytes, view, offset, record);
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
    // A plain view: Buffer#subarray (messages may arrive as Buffers) costs more per record on this hot path.
    const payload = new Uint8Array(message.buffer, message.byteOffset + offset, length);
    records[n] = checkedRecord(n, pageIndex, encoding, payload, geometry);
    offset += length;
  }
  if (offset !== message.length) throw malformed(`PAGES: ${message.length - offset} bytes after the last record`);
  return records;
}

/** Formatted only for an error: formatting it for every record cost more than the checks themselves. */
const where = (n: number, pageIndex: number): string => `PAGES: record ${n} (page ${pageIndex})`;

function checkedRecord(n: number, pageIndex: number, encoding: number, payload: Uint8Array, geometry: PageGeometry): PageRecord {
  switch (encoding) {
    case PageEncoding.Zero:
      if (payload.length !== 0) throw malformed(`${where(n, pageIndex)}: a ZERO record carries no payload, got ${payload.length} bytes`);
      return { pageIndex, encoding: PageEncoding.Zero, payload };
    case PageEncoding.Raw:
      if (payload.length !== geometry.pageSize) throw malformed(`${where(n, pageIndex)}: RAW payload is ${payload.length} bytes, the page size is ${geometry.pageSize}`);
      return { pageIndex, encoding: PageEncoding.Raw, payload };
    case PageEncoding.Lz4:
    case PageEncoding.XorLz4: {
      if (payload.length < 5 || payload.length > maxCompressedPayload(geometry.pageSize)) {
        throw malformed(`${where(n, pageIndex)}: compressed payload of ${payload.length} bytes is impossible for a ${geometry.pageSize}-byte page`);
      }
      const declared = new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0, true);
      // Checked before anything is decompressed: no LZ4 bombs.
      if (declared !== geometry.pageSize) throw malformed(`${where(n, pageIndex)}: compressed payload declares ${declared} bytes, the page size is ${geometry.pageSize}`);
      return { pageIndex, encoding: encoding as DataRecord['encoding'], payload };
    }
    case PageEncoding.Copy: {
      if (payload.length !== COPY_PAYLOAD_BYTES) throw malformed(`${where(n, pageIndex)}: COPY payload must be 4 bytes, got ${payload.length}`);
      const from = new DataView(payload.buffer, payload.byteOffset, COPY_PAYLOAD_BYTES).getUint32(0, true);
      if (from >= geometry.pageCount) throw malformed(`${where(n, pageIndex)}: COPY from page ${from}, past the end of the image`);
      return { pageIndex, encoding: PageEncoding.Copy, payload, from };
    }
    default:
      throw malformed(`${where(n, pageIndex)}: unknown page encoding ${encoding}`);
  }
}

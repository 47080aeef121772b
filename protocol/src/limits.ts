import { FerryError, ErrorCode, malformed } from './errors.js';

/** Limits a receiver enforces before allocating anything. All configurable on the target. */
export interface Limits {
  /** Largest WebSocket message accepted (ws maxPayload). */
  maxMessageBytes: number;
  maxImages: number;
  maxImageBytes: number;
  maxBlobs: number;
  maxBlobBytes: number;
}

export const DEFAULT_LIMITS: Readonly<Limits> = {
  maxMessageBytes: 8 * 1024 * 1024,
  maxImages: 16,
  maxImageBytes: 1024 * 1024 * 1024 * 1024,
  maxBlobs: 16,
  maxBlobBytes: 1024 * 1024 * 1024,
};

export const MIN_PAGE_SIZE = 512;
export const MAX_PAGE_SIZE = 1024 * 1024;
/** A page index is a u32 on the wire. */
export const MAX_PAGE_COUNT = 0xffff_ffff;

export function isValidPageSize(pageSize: number): boolean {
  return (
    Number.isInteger(pageSize) &&
    pageSize >= MIN_PAGE_SIZE &&
    pageSize <= MAX_PAGE_SIZE &&
    (pageSize & (pageSize - 1)) === 0
  );
}

/** Checks an image's geometry; returns its page count. */
export function checkImageGeometry(name: string, size: number, pageSize: number, limits: Limits): number {
  if (!isValidPageSize(pageSize)) {
    throw malformed(`image ${name}: page size ${pageSize} must be a power of two from ${MIN_PAGE_SIZE} to ${MAX_PAGE_SIZE}`);
  }
  if (!Number.isSafeInteger(size) || size <= 0 || size % pageSize !== 0) {
    throw malformed(`image ${name}: size ${size} must be a positive multiple of the page size ${pageSize}`);
  }
  if (size > limits.maxImageBytes) {
    throw new FerryError(ErrorCode.Limit, `image ${name}: ${size} bytes is over this target's limit of ${limits.maxImageBytes}`);
  }
  const pageCount = size / pageSize;
  if (pageCount > MAX_PAGE_COUNT) throw malformed(`image ${name}: ${pageCount} pages do not fit a u32 page index`);
  return pageCount;
}

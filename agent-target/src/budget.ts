import { ErrorCode, FerryError, type Hello } from '@ferry/protocol';
import { HASH_CHUNK_PAGES } from './hash-table.js';

const MiB = 1024 * 1024;
const mib = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`;

/** The most page-table memory a HELLO's images can take once every page has arrived. */
export function tableBytesFor(hello: Pick<Hello, 'images'>): number {
  return hello.images.reduce((sum, image) => sum + Math.ceil(image.size / image.pageSize / HASH_CHUNK_PAGES) * HASH_CHUNK_PAGES * 8, 0);
}

/**
 * The target-wide budget for page tables. A session reserves the most its images can need when it is
 * created and gives it back when it ends, so sessions together can never need more than the limit
 * (tables are allocated as pages arrive, but a source may send every page). A HELLO that does not fit is
 * refused up front with FERRY_ERR_LIMIT instead of failing half way.
 */
export class TableBudget {
  readonly limit: number;
  #used = 0;

  constructor(limit: number) {
    this.limit = limit;
  }

  get used(): number {
    return this.#used;
  }

  reserve(bytes: number, migrationId: string): void {
    if (this.#used + bytes > this.limit) {
      throw new FerryError(ErrorCode.Limit, `migration ${migrationId} needs ${mib(bytes)} of page tables; this target has ${mib(this.limit - this.#used)} of its ${mib(this.limit)} table memory left (--max-table-memory)`);
    }
    this.#used += bytes;
  }

  release(bytes: number): void {
    this.#used = Math.max(0, this.#used - bytes);
  }
}

import { ErrorCode, FerryError, type Hello } from '@ferry/protocol';
import { HASH_CHUNK_PAGES } from './hash-table.js';

const MiB = 1024 * 1024;
const mib = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`;

/** Takes `bytes` of table memory before they are allocated; throws FERRY_ERR_LIMIT when there is none left. */
export type TableCharge = (bytes: number) => void;

/** For tables that answer to no budget (tests, tools). */
export const UNCHARGED: TableCharge = () => {};

/** The most page-table memory a HELLO's images can take once every page has arrived. */
export function tableBytesFor(hello: Pick<Hello, 'images'>): number {
  return hello.images.reduce((sum, image) => sum + Math.ceil(image.size / image.pageSize / HASH_CHUNK_PAGES) * HASH_CHUNK_PAGES * 8, 0);
}

/**
 * The target-wide budget for page tables, charged for what is really allocated: a table chunk takes its
 * bytes when a page in its range first arrives, and a session gives back all it took when it ends. A
 * size announced in a HELLO costs nothing, so announcing a huge image reserves nothing that others need;
 * only a HELLO that could never complete (more than the whole budget) is refused up front.
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

  /** Refuses a HELLO whose images, once every page arrived, would need more than the whole budget. */
  checkFits(hello: Pick<Hello, 'images' | 'migrationId'>): void {
    const bytes = tableBytesFor(hello);
    if (bytes > this.limit) {
      throw new FerryError(ErrorCode.Limit, `migration ${hello.migrationId} could need ${mib(bytes)} of page tables; this target has ${mib(this.limit)} of table memory in all (--max-table-memory)`);
    }
  }

  /** One session's share: what it charges is given back at once by `release`. */
  account(migrationId: string): TableAccount {
    return new TableAccount(this, migrationId);
  }

  take(bytes: number, migrationId: string): void {
    if (this.#used + bytes > this.limit) {
      throw new FerryError(ErrorCode.Limit, `migration ${migrationId} needs more page-table memory than this target has left: ${mib(this.limit - this.#used)} of its ${mib(this.limit)} (--max-table-memory) are free`);
    }
    this.#used += bytes;
  }

  give(bytes: number): void {
    this.#used = Math.max(0, this.#used - bytes);
  }
}

/** What one session holds of the budget. */
export class TableAccount {
  readonly #budget: TableBudget;
  readonly #migrationId: string;
  #held = 0;

  constructor(budget: TableBudget, migrationId: string) {
    this.#budget = budget;
    this.#migrationId = migrationId;
  }

  readonly charge: TableCharge = (bytes) => {
    this.#budget.take(bytes, this.#migrationId);
    this.#held += bytes;
  };

  release(): void {
    this.#budget.give(this.#held);
    this.#held = 0;
  }
}

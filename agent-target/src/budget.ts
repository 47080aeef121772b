import { ErrorCode, FerryError, type Hello } from '@ferry/protocol';
import { HASH_CHUNK_PAGES } from './hash-table.js';
import type { TableMemory } from './table-memory.js';

const MiB = 1024 * 1024;
const mib = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`;

/** The most page-table memory a HELLO's images can take once every page has arrived (all chunks dense). */
export function tableBytesFor(hello: Pick<Hello, 'images'>): number {
  return hello.images.reduce((sum, image) => sum + Math.ceil(image.size / image.pageSize / HASH_CHUNK_PAGES) * HASH_CHUNK_PAGES * 8, 0);
}

/** The session behind an account, as far as the budget needs to know it. */
export interface TableHolder {
  /** Cut and waiting for its source to resume it. */
  readonly kept: boolean;
  /** Whether ending it now would take effect (it is not committing, nor over already). */
  readonly evictable: boolean;
  /** Ends the session because its memory went to another; its account is already empty. */
  evict(error: FerryError): void;
}

interface Holding {
  readonly migrationId: string;
  held: number;
  holder: TableHolder | undefined;
  /** Set once its memory went to another session: it may take no more. */
  evicted: FerryError | undefined;
}

/**
 * The target-wide budget for page tables, charged for what is really allocated, and given back when a
 * session ends. A size announced in a HELLO costs nothing; only a HELLO that could never complete (more
 * than the whole budget) is refused up front.
 *
 * Each live session is owed a share, `limit / sessions` (sessions: --max-migrations). Memory that is free
 * goes to whoever asks, so one large migration may use the whole budget on a quiet target. But a session
 * that asks within its share when none is free gets it back from the others: first from sessions kept
 * for a resume (most held first), then from live sessions holding more than their share (most over
 * first); each of those fails with FERRY_ERR_LIMIT. As at most `sessions` sessions are live, the shares
 * of live sessions add up to at most the limit, so such memory is always there to take: a source that
 * fills the budget can only cost others what it holds beyond its own share, and it loses that first.
 */
export class TableBudget {
  readonly limit: number;
  readonly share: number;
  #used = 0;
  readonly #holdings = new Map<TableAccount, Holding>();

  constructor(limit: number, sessions: number) {
    this.limit = limit;
    this.share = Math.floor(limit / Math.max(1, sessions));
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

  /** One session's account; `close` it when the session ends. */
  account(migrationId: string): TableAccount {
    const account = new TableAccount(this);
    this.#holdings.set(account, { migrationId, held: 0, holder: undefined, evicted: undefined });
    return account;
  }

  bind(account: TableAccount, holder: TableHolder): void {
    const holding = this.#holdings.get(account);
    if (holding) holding.holder = holder;
  }

  take(account: TableAccount, bytes: number): void {
    const holding = this.#holdings.get(account);
    if (!holding) throw new FerryError(ErrorCode.Limit, 'page-table memory asked for by a session that has ended');
    if (holding.evicted) throw holding.evicted;
    if (this.#used + bytes > this.limit) this.#makeRoom(holding, bytes);
    this.#used += bytes;
    holding.held += bytes;
  }

  give(account: TableAccount, bytes: number): void {
    const holding = this.#holdings.get(account);
    if (!holding) return;
    const given = Math.min(bytes, holding.held);
    holding.held -= given;
    this.#used -= given;
  }

  /** The session ended: all it held is free again. */
  close(account: TableAccount): void {
    const holding = this.#holdings.get(account);
    if (!holding) return;
    this.#used -= holding.held;
    this.#holdings.delete(account);
  }

  #makeRoom(asking: Holding, bytes: number): void {
    const free = (): number => this.limit - this.#used;
    if (asking.held + bytes > this.share) {
      throw new FerryError(ErrorCode.Limit, `migration ${asking.migrationId} needs more page-table memory than this target has free (${mib(free())}): it holds ${mib(asking.held)}, past its share of ${mib(this.share)} (--max-table-memory ${mib(this.limit)} / --max-migrations), and other migrations hold the rest`);
    }
    for (const victim of this.#reclaimable(asking)) {
      if (free() >= bytes) break;
      this.#evict(victim, asking);
    }
    if (free() < bytes) {
      throw new FerryError(ErrorCode.Limit, `migration ${asking.migrationId} needs more page-table memory than this target has left: ${mib(free())} of its ${mib(this.limit)} (--max-table-memory) are free, and the rest is held by migrations that are committing`);
    }
  }

  /** Kept sessions, most held first, then live sessions past their share, most over first. */
  #reclaimable(asking: Holding): Holding[] {
    const others = [...this.#holdings.values()].filter((h) => h !== asking && h.held > 0 && h.holder?.evictable === true);
    const kept = others.filter((h) => h.holder!.kept).sort((a, b) => b.held - a.held);
    const over = others.filter((h) => !h.holder!.kept && h.held > this.share).sort((a, b) => b.held - a.held);
    return [...kept, ...over];
  }

  #evict(victim: Holding, asking: Holding): void {
    const held = victim.held;
    const why = victim.holder!.kept
      ? `dropped while waiting for a resume: its ${mib(held)} of page tables went to migration ${asking.migrationId}, which needed them within its share of ${mib(this.share)} (--max-table-memory / --max-migrations)`
      : `its ${mib(held)} of page tables are more than its share of ${mib(this.share)} (--max-table-memory / --max-migrations), and migration ${asking.migrationId} needed memory within its own share`;
    victim.evicted = new FerryError(ErrorCode.Limit, why);
    this.#used -= held;
    victim.held = 0;
    victim.holder!.evict(victim.evicted);
  }
}

/** What one session holds of the budget: the TableMemory its page tables are charged to. */
export class TableAccount implements TableMemory {
  readonly #budget: TableBudget;

  constructor(budget: TableBudget) {
    this.#budget = budget;
  }

  take(bytes: number): void {
    this.#budget.take(this, bytes);
  }

  give(bytes: number): void {
    this.#budget.give(this, bytes);
  }
}

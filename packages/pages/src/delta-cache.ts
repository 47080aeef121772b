interface Entry {
  readonly bytes: Uint8Array;
  /** Hash of `bytes`: lets a resume drop entries the target does not hold exactly. */
  hash: bigint;
}

/**
 * The last sent copy of pages, for XOR deltas (QEMU's XBZRLE cache): an LRU bounded in bytes. A Map keeps
 * insertion order, so re-inserting on use makes its first key the least recently used. Evicted buffers
 * are reused for new entries, so a full cache stops allocating.
 */
export class DeltaCache {
  readonly #entries = new Map<number, Entry>();
  readonly #capacityPages: number;
  readonly #pageSize: number;

  constructor(capacityBytes: number, pageSize: number) {
    this.#pageSize = pageSize;
    this.#capacityPages = Math.max(0, Math.floor(capacityBytes / pageSize));
  }

  get size(): number {
    return this.#entries.size;
  }

  get bytes(): number {
    return this.#entries.size * this.#pageSize;
  }

  /** The cached copy of a page, marking it recently used; undefined when not cached. */
  get(page: number): Uint8Array | undefined {
    const entry = this.#entries.get(page);
    if (!entry) return undefined;
    this.#entries.delete(page);
    this.#entries.set(page, entry);
    return entry.bytes;
  }

  /** Stores a copy of `bytes` as the page's last sent content. */
  set(page: number, bytes: Uint8Array, hash: bigint): void {
    if (this.#capacityPages === 0) return;
    let entry = this.#entries.get(page);
    if (entry) {
      this.#entries.delete(page);
    } else if (this.#entries.size >= this.#capacityPages) {
      const [oldest, evicted] = this.#entries.entries().next().value as [number, Entry];
      this.#entries.delete(oldest);
      entry = evicted;
    } else {
      entry = { bytes: new Uint8Array(this.#pageSize), hash };
    }
    entry.bytes.set(bytes);
    entry.hash = hash;
    this.#entries.set(page, entry);
  }

  delete(page: number): void {
    this.#entries.delete(page);
  }

  /** Drops every entry whose content is not what `holds(page)` says the receiver has. */
  retainMatching(holds: (page: number) => bigint): number {
    let dropped = 0;
    for (const [page, entry] of this.#entries) {
      if (holds(page) !== entry.hash) {
        this.#entries.delete(page);
        dropped++;
      }
    }
    return dropped;
  }

  clear(): void {
    this.#entries.clear();
  }
}

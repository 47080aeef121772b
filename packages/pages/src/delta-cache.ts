interface Entry {
  readonly bytes: Uint8Array;
  /** Hash of `bytes`: lets a resume drop entries the target does not hold exactly. */
  hash: bigint;
}

/** Page buffers are carved out of slabs of this many bytes: one allocation per 4096 pages, not per page. */
const SLAB_BYTES = 16 * 1024 * 1024;

/**
 * The last sent copy of pages, for XOR deltas (QEMU's XBZRLE cache): an LRU bounded in bytes. A Map keeps
 * insertion order, so re-inserting on use makes its first key the least recently used. Page buffers come
 * from slabs and evicted ones are reused, so filling the cache costs a memcpy per page, not an allocation
 * (per-page allocation made pass 0 three times slower).
 */
export class DeltaCache {
  readonly #entries = new Map<number, Entry>();
  readonly #capacityPages: number;
  readonly #pageSize: number;
  #slab: Uint8Array | undefined;
  #slabUsed = 0;
  #carved = 0;
  /** Buffers of deleted entries, reused before the slab grows. */
  readonly #free: Uint8Array[] = [];

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
      entry = { bytes: this.#allocate(), hash };
    }
    entry.bytes.set(bytes);
    entry.hash = hash;
    this.#entries.set(page, entry);
  }

  #allocate(): Uint8Array {
    const reused = this.#free.pop();
    if (reused) return reused;
    if (!this.#slab || this.#slabUsed + this.#pageSize > this.#slab.length) {
      const remaining = (this.#capacityPages - this.#carved) * this.#pageSize;
      this.#slab = new Uint8Array(Math.max(this.#pageSize, Math.min(SLAB_BYTES, remaining)));
      this.#slabUsed = 0;
    }
    const bytes = this.#slab.subarray(this.#slabUsed, this.#slabUsed + this.#pageSize);
    this.#slabUsed += this.#pageSize;
    this.#carved++;
    return bytes;
  }

  delete(page: number): void {
    const entry = this.#entries.get(page);
    if (!entry) return;
    this.#entries.delete(page);
    this.#free.push(entry.bytes);
  }

  /** Drops every entry whose content is not what `holds(page)` says the receiver has. */
  retainMatching(holds: (page: number) => bigint): number {
    let dropped = 0;
    for (const [page, entry] of this.#entries) {
      if (holds(page) !== entry.hash) {
        this.#entries.delete(page);
        this.#free.push(entry.bytes);
        dropped++;
      }
    }
    return dropped;
  }

  clear(): void {
    for (const entry of this.#entries.values()) this.#free.push(entry.bytes);
    this.#entries.clear();
  }
}

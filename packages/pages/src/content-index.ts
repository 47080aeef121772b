/**
 * Content hash -> a page that had that content when it was sent: finds COPY candidates. Open addressing
 * over typed arrays (a Map of bigints costs ~10x the memory). Entries are hints, never trusted: a caller
 * confirms `targetHashes[page] === hash` before using one, so stale entries are harmless and the table
 * needs no deletes, only a rebuild when it fills up. For the same reason a slot keeps only the hash's
 * upper half (its lower half picks the slot): two hashes that share it (one pair in 2^32) may find each
 * other's page, which the caller's check turns down. 8 bytes a slot, at least two slots a page: a 1 GiB
 * image's 262144 pages take 2^19 slots, 4 MiB.
 */
export class ContentIndex {
  #keysHi: Uint32Array;
  #pages: Int32Array;
  #mask: number;
  #used = 0;
  readonly #rebuild: () => void;

  /** `rebuild` re-inserts the current contents when the table is full of stale entries. */
  constructor(expectedEntries: number, rebuild: (index: ContentIndex) => void) {
    const capacity = Math.max(1024, 2 ** Math.ceil(Math.log2(expectedEntries * 2)));
    this.#keysHi = new Uint32Array(capacity);
    this.#pages = new Int32Array(capacity).fill(-1);
    this.#mask = capacity - 1;
    this.#rebuild = () => rebuild(this);
  }

  insert(hash: bigint, page: number): void {
    if (this.#used >= (this.#mask + 1) * 0.7) {
      this.clear();
      this.#rebuild();
    }
    const lo = Number(hash & 0xffff_ffffn);
    const hi = Number(hash >> 32n);
    for (let slot = lo & this.#mask; ; slot = (slot + 1) & this.#mask) {
      if (this.#pages[slot] === -1) {
        this.#used++;
      } else if (this.#keysHi[slot] !== hi) {
        continue;
      }
      this.#keysHi[slot] = hi;
      this.#pages[slot] = page;
      return;
    }
  }

  /** The last page inserted with this hash (or one sharing its upper half), or -1. */
  lookup(hash: bigint): number {
    const lo = Number(hash & 0xffff_ffffn);
    const hi = Number(hash >> 32n);
    for (let slot = lo & this.#mask; ; slot = (slot + 1) & this.#mask) {
      const page = this.#pages[slot]!;
      if (page === -1) return -1;
      if (this.#keysHi[slot] === hi) return page;
    }
  }

  clear(): void {
    this.#pages.fill(-1);
    this.#used = 0;
  }
}

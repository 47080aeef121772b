import { randomInt } from 'node:crypto';
import type { TableMemory } from './table-memory.js';

/** Bytes per slot: a u32 key (page + 1, 0 for an empty slot) and a u64 hash. */
export const SPARSE_SLOT_BYTES = 12;
const MIN_SLOTS = 16;

/**
 * Page -> hash for pages scattered over an image: an open-addressing table with linear probing, at most
 * half full, so each entry costs 24 to 48 bytes wherever its page lies. The slot of a page is taken from
 * the top bits of its index times a random odd multiplier chosen per table, so a source, which picks the
 * page indices, cannot aim them at one run of slots. It grows by doubling, paid for before it allocates,
 * and keeps its size when entries leave (what it was charged follows the most it held).
 */
export class SparseHashes {
  #keys = new Uint32Array(0);
  #values = new BigUint64Array(0);
  #shift = 32;
  #size = 0;
  readonly #multiplier: number;
  readonly #memory: TableMemory;

  constructor(memory: TableMemory, multiplier = randomInt(2 ** 31) * 2 + 1) {
    this.#memory = memory;
    this.#multiplier = multiplier | 1;
  }

  get size(): number {
    return this.#size;
  }

  get bytes(): number {
    return this.#keys.length * SPARSE_SLOT_BYTES;
  }

  get(page: number): bigint | undefined {
    if (this.#size === 0) return undefined;
    const slot = this.#find(page + 1);
    return this.#keys[slot] === 0 ? undefined : this.#values[slot];
  }

  /** Sets the hash of `page`; returns true when the page was not in the table before. */
  set(page: number, hash: bigint): boolean {
    const key = page + 1;
    if (this.#keys.length > 0) {
      const slot = this.#find(key);
      if (this.#keys[slot] === key) {
        this.#values[slot] = hash;
        return false;
      }
    }
    if ((this.#size + 1) * 2 > this.#keys.length) this.#resize(Math.max(MIN_SLOTS, this.#keys.length * 2));
    const slot = this.#find(key);
    this.#keys[slot] = key;
    this.#values[slot] = hash;
    this.#size++;
    return true;
  }

  /** Removes `page`; returns true when it was there. */
  delete(page: number): boolean {
    if (this.#size === 0) return false;
    let hole = this.#find(page + 1);
    if (this.#keys[hole] === 0) return false;
    // Backward-shift deletion: entries after the hole move into it when that keeps them reachable from
    // their home slot, so no tombstones pile up.
    const mask = this.#keys.length - 1;
    for (let at = (hole + 1) & mask; this.#keys[at] !== 0; at = (at + 1) & mask) {
      const home = this.#home(this.#keys[at]!);
      if (((at - home) & mask) >= ((at - hole) & mask)) {
        this.#keys[hole] = this.#keys[at]!;
        this.#values[hole] = this.#values[at]!;
        hole = at;
      }
    }
    this.#keys[hole] = 0;
    this.#size--;
    return true;
  }

  #home(key: number): number {
    return Math.imul(key, this.#multiplier) >>> this.#shift;
  }

  /** The slot holding `key`, or the empty slot where it would go. */
  #find(key: number): number {
    const mask = this.#keys.length - 1;
    let slot = this.#home(key);
    for (let at = this.#keys[slot]; at !== key && at !== 0; at = this.#keys[slot]) slot = (slot + 1) & mask;
    return slot;
  }

  #resize(slots: number): void {
    const oldBytes = this.bytes;
    this.#memory.take(slots * SPARSE_SLOT_BYTES);
    const keys = this.#keys;
    const values = this.#values;
    this.#keys = new Uint32Array(slots);
    this.#values = new BigUint64Array(slots);
    this.#shift = 32 - Math.log2(slots);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      if (key === 0) continue;
      const slot = this.#find(key);
      this.#keys[slot] = key;
      this.#values[slot] = values[i]!;
    }
    this.#memory.give(oldBytes);
  }
}

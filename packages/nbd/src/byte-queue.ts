/**
 * Bytes received and not yet parsed. Parsers peek at a fixed header, check it, and take a whole
 * message only once all of it has arrived, so it does not matter where the socket split the stream.
 */
export class ByteQueue {
  #chunks: Uint8Array[] = [];
  #length = 0;

  get length(): number {
    return this.#length;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#length += chunk.length;
  }

  /** The first `n` bytes as one buffer, without consuming them; undefined while fewer have arrived. */
  peek(n: number): Uint8Array | undefined {
    if (n > this.#length) return undefined;
    const first = this.#chunks[0];
    if (first !== undefined && first.length >= n) return first.subarray(0, n);
    this.#coalesce();
    return this.#chunks[0]!.subarray(0, n);
  }

  /** Removes and returns the first `n` bytes; undefined (and nothing removed) while fewer have arrived. */
  take(n: number): Uint8Array | undefined {
    const bytes = this.peek(n);
    if (bytes === undefined) return undefined;
    const copy = bytes.slice();
    this.#drop(n);
    return copy;
  }

  #drop(n: number): void {
    this.#length -= n;
    while (n > 0) {
      const first = this.#chunks[0]!;
      if (first.length > n) {
        this.#chunks[0] = first.subarray(n);
        return;
      }
      n -= first.length;
      this.#chunks.shift();
    }
  }

  #coalesce(): void {
    const whole = new Uint8Array(this.#length);
    let at = 0;
    for (const chunk of this.#chunks) {
      whole.set(chunk, at);
      at += chunk.length;
    }
    this.#chunks = [whole];
  }
}

export const view = (bytes: Uint8Array): DataView => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);

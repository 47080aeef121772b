/**
 * Seeded PRNG (sfc32, seeded through splitmix32). Workloads must be reproducible from a seed so that a
 * failing migration test can be replayed byte for byte; Math.random cannot be seeded.
 */
export class Rng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(seed: number) {
    // splitmix32 spreads neighbouring seeds (1, 2, 3) into unrelated states.
    let s = seed >>> 0;
    const mix = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#a = mix();
    this.#b = mix();
    this.#c = mix();
    this.#d = mix();
    for (let i = 0; i < 12; i += 1) this.u32();
  }

  u32(): number {
    const a = this.#a, b = this.#b, c = this.#c, d = this.#d;
    const t = (((a + b) | 0) + d) | 0;
    this.#d = (d + 1) | 0;
    this.#a = b ^ (b >>> 9);
    this.#b = (c + (c << 3)) | 0;
    const r = (c << 21) | (c >>> 11);
    this.#c = (r + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.u32() / 0x1_0000_0000;
  }

  /** Uniform integer in [0, n), n <= 2^32. */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** Uniform integer in [lo, hi], both ends included. */
  between(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** Geometric-like run length with the given mean, at least 1: memory holds runs, not single pages. */
  runLength(mean: number): number {
    return 1 + Math.floor(-Math.log(1 - this.float()) * (mean - 1));
  }

  /** Fills `bytes` with random bytes; the loop keeps the state in locals because random pages are ~25% of an image. */
  fill(bytes: Uint8Array): void {
    const whole = bytes.byteOffset % 4 === 0 ? bytes.length >>> 2 : 0;
    const words = new Uint32Array(bytes.buffer, bytes.byteOffset, whole);
    let a = this.#a, b = this.#b, c = this.#c, d = this.#d;
    for (let i = 0; i < whole; i += 1) {
      const t = (((a + b) | 0) + d) | 0;
      d = (d + 1) | 0;
      a = b ^ (b >>> 9);
      b = (c + (c << 3)) | 0;
      c = (((c << 21) | (c >>> 11)) + t) | 0;
      words[i] = t;
    }
    this.#a = a;
    this.#b = b;
    this.#c = c;
    this.#d = d;
    for (let i = whole * 4; i < bytes.length; i += 1) bytes[i] = this.u32() & 0xff;
  }
}

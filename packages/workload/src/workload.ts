/**
 * startWorkload: dirties an existing image file at a paced rate with one of the profiles. Writes are
 * synchronous pwrites inside one timer tick: a tick is either fully written or not started, so a SIGSTOP
 * never leaves a half-planned batch behind, and ticks never overlap.
 */
import { closeSync, fstatSync, openSync, writeSync } from 'node:fs';
import { buildCorpus } from './content.js';
import { checkGeometry, DEFAULT_PAGE_SIZE, DEFAULT_SEED } from './fill.js';
import { BURST_MS, draw, startBucket, TICK_MS, type Bucket, type PacingConfig } from './pacing.js';
import { Rng } from './prng.js';
import { createPlanner, isProfileName, type Planner, type ProfileName } from './profiles.js';

export interface WorkloadOptions {
  readonly path: string;
  readonly size: number;
  readonly profile: ProfileName;
  /** Dirty bytes per second, counted in whole pages touched. */
  readonly rateBytesPerSec: number;
  readonly seed?: number;
  readonly pageSize?: number;
  /** Called once if a write fails; the workload has stopped by then. Without it, stop() rejects. */
  readonly onError?: (error: Error) => void;
}

export interface WorkloadStats {
  /** Page touches (a page written twice counts twice): what the rate is measured in. */
  readonly pagesWritten: number;
  /** Bytes actually passed to pwrite; far below pagesWritten * pageSize for web and jvm. */
  readonly bytesWritten: number;
  /** pagesWritten * pageSize. */
  readonly dirtyBytes: number;
  readonly elapsedMs: number;
}

export interface Workload {
  readonly stats: WorkloadStats;
  stop(): Promise<WorkloadStats>;
}

// Different streams for fill and workload with the same seed: otherwise the workload would rewrite the
// very bytes the fill put there.
const WORKLOAD_SALT = 0x5bd1e995;

export function startWorkload(options: WorkloadOptions): Workload {
  return new PacedWorkload(options);
}

class PacedWorkload implements Workload {
  readonly #fd: number;
  readonly #limit: number;
  readonly #pageSize: number;
  readonly #planner: Planner;
  readonly #pacing: PacingConfig;
  readonly #startedMs: number;
  readonly #onError: ((error: Error) => void) | undefined;
  #bucket: Bucket;
  #timer: NodeJS.Timeout | undefined;
  #stoppedMs: number | undefined;
  #error: Error | undefined;
  #pages = 0;
  #bytes = 0;

  constructor(options: WorkloadOptions) {
    if (!isProfileName(options.profile)) throw new RangeError(`unknown workload profile "${String(options.profile)}"`);
    if (!(options.rateBytesPerSec > 0) || !Number.isFinite(options.rateBytesPerSec)) {
      throw new RangeError(`workload rate ${options.rateBytesPerSec} must be a positive number of bytes per second`);
    }
    this.#pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
    const pageCount = checkGeometry(options.size, this.#pageSize);
    this.#limit = options.size;
    this.#onError = options.onError;
    // r+: never create, never truncate; the image belongs to whoever filled it.
    this.#fd = openSync(options.path, 'r+');
    try {
      const actual = fstatSync(this.#fd).size;
      if (actual !== options.size) throw new RangeError(`${options.path} is ${actual} bytes, not the expected ${options.size}`);
    } catch (error) {
      closeSync(this.#fd);
      throw error;
    }
    const rng = new Rng((options.seed ?? DEFAULT_SEED) ^ WORKLOAD_SALT);
    this.#planner = createPlanner(options.profile, { rng, corpus: buildCorpus(rng), pageCount, pageSize: this.#pageSize });
    this.#pacing = { ratePerSec: options.rateBytesPerSec / this.#pageSize, burstMs: BURST_MS };
    this.#startedMs = performance.now();
    this.#bucket = startBucket(this.#startedMs, this.#pacing);
    try {
      this.#writeDue();
    } catch (error) {
      this.#halt();
      throw error;
    }
    this.#timer = setInterval(() => this.#tick(), TICK_MS);
  }

  get stats(): WorkloadStats {
    return {
      pagesWritten: this.#pages,
      bytesWritten: this.#bytes,
      dirtyBytes: this.#pages * this.#pageSize,
      elapsedMs: Math.round((this.#stoppedMs ?? performance.now()) - this.#startedMs),
    };
  }

  async stop(): Promise<WorkloadStats> {
    if (this.#stoppedMs === undefined) this.#halt();
    if (this.#error !== undefined && this.#onError === undefined) throw this.#error;
    return this.stats;
  }

  #tick(): void {
    try {
      this.#writeDue();
    } catch (error) {
      this.#error = error instanceof Error ? error : new Error(String(error));
      this.#halt();
      this.#onError?.(this.#error);
    }
  }

  #writeDue(): void {
    const { bucket, units } = draw(this.#bucket, performance.now(), this.#pacing);
    this.#bucket = bucket;
    if (units === 0) return;
    for (const op of this.#planner.plan(units)) {
      // Planners are pure and trusted, but a write past the end would grow the image: refuse loudly.
      if (op.position < 0 || op.position + op.data.length > this.#limit) {
        throw new RangeError(`workload write at ${op.position}+${op.data.length} is outside the ${this.#limit}-byte image`);
      }
      writeSync(this.#fd, op.data, 0, op.data.length, op.position);
      this.#pages += op.pages;
      this.#bytes += op.data.length;
    }
  }

  #halt(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#stoppedMs = performance.now();
    closeSync(this.#fd);
  }
}

import { readFileSync } from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';

/** Garbage collections since the process started watching, from V8's `gc` performance entries. */
class GcTally {
  static #shared: GcTally | undefined;
  count = 0;
  ms = 0;

  /** One observer for the process, started with the first session and kept: its cost is one entry per collection. */
  static get(): GcTally {
    if (!GcTally.#shared) {
      const tally = new GcTally();
      new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) {
          tally.count++;
          tally.ms += entry.duration;
        }
      }).observe({ entryTypes: ['gc'] });
      GcTally.#shared = tally;
    }
    return GcTally.#shared;
  }
}

/** The main thread's CPU and run-queue nanoseconds from /proc/thread-self/schedstat (zeros where there is none). */
function threadTimes(): { cpuNs: number; waitNs: number } {
  try {
    const [cpu, wait] = readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ');
    return { cpuNs: Number(cpu), waitNs: Number(wait) };
  } catch {
    return { cpuNs: 0, waitNs: 0 };
  }
}

export interface ApplyTimes {
  /** Validating PAGES messages into records. */
  readonly decodeMs: number;
  /** Producing whole pages (LZ4) and writing them to the files. */
  readonly writeMs: number;
  /** Hashing pages as written, for the target's table. */
  readonly hashMs: number;
}

const round = (ms: number): number => Math.round(ms * 10) / 10;

/**
 * Where the target's main thread spent one pass, logged when the pass ends. From the kernel's counters:
 * on a CPU (`busyMs`), runnable but waiting for one on a loaded host (`runQueueMs`), and idle (waiting for
 * the source). From the wall clock: handling messages, split into decode, write, hash and the rest (the
 * scavenges of YoungGarbage, ACKs). Wall-clock stages include any preemption inside them, so on a loaded
 * host only their shares mean much; busy minus handling is the receive path (socket reads, the frame reader).
 * Always on: a few clock reads per message and two /proc reads per pass.
 */
export class PassClock {
  readonly #gc = GcTally.get();
  #began = performance.now();
  #thread = threadTimes();
  #gcCount = 0;
  #gcMs = 0;
  #handleMs = 0;
  #messages = 0;

  begin(): void {
    this.#began = performance.now();
    this.#thread = threadTimes();
    this.#gcCount = this.#gc.count;
    this.#gcMs = this.#gc.ms;
    this.#handleMs = 0;
    this.#messages = 0;
  }

  handled(ms: number): void {
    this.#handleMs += ms;
    this.#messages++;
  }

  /** The pass's split; `apply` is what the images and decoding counted since `begin` (the caller's difference). */
  report(apply: ApplyTimes): Record<string, number> {
    const wallMs = performance.now() - this.#began;
    const thread = threadTimes();
    const busyMs = (thread.cpuNs - this.#thread.cpuNs) / 1e6;
    const runQueueMs = (thread.waitNs - this.#thread.waitNs) / 1e6;
    return {
      messages: this.#messages, wallMs: round(wallMs), busyMs: round(busyMs), runQueueMs: round(runQueueMs),
      idleMs: round(Math.max(0, wallMs - busyMs - runQueueMs)),
      handleMs: round(this.#handleMs), decodeMs: round(apply.decodeMs), writeMs: round(apply.writeMs), hashMs: round(apply.hashMs),
      otherHandleMs: round(this.#handleMs - apply.decodeMs - apply.writeMs - apply.hashMs),
      gcCount: this.#gc.count - this.#gcCount, gcMs: round(this.#gc.ms - this.#gcMs),
    };
  }
}

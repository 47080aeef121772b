import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

type Collect = (options: { type: 'minor' }) => void;

/**
 * Every PAGES message reaches the target through Node's socket reads, each a fresh buffer of up to
 * 64 KiB (Node offers no reused read buffer on a socket a server accepted), garbage as soon as the frame
 * reader has copied it out. V8 keeps such buffers outside its heap and counts them only against its
 * external-memory limit, so tens of MiB of dead reads pile up before a collection starts, and the ones
 * that come are full collections: most of the target's RSS above idle, handed back to the kernel and
 * page-faulted in again at every cycle. A scavenge every few MiB received frees them while they are
 * young and the scavenge is cheap (well under a millisecond: the target keeps few small objects alive).
 * Measured without it (docs/measurements.md): more target CPU per GiB and RSS over its budget.
 *
 * V8 gives no other way to ask for a young-generation collection: the flag exposes `gc` to a new context
 * only, and is turned off again at once.
 */
function youngCollector(): Collect {
  setFlagsFromString('--expose-gc');
  try {
    return runInNewContext('gc') as Collect;
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
}

export class YoungGarbage {
  static #collect: Collect | undefined;
  readonly #everyBytes: number;
  #sinceLast = 0;

  constructor(everyBytes: number) {
    this.#everyBytes = everyBytes;
    YoungGarbage.#collect ??= youngCollector();
  }

  /** Counts bytes of messages that are garbage once handled; collects the young generation every `everyBytes`. */
  received(bytes: number): void {
    this.#sinceLast += bytes;
    if (this.#sinceLast < this.#everyBytes) return;
    this.#sinceLast = 0;
    YoungGarbage.#collect?.({ type: 'minor' });
  }
}

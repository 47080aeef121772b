import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PageHasher } from '@ferry/pages';
import type { TargetConnection } from './connection.js';
import type { MigrationRun } from './migration-run.js';
import { sendStateBlobs } from './state-blobs.js';

/**
 * The state hook's run and the sending of its blobs. It starts as soon as the final pass has read every
 * tracked image (a guest disk): a hypervisor may finish with its disks then (QEMU inactivates them once
 * it wrote its state). Without tracked images it starts with the pass. The target takes STATE messages
 * between the final pass's PAGES; VERIFY follows both. Started once; the state phase waits for it, and a
 * rollback stops it and waits for it to settle first (it may outlive the phase that started it).
 */
export class StateCollection {
  readonly #run: MigrationRun;
  readonly #hasher: PageHasher;
  readonly #abort = new AbortController();
  #collecting: Promise<void> | undefined;

  constructor(run: MigrationRun, hasher: PageHasher) {
    this.#run = run;
    this.#hasher = hasher;
    const cancel = run.cancel.signal;
    if (cancel.aborted) this.#abort.abort(cancel.reason);
    else cancel.addEventListener('abort', () => this.#abort.abort(cancel.reason), { once: true });
  }

  start(connection: TargetConnection): Promise<void> {
    this.#collecting ??= this.#collect(connection);
    this.#collecting.catch(() => {}); // awaited by the state phase, or settled before a rollback
    return this.#collecting;
  }

  /** Stops the hook (a rollback) and resolves once it has stopped writing: it may be QEMU's own migrate. */
  async stop(reason: unknown): Promise<void> {
    this.#abort.abort(reason);
    await this.#collecting?.catch(() => undefined);
  }

  async #collect(connection: TargetConnection): Promise<void> {
    const { context, options } = this.#run;
    const signal = this.#abort.signal;
    const dir = await this.#freshBlobDir();
    try {
      const produced = await context.hooks.collectState(dir, signal);
      await sendStateBlobs(connection, [...options.stateFiles, ...produced], this.#hasher, (name, bytes) =>
        this.#run.emit({ event: 'state', name, bytes }), signal);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Under the journal when there is one, so that a killed migration leaves nothing in the temp directory. */
  async #freshBlobDir(): Promise<string> {
    const journal = this.#run.journal;
    if (!journal) return mkdtemp(join(tmpdir(), 'ferry-state-'));
    await rm(journal.blobDir, { recursive: true, force: true });
    await mkdir(journal.blobDir, { mode: 0o700 });
    return journal.blobDir;
  }
}

import type { Logger } from 'pino';
import { ErrorCode, toFerryError, type FerryError } from '@ferry/protocol';
import { ioError } from './io-error.js';
import { writeManifest, type Outcome } from './manifest.js';
import type { SessionFiles } from './session-state.js';
import type { CommitHook, Prelaunched, Prelauncher } from './types.js';

/** Writes a session's manifest; writes go one after another, so an older state never lands after a newer one. */
export class ManifestWriter {
  readonly #id: string;
  readonly #files: SessionFiles;
  readonly #startedAt: Date;
  #chain: Promise<void> = Promise.resolve();

  constructor(id: string, files: SessionFiles, startedAt: Date) {
    this.#id = id;
    this.#files = files;
    this.#startedAt = startedAt;
  }

  write(outcome: Outcome, reason?: string): Promise<void> {
    const write = this.#chain.then(() => writeManifest(this.#files.dir, this.#files.manifest(this.#id, outcome, this.#startedAt, reason)));
    this.#chain = write.catch(() => {});
    return write;
  }

  /** Resolves once no write is in flight. */
  settled(): Promise<void> {
    return this.#chain;
  }
}

/** What a successful commit took, in microseconds: sent on RESUMED for the source's pause timeline. */
export interface CommitTimes {
  readonly commitUs: number;
  readonly resumeUs: number;
}

const micros = (ms: number): number => Math.max(0, Math.round(ms * 1000));

export interface FinalPhaseOptions {
  readonly id: string;
  readonly files: SessionFiles;
  readonly manifests: ManifestWriter;
  readonly log: Logger;
  readonly prelaunch: Prelauncher | undefined;
  readonly commitHook: CommitHook | undefined;
}

/**
 * The files and the workload's process from PAUSED to the end: the process started ahead of GO, making
 * everything durable before COMMIT_READY, and the commit at GO. It does the I/O; the session decides
 * the phases and speaks to the source.
 */
export class FinalPhase {
  readonly #o: FinalPhaseOptions;
  /** The workload's process started ahead of GO (from the second pass or PAUSED on), when there is a prelaunch. */
  #prelaunched: Promise<Prelaunched> | undefined;
  #prelaunchTried = false;

  constructor(options: FinalPhaseOptions) {
    this.#o = options;
  }

  /**
   * Pre-copy is under way (a second pass began) or the source has paused: the workload's process starts
   * now, while the last passes, the state and the verify still arrive, on the paths its images keep after
   * the commit (QEMU with `-incoming defer` touches neither memory nor disks before it loads its state).
   * Once per session. A process that fails to start fails the migration before GO (`onFail`), so the
   * source rolls back.
   */
  prelaunch(onFail: (error: FerryError) => void): void {
    const { prelaunch, files, log, id } = this.#o;
    if (!prelaunch || this.#prelaunchTried) return;
    this.#prelaunchTried = true;
    try {
      files.linkFinalNames();
    } catch (error) {
      // A file system without hard links: the process then starts at GO, on the renamed files.
      log.warn({ err: toFerryError(error, ErrorCode.Io) }, 'cannot give the images their final names ahead of GO; the workload starts at GO');
      return;
    }
    const started = prelaunch(files.commitContext(id));
    this.#prelaunched = started;
    started.catch((error: unknown) => {
      if (this.#prelaunched === started) onFail(toFerryError(error, ErrorCode.Hook));
    });
  }

  /**
   * Everything is verified: make it durable (and the prelaunched process ready). `stillVerified` is asked
   * after each wait, since the session may have failed meanwhile. Resolves with the microseconds it took
   * (the source's pause timeline shows them) when COMMIT_READY may go out, undefined when it may not.
   */
  async makeDurable(stillVerified: () => boolean): Promise<number | undefined> {
    const verified = performance.now();
    await Promise.all([this.#o.files.sync(), this.#prelaunched]);
    if (!stillVerified()) return undefined;
    const durable = performance.now();
    await this.#o.manifests.write('ready');
    if (!stillVerified()) return undefined;
    const done = performance.now();
    this.#o.log.info({ syncMs: Math.round(durable - verified), manifestMs: Math.round(done - durable) }, 'verified and durable: COMMIT_READY');
    return micros(done - verified);
  }

  /**
   * GO: the commit point. The manifest says `committing` before any file takes its final name; the
   * commit hook then resumes the workload here. Resolves with the failure, if any (after GO, the files
   * are left as the manifest says), or with how long the commit and the resume took, in microseconds.
   */
  async commit(): Promise<FerryError | CommitTimes> {
    const { manifests, files, id, log, prelaunch, commitHook } = this.#o;
    const started = performance.now();
    try {
      await manifests.write('committing');
      await files.publish();
      await manifests.write('committed');
    } catch (error) {
      return ioError(error, `committing migration ${id} in`, files.dir);
    }
    const committed = performance.now();
    try {
      const context = files.commitContext(id);
      const prelaunched = this.#prelaunched ?? prelaunch?.(context);
      await (await prelaunched)?.resume(context);
      await commitHook?.(context);
    } catch (error) {
      const failure = toFerryError(error, ErrorCode.Hook);
      log.warn({ err: failure }, 'the images are committed but the commit hook failed: the workload was not resumed here');
      await manifests.write('resume-failed', failure.message).catch(() => {});
      return failure;
    }
    return { commitUs: micros(committed - started), resumeUs: micros(performance.now() - committed) };
  }

  /** A failure after GO: a process started ahead of GO would wait for a state that never comes; the committed names stay. */
  abandonAfterGo(): void {
    void this.#prelaunched?.then((process) => process.cancel(), () => undefined);
  }

  /** A failure before GO: stops a process started ahead of GO and takes back the final names it was given. */
  async cancel(): Promise<void> {
    const started = this.#prelaunched;
    if (!started) return;
    this.#prelaunched = undefined;
    await started.then((process) => process.cancel(), () => undefined);
    this.#o.files.unlinkFinalNames();
  }
}

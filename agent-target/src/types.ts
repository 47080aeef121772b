/** What a commit hook gets: the committed files, by name. */
export interface CommitContext {
  readonly dir: string;
  readonly migrationId: string;
  readonly images: Readonly<Record<string, string>>;
  readonly blobs: Readonly<Record<string, string>>;
}

/** Runs after GO, once the files are committed; resolving means the workload runs here (RESUMED). */
export type CommitHook = (context: CommitContext) => Promise<void>;

/** Progress for the /events feed, in the vocabulary both agents share. */
export type { TargetEvent } from '@ferry/serve';

/**
 * Starts the workload's process ahead of GO, paused, on the images' final paths (hard links to the
 * `.partial` files until GO), so the pause does not wait for it to start. The session calls it when the
 * source pauses; COMMIT_READY waits for it, so a workload that cannot start rolls back instead of failing
 * after GO. `context.blobs` is empty: state blobs arrive later.
 */
export type Prelauncher = (context: CommitContext) => Promise<Prelaunched>;

export interface Prelaunched {
  /** After GO, once the files are committed: load the state blobs and run (RESUMED follows). */
  resume(context: CommitContext): Promise<void>;
  /** The migration failed (before GO, or at GO before `resume` succeeded): stop the process; a resumed one runs on. Never throws. */
  cancel(): Promise<void>;
}

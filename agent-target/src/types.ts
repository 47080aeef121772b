/** What a commit hook gets: the committed files, by name. */
export interface CommitContext {
  readonly dir: string;
  readonly migrationId: string;
  readonly images: Readonly<Record<string, string>>;
  readonly blobs: Readonly<Record<string, string>>;
}

/** Runs after GO, once the files are committed; resolving means the workload runs here (RESUMED). */
export type CommitHook = (context: CommitContext) => Promise<void>;

/** Progress for GET /status watchers and the /events feed. */
export type TargetEvent = { readonly event: string; readonly migrationId: string } & Readonly<Record<string, unknown>>;

/**
 * What ferry's two agents say to people and programs: the events of `ferry migrate --json`, the events on
 * each daemon's `/events` feed, each daemon's `GET /status`, and the lines the CLI prints when a daemon
 * listens or a migration ends. One vocabulary for both agents, here because both serve it: the source
 * emits SourceEvents, the target TargetEvents, and the feeds, the metrics and the live page read them.
 * Every event is `{ event: <name>, ...fields }`; names and fields are part of ferry's interface.
 */
import type { ErrorCode } from '@ferry/protocol';

/** Why pre-copy converges or not, on `progress` and `pass-end`. */
export interface ConvergenceFields {
  /** Bytes per second the workload dirtied (pages found dirty over the time the pass before took). */
  readonly dirtyRate?: number;
  /** Bytes per second the newest pass put on the wire. */
  readonly sendRate?: number;
  /** Percent of the workload's time taken away by the throttle. */
  readonly throttle: number;
  /** The pause if the workload stopped now. */
  readonly expectedPauseMs?: number;
  /** The round trip to the target that estimate counts (the least ping seen so far). */
  readonly rttMs: number;
  /** The link queue the newest stop decision counted (see PolicyContext.linkQueueMs). */
  readonly linkQueueMs?: number;
}

/** One pre-copy pass, as the stop policies and the summary's `history` see it. */
export interface PassRecord {
  readonly pass: number;
  /** Pages found dirty (hash differs from what the target holds) and sent in this pass. */
  readonly dirtyPages: number;
  /** Pages read and hashed to find the dirty ones (every page, or a dirty log's; absent in older records). */
  readonly pagesRead?: number;
  /** Bytes put on the wire in this pass. */
  readonly bytesSent: number;
  readonly durationMs: number;
  /** Effective bytes per second of this pass (bytesSent / duration). */
  readonly bandwidth: number;
}

export interface EncodingTotals {
  pagesSent: number;
  zeroPages: number;
  rawPages: number;
  lz4Pages: number;
  deltaPages: number;
  copyPages: number;
  /** Record bytes (header and payload) of the pages of each encoding, over all passes. */
  zeroBytes: number;
  rawBytes: number;
  lz4Bytes: number;
  deltaBytes: number;
  copyBytes: number;
  /**
   * Bytes that packing (PAGES_PACKED: whole PAGES messages compressed as one, on links under 200 Mbit/s)
   * kept off the wire: the record bytes above, less what the packed messages took.
   */
  packedBytesSaved: number;
}

/** A tracked image (a guest disk): what it cost, and how many passes read it (pass 0 included). */
export interface DiskSummary {
  readonly bytesSent: number;
  readonly passes: number;
}

export type MigrationResult = 'committed' | 'rolled-back' | 'unknown';

/** How an image's dirty pages were found (`soft-dirty`, `hash`, `qemu-bitmap`), and why that way. */
export interface DirtyLogSummary {
  readonly method: string;
  readonly reason: string;
}

/**
 * The parts of the pause, in the order they happen on its critical path (what overlaps another part,
 * such as the state hook running beside the final scan, counts only for the time it kept the pause going):
 * `pause-hook` the --pause-cmd/QMP stop; `final-scan` reading and encoding the final pass; `final-wire`
 * the final pass blocked on the link; `state` state blobs still going after the final pass; `verify` the
 * VERIFY round trip (with any final bytes still queued); `target-fsync` the target making the images
 * durable, as it measured it; `go` the source's last check and GO; `target-commit` and `target-resume` the
 * target renaming the files and resuming the workload, as it measured them; `commit-ready-rtt` what the
 * wait for COMMIT_READY took beyond the target's fsync, and `resumed-rtt` what the wait for RESUMED took
 * beyond the target's commit and resume (the round trips, and anything queued ahead of the reply);
 * `other` whatever no part covers.
 */
export type PauseStepName = 'pause-hook' | 'final-scan' | 'final-wire' | 'state' | 'verify' | 'target-fsync' | 'go'
  | 'target-commit' | 'target-resume' | 'commit-ready-rtt' | 'resumed-rtt' | 'other';

/** One part of the pause: its duration in milliseconds (one decimal). */
export interface PauseStep {
  readonly step: PauseStepName;
  readonly ms: number;
}

/**
 * How the source paced its pages to the link. `on`: to the pacer's estimates, last as given here
 * (`deliveryRate` bytes/s the target was seen to receive at best, `minRttMs` the least round trip,
 * `pacingRate` the pace in bytes/s, `windowBytes` the most in flight, `mode` startup/drain/probe/probe-rtt);
 * `off`: not, and `reason` says why (--no-pacing, --rate-limit, an older target). `queuedAtPause`: bytes
 * sent and not yet acknowledged by the target as the pre-copy ended, what the pause waited behind
 * (absent when the target does not report what it received, or there was no pause).
 */
export interface PacingSummary {
  readonly state: 'on' | 'off';
  readonly reason?: string;
  readonly mode?: 'startup' | 'drain' | 'probe' | 'probe-rtt';
  readonly deliveryRate?: number;
  readonly minRttMs?: number;
  readonly pacingRate?: number;
  readonly windowBytes?: number;
  readonly queuedAtPause?: number;
  /** The pacer's window at that moment (when on): what bounded `queuedAtPause`. */
  readonly windowAtPause?: number;
}

/** The last line of `ferry migrate --json`, and what `migrate()` resolves to. */
export interface MigrationSummary extends EncodingTotals {
  readonly result: MigrationResult;
  readonly migrationId: string;
  readonly bytesSent: number;
  readonly totalMs: number;
  readonly pauseMs: number;
  readonly passes: number;
  readonly imageBytes: number;
  readonly stopReason?: string;
  readonly error?: { readonly code: ErrorCode; readonly message: string };
  readonly history: readonly PassRecord[];
  /** Per tracked image (guest disk), by name; absent when the migration has none. */
  readonly disks?: Readonly<Record<string, DiskSummary>>;
  /** Pages read (and hashed) to find the dirty ones, over every pass (set by every migration this version runs). */
  readonly pagesRead?: number;
  /** The final pass (workload paused): pages it read, and those of them it found changed and sent. */
  readonly finalPagesRead?: number;
  readonly finalDirtyPages?: number;
  /** Per image, by name. */
  readonly dirtyLog?: Readonly<Record<string, DirtyLogSummary>>;
  /** The pause cut into its parts (absent when the workload never paused); the steps sum to `pauseMs`. */
  readonly pauseTimeline?: readonly PauseStep[];
  /** How the pages were paced to the link (absent when the migration never connected). */
  readonly pacing?: PacingSummary;
}

/** The summary as the source daemon publishes and keeps it: without the pass history. */
export type DaemonSummary = Omit<MigrationSummary, 'history'>;

/** The source's progress as it happens; the CLI renders these as a bar on a TTY or as NDJSON with --json. */
export type SourceEvent =
  | { readonly event: 'connected'; readonly url: string; readonly migrationId: string }
  | { readonly event: 'pass-begin'; readonly pass: number; readonly final: boolean }
  | ({ readonly event: 'progress'; readonly pass: number; readonly bytesSent: number; readonly pagesSent: number; readonly bytesReceived: number; readonly rate: number; readonly imageBytes: number; readonly passFraction: number; readonly passEtaMs?: number; readonly diskBytesSent?: number } & Partial<ConvergenceFields>)
  /**
   * A pass is over. `reason` says why pre-copy stops after it; `deferredStop` is the policy's reason
   * when its stop was put off by one more pass while the link drains (at most DRAIN_PASSES in a row).
   */
  | ({ readonly event: 'pass-end'; readonly pass: number; readonly dirtyPages: number; readonly bytesSent: number; readonly durationMs: number; readonly deltaCacheBytes?: number; readonly stages?: Readonly<Record<string, number>>; readonly bandwidth: number; readonly stop: boolean; readonly final: boolean; readonly reason?: string; readonly deferredStop?: string } & Partial<ConvergenceFields>)
  /** The throttle level changed (auto-converge), and why. */
  | { readonly event: 'throttle'; readonly level: number; readonly reason: string }
  /** Before a pause expected to be long (over 2 s without --max-downtime, or forced by --on-timeout force). */
  | { readonly event: 'long-pause'; readonly expectedPauseMs: number; readonly reason: string }
  | { readonly event: 'disconnected'; readonly pass: number; readonly reason: string }
  | { readonly event: 'reconnected'; readonly pass: number; readonly attempts: number; readonly resumed: boolean; readonly heldPages: number }
  | { readonly event: 'paused'; readonly pass: number; readonly reason: string }
  | { readonly event: 'state'; readonly name: string; readonly bytes: number }
  | { readonly event: 'verify'; readonly image: string; readonly ok: boolean; readonly mismatchedPages: number }
  | { readonly event: 'commit-ready' }
  | { readonly event: 'go' }
  | { readonly event: 'resumed'; readonly pauseMs: number }
  | { readonly event: 'rollback'; readonly code: ErrorCode; readonly reason: string };

/** What the source daemon adds on its feed: how each migration ended, or why it never started. */
export type SourceDaemonEvent =
  | SourceEvent
  | { readonly event: 'summary'; readonly summary: DaemonSummary }
  /** A request accepted but not started (e.g. QEMU has no such disk node); the source was not touched. */
  | { readonly event: 'failed-to-start'; readonly error: string };

/** An event on the source daemon's /events feed: every one names its migration. */
export type SourceFeedEvent = SourceDaemonEvent & { readonly migrationId: string };

/** The target's sessions as they happen, on its /events feed; every one names its migration. */
export type TargetEvent =
  /** A source connected; `resumed` when the target held pages for it (a kept session or --base seeds). */
  | { readonly event: 'attached'; readonly migrationId: string; readonly resumed: boolean }
  /** The source was cut during pre-copy; the session waits for it to resume. */
  | { readonly event: 'detached'; readonly migrationId: string; readonly reason: string }
  | { readonly event: 'pass-end'; readonly migrationId: string; readonly pass: number; readonly pages: number; readonly bytes: number }
  | { readonly event: 'verify'; readonly migrationId: string; readonly image: string | undefined; readonly ok: boolean }
  | { readonly event: 'commit-ready'; readonly migrationId: string }
  | { readonly event: 'committed'; readonly migrationId: string }
  | { readonly event: 'failed'; readonly migrationId: string; readonly code: ErrorCode; readonly reason: string };

/**
 * The target's phases (agent-target/src/phases.ts says how they follow each other), as GET /status
 * reports them.
 */
export type TargetPhase = 'precopy' | 'paused' | 'verified' | 'commit-ready' | 'committing' | 'committed' | 'failed';

/** One migration in the source daemon's GET /status. */
export interface SourceMigrationStatus {
  readonly migrationId: string;
  readonly startedAt: string;
  /** The newest event. */
  last?: SourceEvent;
  summary?: DaemonSummary;
  /** Why it never started, or why it failed outside the migration (the source was not touched). */
  error?: string;
}

export interface SourceStatus {
  readonly role: 'source';
  readonly migrations: readonly SourceMigrationStatus[];
}

/** One session in the target's GET /status. */
export interface TargetMigrationStatus {
  readonly migrationId: string;
  readonly phase: TargetPhase;
  readonly attached: boolean;
  readonly pass: number;
  readonly bytesReceived: number;
  readonly pagesApplied: number;
  readonly images: ReadonlyArray<{ readonly name: string; readonly size: number }>;
  readonly startedAt: string;
}

export interface TargetStatus {
  readonly role: 'target';
  /** Page-table memory: in use, the budget, and the share each live session is owed. */
  readonly tableMemory: { readonly reserved: number; readonly limit: number; readonly share: number };
  readonly migrations: readonly TargetMigrationStatus[];
}

export type DaemonStatus = SourceStatus | TargetStatus;

/** The target's first message to an /events watcher: its status when the watcher joined. */
export type StatusEvent = { readonly event: 'status' } & TargetStatus;

/** Anything an /events feed sends. */
export type FeedEvent = SourceFeedEvent | TargetEvent | StatusEvent;

/** How a migration ended on the target, for `ferry target --json` and `onMigrationEnd`. */
export interface MigrationEnd {
  readonly migrationId: string;
  readonly outcome: 'committed' | 'failed';
  readonly reason?: string | undefined;
}

/** The lines `ferry source` and `ferry target` print on stdout. */
export type DaemonLine =
  | { readonly event: 'listening'; readonly url: string; readonly port?: number }
  | ({ readonly event: 'migration-end' } & MigrationEnd);

/** Every event name, by who says it: the live page and its tests check against these. */
const NAMES: { readonly [name in FeedEvent['event'] | DaemonLine['event']]: 'source' | 'target' | 'both' | 'cli' } = {
  connected: 'source', 'pass-begin': 'source', progress: 'source', 'pass-end': 'both', throttle: 'source', 'long-pause': 'source',
  disconnected: 'source', reconnected: 'source', paused: 'source', state: 'source', verify: 'both', 'commit-ready': 'both',
  go: 'source', resumed: 'source', rollback: 'source', summary: 'source', 'failed-to-start': 'source',
  attached: 'target', detached: 'target', committed: 'target', failed: 'target', status: 'target',
  listening: 'cli', 'migration-end': 'cli',
};

export const EVENT_NAMES: readonly string[] = Object.keys(NAMES);

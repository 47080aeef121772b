import { rm } from 'node:fs/promises';
import type { Logger } from 'pino';
import { decodeMessage, ErrorCode, FerryError, PROTOCOL_VERSION, MessageType, toFerryError, type Hello, type Limits } from '@ferry/protocol';
import type { PageHasher } from '@ferry/pages';
import type { TargetMigrationStatus } from '@ferry/serve';
import { chooseBases, type BaseImage } from './base.js';
import { UNCHARGED, type TableMemory } from './table-memory.js';
import { publicMessage, type PrivatePath } from './public-message.js';
import type { ImageSink } from './image-sink.js';
import { sendPageTables } from './page-tables.js';
import { checkArrival, isFinished, survivesDisconnect, type TargetPhase } from './phases.js';
import { ACK_EVERY_BYTES, Receiver } from './receiver.js';
import { FinalPhase, ManifestWriter } from './session-commit.js';
import { endFeed, Inbox, Link, NO_FEED, type Feed, type Peer } from './session-link.js';
import { SessionFiles } from './session-state.js';
import { createSessionFiles, removeFinishedFolder, removeIfEmpty } from './session-files.js';
import { BaseSeeds, CopySlots } from './seed.js';
import { newSessionSecret, sameSecret } from './secret.js';
import type { CommitHook, Prelauncher, TargetEvent } from './types.js';

export type { Peer } from './session-link.js';

export interface SessionContext {
  readonly dir: string;
  readonly hasher: PageHasher;
  readonly limits: Limits;
  readonly logger: Logger;
  /** `--base` copies by image name, and the rules for using them. */
  readonly bases: Readonly<Record<string, BaseImage>>;
  /** `dir` and the bases' paths, which messages to the source never name (see publicMessage). */
  readonly privatePaths: readonly PrivatePath[];
  /** Bounds base copies target-wide; without it each session copies on its own. */
  readonly copySlots?: CopySlots | undefined;
  readonly commitHook: CommitHook | undefined;
  /** Starts the workload's process during pre-copy (or at the pause), so that GO only has to load and resume it. */
  readonly prelaunch?: Prelauncher | undefined;
  /** How long a session cut during pre-copy waits for its source to come back. */
  readonly resumeGraceMs: number;
  /** How long an attached session may move no bytes at all before it is dropped. */
  readonly idleTimeoutMs: number;
  /**
   * Asked when a cut session would be kept for a resume: false means there is no room, and the session
   * fails as if it could not be resumed. Without it every such session is kept.
   */
  readonly mayKeep?: ((session: TargetSession) => boolean) | undefined;
  readonly onEvent: (event: TargetEvent) => void;
  readonly onEnd: (session: TargetSession, outcome: 'committed' | 'failed', reason?: string) => void;
}

/**
 * One migration on the target, from HELLO to its end: what feeds it (a connection, or a grace while it
 * waits for a resume), its messages in order, and its clean-up. What each message does, phase by phase,
 * is the Receiver's; the files are SessionFiles'; from PAUSED on, the process and the commit are FinalPhase's.
 */
export class TargetSession {
  readonly id: string;
  readonly startedAt = new Date();
  /** Proof a resuming source must present: only the source that heard WELCOME knows it. */
  readonly #secret = newSessionSecret();
  readonly #ctx: SessionContext;
  readonly #log: Logger;
  readonly #files: SessionFiles;
  readonly #manifests: ManifestWriter;
  readonly #final: FinalPhase;
  readonly #receiver: Receiver;
  readonly #inbox = new Inbox((peer, data) => this.#next(peer, data));
  #feed: Feed = NO_FEED;
  #ended: Promise<void> | undefined;
  /** Copies from `--base` files, made as the page tables that describe them go out. */
  #seeds: BaseSeeds | undefined;

  private constructor(id: string, files: SessionFiles, ctx: SessionContext) {
    this.id = id;
    this.#files = files;
    this.#ctx = ctx;
    this.#log = ctx.logger.child({ migrationId: id, role: 'target' });
    this.#manifests = new ManifestWriter(id, files, this.startedAt);
    this.#final = new FinalPhase({ id, files, manifests: this.#manifests, log: this.#log, prelaunch: ctx.prelaunch, commitHook: ctx.commitHook });
    this.#receiver = new Receiver({
      id, log: this.#log, files, final: this.#final, onEvent: ctx.onEvent,
      link: () => this.#link(),
      fail: (error, notify) => this.fail(error, notify),
      sendError: (error) => this.#sendError(error),
      ended: (outcome, reason) => ctx.onEnd(this, outcome, reason),
    });
  }

  /**
   * Creates DIR/<id> and an empty sparse image for each image of the HELLO (`memory` pays for their page
   * tables as they grow), and returns once the `receiving` manifest is durable: only a folder with
   * ferry's manifest is cleaned by a restart, so no page may be accepted (no WELCOME sent) before it is on
   * disk. If the manifest cannot be written, the files just created are removed and the HELLO is refused.
   * `start` then welcomes the source.
   */
  static async create(hello: Hello, ctx: SessionContext, memory: TableMemory = UNCHARGED): Promise<TargetSession> {
    const { dir, images } = createSessionFiles(hello, ctx.dir, ctx.hasher, memory);
    const session = new TargetSession(hello.migrationId, new SessionFiles(dir, images, ctx.hasher, ctx.limits), ctx);
    try {
      await session.#manifests.write('receiving');
    } catch (error) {
      session.#files.close();
      for (const path of session.#files.partialPaths()) await rm(path, { force: true });
      removeIfEmpty(dir);
      throw toFerryError(error, ErrorCode.Io);
    }
    return session;
  }

  /**
   * Welcomes the source of a new session. Images with a `--base` the operator allows for this HELLO are
   * seeded from it while their page tables go out (see BaseSeeds), so the source sends only what differs.
   */
  async start(peer: Peer, hello: Hello): Promise<void> {
    const paths = await chooseBases(hello, this.#ctx.bases, this.#log);
    if (isFinished(this.phase)) throw new FerryError(ErrorCode.Aborted, `migration ${this.id} ended while it was being opened`);
    const seeds = new BaseSeeds(this.images, paths, this.#ctx.hasher, this.#ctx.copySlots ?? new CopySlots(1), this.#log);
    if (seeds.any) this.#seeds = seeds;
    this.attach(peer, seeds.any);
  }

  /** True when images are seeded from --base copies. */
  get seeded(): boolean {
    return this.#seeds !== undefined;
  }

  get phase(): TargetPhase {
    return this.#receiver.phase;
  }

  get dir(): string {
    return this.#files.dir;
  }

  get images(): readonly ImageSink[] {
    return this.#files.images;
  }

  get attached(): boolean {
    return this.#feed.kind === 'attached';
  }

  /** Cut during pre-copy and waiting, within its grace, for its source to resume it. */
  get keptForResume(): boolean {
    return this.#feed.kind === 'kept';
  }

  get bytesReceived(): number {
    return this.#files.bytesReceived;
  }

  /** Whether a HELLO with these images describes this session (same names and geometry). */
  matches(hello: Hello): boolean {
    return this.#files.matches(hello);
  }

  /** Whether a resuming HELLO proves it comes from this session's source. */
  provenBy(hello: Hello): boolean {
    return hello.sessionSecret !== undefined && sameSecret(hello.sessionSecret, this.#secret);
  }

  /**
   * Takes a (new) connection and answers its HELLO; a connection it replaces is closed first, so two
   * sources never feed one session. `resumed`: the target holds pages (a kept session or --base seeds)
   * and streams its page tables, at the pace the source reads them, so the source sends only what differs.
   */
  attach(peer: Peer, resumed: boolean): void {
    const replaced = this.#peer();
    const idleMs = this.#ctx.idleTimeoutMs;
    const idle = new FerryError(ErrorCode.Timeout, `no bytes moved for ${idleMs} ms in phase ${this.phase}; the session was dropped`);
    const link = new Link(peer, idleMs, () => void this.fail(idle, true));
    this.#setFeed({ kind: 'attached', link });
    replaced?.close(1008, 'replaced by a resumed connection');
    this.#inbox.clear();
    link.send({ type: MessageType.Welcome, version: PROTOCOL_VERSION, resumed, sessionSecret: this.#secret, ackEveryBytes: ACK_EVERY_BYTES, bytesReceived: this.#files.bytesReceived });
    this.#log.info({ resumed, images: this.images.map((i) => i.name) }, 'source attached');
    this.#ctx.onEvent({ event: 'attached', migrationId: this.id, resumed });
    if (!resumed) return;
    const seed = (image: number, end: number): Promise<void> => this.#seeds?.upTo(image, end) ?? Promise.resolve();
    sendPageTables(peer, this.images, () => this.#peer() === peer, () => link.touch(), seed)
      .catch((error: unknown) => void this.fail(toFerryError(error), true));
  }

  /** The connection is gone: wait for a resume during pre-copy, else the migration has failed. */
  detach(peer: Peer, reason: string): void {
    if (this.#peer() !== peer) return; // an older connection that a resume already replaced
    this.#setFeed(NO_FEED);
    if (isFinished(this.phase) || this.phase === 'committing') return;
    // A seeded session holds pages worth resuming: its source comes back without a second copy.
    const worthKeeping = this.#receiver.progressed || this.seeded;
    if (!survivesDisconnect(this.phase) || this.#ctx.resumeGraceMs <= 0 || !worthKeeping) {
      const why = worthKeeping ? `in phase ${this.phase}` : 'before sending anything';
      void this.fail(new FerryError(ErrorCode.Disconnected, `the source disconnected ${why}: ${reason}`), false);
      return;
    }
    if (this.#ctx.mayKeep?.(this) === false) {
      void this.fail(new FerryError(ErrorCode.Limit, `the source disconnected (${reason}) and the sessions kept for a resume hold more bytes: no room to keep this one`), false);
      return;
    }
    this.#log.warn({ reason, graceMs: this.#ctx.resumeGraceMs }, 'source disconnected during pre-copy; keeping the session for a resume');
    this.#ctx.onEvent({ event: 'detached', migrationId: this.id, reason });
    const failure = new FerryError(ErrorCode.Disconnected, `the source did not come back within ${this.#ctx.resumeGraceMs} ms (${reason})`);
    this.#setFeed({ kind: 'kept', grace: setTimeout(() => void this.fail(failure, false), this.#ctx.resumeGraceMs) });
  }

  /** One message from a connection. Messages are handled one at a time, in order; any error ends the session. */
  receive(peer: Peer, data: Uint8Array): void {
    if (peer !== this.#peer()) return;
    this.#touch();
    try {
      checkArrival(this.phase, data[0] ?? MessageType.Invalid);
    } catch (error) {
      void this.fail(toFerryError(error), true);
      return;
    }
    this.#files.bytesReceived += data.length;
    this.#inbox.push(peer, data);
  }

  /** Whether the message was for the session as it is now (else it is dropped unread). */
  async #next(peer: Peer, data: Uint8Array): Promise<boolean> {
    if (peer !== this.#peer() || isFinished(this.phase)) return false;
    try {
      await this.#receiver.handle(decodeMessage(data, this.#ctx.limits.maxMessageBytes));
    } catch (error) {
      await this.fail(toFerryError(error), true);
    }
    return true;
  }

  /**
   * Ends the session: its `.partial` files are removed, and its folder too when nothing else is in it
   * (else the manifest says why it failed); the source hears why (when `notify`). Resolves
   * once the files are gone, so a new attempt with the same id never races the clean-up; the connection
   * is closed only then, so a source that saw the close finds the slot free.
   */
  fail(error: FerryError, notify: boolean): Promise<void> {
    if (this.phase === 'committing' && notify) this.#sendError(error);
    if (isFinished(this.phase) || this.phase === 'committing') return this.#ended ?? Promise.resolve();
    this.#receiver.failed();
    this.#log.warn({ err: error }, 'migration failed on the target');
    if (notify) this.#sendError(error);
    const peer = this.#peer();
    this.#setFeed(NO_FEED); // from now on nothing it sends is handled
    this.#inbox.clear();
    this.#ended = this.#cleanUp(error).finally(() => peer?.close(error.code === ErrorCode.Aborted ? 1000 : 1008, error.code));
    return this.#ended;
  }

  async #cleanUp(error: FerryError): Promise<void> {
    try {
      await this.#final.cancel();
      await this.#seeds?.stop();
      this.#files.close();
      for (const path of this.#files.partialPaths()) await rm(path, { force: true });
      await this.#manifests.settled(); // no manifest write still in flight when the folder goes
      if (!removeFinishedFolder(this.dir)) await this.#manifests.write('failed', `${error.code}: ${error.message}`).catch(() => removeIfEmpty(this.dir));
    } finally {
      this.#ctx.onEvent({ event: 'failed', migrationId: this.id, code: error.code, reason: error.message });
      this.#ctx.onEnd(this, 'failed', error.message);
    }
  }

  status(): TargetMigrationStatus {
    return { migrationId: this.id, phase: this.phase, attached: this.attached, pass: this.#receiver.pass, ...this.#files.status(), startedAt: this.startedAt.toISOString() };
  }

  #setFeed(feed: Feed): void {
    endFeed(this.#feed);
    this.#feed = feed;
  }

  #link(): Link | undefined {
    return this.#feed.kind === 'attached' ? this.#feed.link : undefined;
  }

  #peer(): Peer | undefined {
    return this.#link()?.peer;
  }

  #touch(): void {
    this.#link()?.touch();
  }

  /** The source hears the code and the text without the operator's paths; the log above kept them. */
  #sendError(error: FerryError): void {
    this.#link()?.send({ type: MessageType.Error, code: error.code, message: publicMessage(error.message, this.#ctx.privatePaths) });
  }
}

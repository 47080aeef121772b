// Over 300 lines on purpose: this is the one place where a session's phase, its connection, its timers
// and its files meet. The pure parts live elsewhere (phases.ts decides, session-state.ts holds the files,
// page-tables.ts streams tables); what stays here is the I/O each phase transition needs, in order.
import { rm } from 'node:fs/promises';
import type { Logger } from 'pino';
import {
  decodeMessage, encodeControl, ErrorCode, FerryError, PROTOCOL_VERSION, MessageType, toFerryError,
  type ControlMessage, type Hello, type Limits, type Message,
} from '@ferry/protocol';
import type { PageHasher } from '@ferry/pages';
import { chooseBases, type BaseImage } from './base.js';
import { UNCHARGED, type TableMemory } from './table-memory.js';
import { privatePaths, publicMessage } from './public-message.js';
import type { ImageSink } from './image-sink.js';
import { ioError } from './io-error.js';
import { writeManifest, type Outcome } from './manifest.js';
import { sendPageTables } from './page-tables.js';
import {
  afterCommitReady, BEFORE_FIRST_PASS, checkAccepted, checkArrival, isFinished, nextPassOrder, nextPhase, survivesDisconnect, type PassOrder, type TargetPhase,
} from './phases.js';
import { SessionFiles } from './session-state.js';
import { createSessionFiles, removeFinishedFolder, removeIfEmpty } from './session-files.js';
import { BaseSeeds, CopySlots } from './seed.js';
import { newSessionSecret, sameSecret } from './secret.js';
import type { CommitHook, Prelaunched, Prelauncher, TargetEvent } from './types.js';
import { YoungGarbage } from './young-garbage.js';

/** The socket side of a session, so the session can be driven (and tested) without a server. */
export interface Peer {
  /** Resolves once the message is handed to the socket: awaiting it bounds what is queued for a slow reader. */
  send(message: Uint8Array): Promise<void>;
  close(code: number, reason: string): void;
  /** Input backpressure: stop and restart reading this connection. */
  pause(): void;
  resume(): void;
}

export interface SessionContext {
  readonly dir: string;
  readonly hasher: PageHasher;
  readonly limits: Limits;
  readonly logger: Logger;
  /** `--base` copies by image name, and the rules for using them. */
  readonly bases: Readonly<Record<string, BaseImage>>;
  /** Bounds base copies target-wide; without it each session copies on its own. */
  readonly copySlots?: CopySlots | undefined;
  readonly commitHook: CommitHook | undefined;
  /** Starts the workload's process when the source pauses, so that GO only has to load and resume it. */
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

const ACK_EVERY_MESSAGES = 32;
/** Messages queued while one is being handled before the connection stops being read. */
const INBOX_HIGH_WATER = 4;
/** Received PAGES bytes between young-generation collections (see YoungGarbage): bounds the dead messages held. */
const COLLECT_EVERY_BYTES = 4 * 1024 * 1024;

/** One migration on the target: its files, its phase, and the connection currently feeding it. */
export class TargetSession {
  readonly id: string;
  readonly startedAt = new Date();
  /** Proof a resuming source must present: only the source that heard WELCOME knows it. */
  readonly #secret = newSessionSecret();
  readonly #ctx: SessionContext;
  readonly #log: Logger;
  readonly #files: SessionFiles;
  readonly #inbox: Array<{ peer: Peer; data: Uint8Array }> = [];
  #draining = false;
  readonly #young = new YoungGarbage(COLLECT_EVERY_BYTES);
  #phase: TargetPhase = 'precopy';
  #peer: Peer | undefined;
  #graceTimer: NodeJS.Timeout | undefined;
  #idleTimer: NodeJS.Timeout | undefined;
  #pass = 0;
  #passes: PassOrder = BEFORE_FIRST_PASS;
  #messages = 0;
  /** Set once pages arrived or a pass ended: a session that never got this far is not kept for a resume. */
  #progressed = false;
  #ended: Promise<void> | undefined;
  /** Copies from `--base` files, made as the page tables that describe them go out. */
  #seeds: BaseSeeds | undefined;
  /** The workload's process started ahead of GO (from PAUSED on), when there is a prelaunch. */
  #prelaunched: Promise<Prelaunched> | undefined;

  private constructor(id: string, files: SessionFiles, ctx: SessionContext) {
    this.id = id;
    this.#files = files;
    this.#ctx = ctx;
    this.#log = ctx.logger.child({ migrationId: id, role: 'target' });
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
      await session.#writeManifest('receiving');
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
    if (isFinished(this.#phase)) throw new FerryError(ErrorCode.Aborted, `migration ${this.id} ended while it was being opened`);
    const seeds = new BaseSeeds(this.images, paths, this.#ctx.hasher, this.#ctx.copySlots ?? new CopySlots(1), this.#log);
    if (seeds.any) this.#seeds = seeds;
    this.attach(peer, seeds.any);
  }

  /** True when images are seeded from --base copies. */
  get seeded(): boolean {
    return this.#seeds !== undefined;
  }

  get phase(): TargetPhase {
    return this.#phase;
  }

  get dir(): string {
    return this.#files.dir;
  }

  get images(): readonly ImageSink[] {
    return this.#files.images;
  }

  get attached(): boolean {
    return this.#peer !== undefined;
  }

  /** Cut during pre-copy and waiting, within its grace, for its source to resume it. */
  get keptForResume(): boolean {
    return this.#graceTimer !== undefined;
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
    if (this.#graceTimer) clearTimeout(this.#graceTimer);
    this.#graceTimer = undefined;
    const replaced = this.#peer;
    this.#peer = peer;
    replaced?.close(1008, 'replaced by a resumed connection');
    this.#inbox.length = 0;
    this.#startIdleTimer();
    void peer.send(encodeControl({ type: MessageType.Welcome, version: PROTOCOL_VERSION, resumed, sessionSecret: this.#secret }));
    this.#log.info({ resumed, images: this.images.map((i) => i.name) }, 'source attached');
    this.#ctx.onEvent({ event: 'attached', migrationId: this.id, resumed });
    if (!resumed) return;
    const seed = (image: number, end: number): Promise<void> => this.#seeds?.upTo(image, end) ?? Promise.resolve();
    sendPageTables(peer, this.images, () => this.#peer === peer, () => this.#touch(), seed)
      .catch((error: unknown) => void this.fail(toFerryError(error), true));
  }

  /** The connection is gone: wait for a resume during pre-copy, else the migration has failed. */
  detach(peer: Peer, reason: string): void {
    if (this.#peer !== peer) return; // an older connection that a resume already replaced
    this.#peer = undefined;
    this.#stopIdleTimer();
    if (isFinished(this.#phase) || this.#phase === 'committing') return;
    // A seeded session holds pages worth resuming: its source comes back without a second copy.
    const worthKeeping = this.#progressed || this.seeded;
    if (!survivesDisconnect(this.#phase) || this.#ctx.resumeGraceMs <= 0 || !worthKeeping) {
      const why = worthKeeping ? `in phase ${this.#phase}` : 'before sending anything';
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
    this.#graceTimer = setTimeout(() => void this.fail(failure, false), this.#ctx.resumeGraceMs);
  }

  /** One message from a connection. Messages are handled one at a time, in order; any error ends the session. */
  receive(peer: Peer, data: Uint8Array): void {
    if (peer !== this.#peer) return;
    this.#touch();
    try {
      checkArrival(this.#phase, data[0] ?? MessageType.Invalid);
    } catch (error) {
      void this.fail(toFerryError(error), true);
      return;
    }
    this.#files.bytesReceived += data.length;
    this.#inbox.push({ peer, data });
    if (this.#inbox.length >= INBOX_HIGH_WATER) peer.pause();
    if (!this.#draining) void this.#drain();
  }

  async #drain(): Promise<void> {
    this.#draining = true;
    for (let next = this.#inbox.shift(); next; next = this.#inbox.shift()) {
      if (next.peer !== this.#peer || isFinished(this.#phase)) continue;
      try {
        await this.#handle(decodeMessage(next.data));
      } catch (error) {
        await this.fail(toFerryError(error), true);
      }
      if (this.#inbox.length < INBOX_HIGH_WATER) next.peer.resume();
    }
    this.#draining = false;
  }

  /** The phases decide what a message may do and where it leads; this only performs the I/O. */
  async #handle(message: Message): Promise<void> {
    checkAccepted(this.#phase, message.type);
    this.#passes = nextPassOrder(this.#passes, message);
    switch (message.type) {
      case MessageType.PassBegin:
        this.#pass = message.pass;
        break;
      case MessageType.Pages:
        this.#files.applyPages(message);
        this.#young.received(message.bytes.length);
        this.#progressed = true;
        if (++this.#messages % ACK_EVERY_MESSAGES === 0) this.#ack();
        break;
      case MessageType.PassEnd:
        this.#files.passEnded(message.pass);
        this.#progressed = true;
        this.#ack();
        this.#ctx.onEvent({ event: 'pass-end', migrationId: this.id, pass: message.pass, pages: message.pages, bytes: message.bytes });
        break;
      case MessageType.Paused:
        this.#log.info({ pass: this.#pass }, 'source paused; final pass');
        this.#prelaunch();
        break;
      case MessageType.State:
        this.#files.startBlob(message.name, message.size);
        break;
      case MessageType.StateChunk:
        this.#files.blobChunk(message.data);
        break;
      case MessageType.StateEnd:
        await this.#files.endBlob(message.name, message.xxh64);
        break;
      case MessageType.Verify:
        this.#verify(message);
        break;
      case MessageType.Abort:
        await this.fail(new FerryError(ErrorCode.Aborted, `the source aborted: ${message.reason}`), false);
        return;
      case MessageType.Go:
        break;
      default:
        throw new FerryError(ErrorCode.UnexpectedMessage, `message type ${message.type} is not for the target`);
    }
    this.#phase = nextPhase(this.#phase, message.type, this.#files.allVerified);
    if (this.#phase === 'verified') await this.#ready();
    if (this.#phase === 'committing') await this.#commit();
  }

  #verify(message: Extract<ControlMessage, { type: typeof MessageType.Verify }>): void {
    const result = this.#files.verify(message);
    this.#log.info({ image: message.image, ok: result.ok, ranges: result.mismatches.length }, 'verify');
    this.#ctx.onEvent({ event: 'verify', migrationId: this.id, image: this.images[message.image]?.name, ok: result.ok });
    this.#send({ type: MessageType.VerifyResult, image: message.image, ok: result.ok, mismatches: result.mismatches });
  }

  /**
   * The source has paused: the workload's process starts now, while the final pass, the state and the
   * verify still arrive, on the paths its images keep after the commit. A process that fails to start
   * fails the migration before GO, so the source rolls back.
   */
  #prelaunch(): void {
    const prelaunch = this.#ctx.prelaunch;
    if (!prelaunch) return;
    try {
      this.#files.linkFinalNames();
    } catch (error) {
      // A file system without hard links: the process then starts at GO, on the renamed files.
      this.#log.warn({ err: toFerryError(error, ErrorCode.Io) }, 'cannot give the images their final names ahead of GO; the workload starts at GO');
      return;
    }
    const started = prelaunch(this.#files.commitContext(this.id));
    this.#prelaunched = started;
    started.catch((error: unknown) => {
      if (this.#prelaunched === started) void this.fail(toFerryError(error, ErrorCode.Hook), true);
    });
  }

  /** Everything is verified: make it durable (and the prelaunched process ready), then tell the source it may send GO (and only then accept it). */
  async #ready(): Promise<void> {
    const verified = performance.now();
    await Promise.all([this.#files.sync(), this.#prelaunched]);
    if (this.#phase !== 'verified') return;
    const durable = performance.now();
    await this.#writeManifest('ready');
    if (this.#phase !== 'verified') return;
    this.#log.info({ syncMs: Math.round(durable - verified), manifestMs: Math.round(performance.now() - durable) }, 'verified and durable: COMMIT_READY');
    this.#send({ type: MessageType.CommitReady });
    this.#phase = afterCommitReady(this.#phase);
    this.#ctx.onEvent({ event: 'commit-ready', migrationId: this.id });
  }

  /**
   * GO: the commit point. The manifest says `committing` before any file takes its final name; the
   * commit hook then resumes the workload here. Awaited by the message loop: nothing else runs meanwhile.
   */
  async #commit(): Promise<void> {
    try {
      await this.#writeManifest('committing');
      await this.#files.publish();
      await this.#writeManifest('committed');
    } catch (error) {
      return this.#endAfterGo(ioError(error, `committing migration ${this.id} in`, this.dir));
    }
    try {
      const context = this.#files.commitContext(this.id);
      const prelaunched = this.#prelaunched ?? this.#ctx.prelaunch?.(context);
      await (await prelaunched)?.resume(context);
      await this.#ctx.commitHook?.(context);
    } catch (error) {
      const failure = toFerryError(error, ErrorCode.Hook);
      this.#log.warn({ err: failure }, 'the images are committed but the commit hook failed: the workload was not resumed here');
      await this.#writeManifest('resume-failed', failure.message).catch(() => {});
      return this.#endAfterGo(failure);
    }
    this.#phase = 'committed';
    this.#stopIdleTimer();
    await this.#peer?.send(encodeControl({ type: MessageType.Resumed }));
    this.#log.info({ bytesReceived: this.#files.bytesReceived }, 'committed and resumed');
    this.#ctx.onEvent({ event: 'committed', migrationId: this.id });
    this.#peer?.close(1000, 'committed');
    this.#ctx.onEnd(this, 'committed');
  }

  /**
   * A failure after GO: files are left as they are (the manifest says how far the commit got), and the
   * source hears the error; not knowing the outcome, it stays paused for a person to decide.
   */
  #endAfterGo(error: FerryError): void {
    // A process started ahead of GO would wait for a state that never comes; the committed names stay.
    void this.#prelaunched?.then((process) => process.cancel(), () => undefined);
    this.#phase = 'failed';
    this.#stopIdleTimer();
    this.#log.warn({ err: error }, 'the commit failed after GO');
    this.#sendError(error);
    this.#peer?.close(1011, error.code);
    this.#ctx.onEnd(this, 'failed', error.message);
  }

  /**
   * Ends the session: its `.partial` files are removed, and its folder too when nothing else is in it
   * (else the manifest says why it failed); the source hears why (when `notify`). Resolves
   * once the files are gone, so a new attempt with the same id never races the clean-up; the connection
   * is closed only then, so a source that saw the close finds the slot free.
   */
  fail(error: FerryError, notify: boolean): Promise<void> {
    if (this.#phase === 'committing' && notify) this.#sendError(error);
    if (isFinished(this.#phase) || this.#phase === 'committing') return this.#ended ?? Promise.resolve();
    this.#phase = 'failed';
    if (this.#graceTimer) clearTimeout(this.#graceTimer);
    this.#graceTimer = undefined;
    this.#stopIdleTimer();
    this.#log.warn({ err: error }, 'migration failed on the target');
    if (notify) this.#sendError(error);
    const peer = this.#peer;
    this.#peer = undefined; // from now on nothing it sends is handled
    this.#inbox.length = 0;
    this.#ended = this.#cleanUp(error).finally(() => peer?.close(error.code === ErrorCode.Aborted ? 1000 : 1008, error.code));
    return this.#ended;
  }

  async #cleanUp(error: FerryError): Promise<void> {
    try {
      await this.#cancelPrelaunch();
      await this.#seeds?.stop();
      this.#files.close();
      for (const path of this.#files.partialPaths()) await rm(path, { force: true });
      await this.#manifestChain; // no manifest write still in flight when the folder goes
      if (!removeFinishedFolder(this.dir)) await this.#writeManifest('failed', `${error.code}: ${error.message}`).catch(() => removeIfEmpty(this.dir));
    } finally {
      this.#ctx.onEvent({ event: 'failed', migrationId: this.id, code: error.code, reason: error.message });
      this.#ctx.onEnd(this, 'failed', error.message);
    }
  }

  /** Stops a process started ahead of GO and takes back the final names it was given. */
  async #cancelPrelaunch(): Promise<void> {
    const started = this.#prelaunched;
    if (!started) return;
    this.#prelaunched = undefined;
    await started.then((process) => process.cancel(), () => undefined);
    this.#files.unlinkFinalNames();
  }

  status(): Record<string, unknown> {
    return { migrationId: this.id, phase: this.#phase, attached: this.attached, pass: this.#pass, ...this.#files.status(), startedAt: this.startedAt.toISOString() };
  }

  #startIdleTimer(): void {
    this.#stopIdleTimer();
    if (this.#ctx.idleTimeoutMs <= 0) return;
    const failure = new FerryError(ErrorCode.Timeout, `no bytes moved for ${this.#ctx.idleTimeoutMs} ms in phase ${this.#phase}; the session was dropped`);
    this.#idleTimer = setTimeout(() => void this.fail(failure, true), this.#ctx.idleTimeoutMs);
  }

  #stopIdleTimer(): void {
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
  }

  #touch(): void {
    this.#idleTimer?.refresh();
  }

  #ack(): void {
    this.#send({ type: MessageType.Ack, pass: this.#pass, bytesReceived: this.#files.bytesReceived, pagesApplied: this.#files.pagesApplied });
  }

  #send(message: ControlMessage): void {
    if (!this.#peer) return;
    this.#touch();
    void this.#peer.send(encodeControl(message));
  }

  /** The source hears the code and the text without the operator's paths; the log above kept them. */
  #sendError(error: FerryError): void {
    const paths = privatePaths(this.#ctx.dir, Object.values(this.#ctx.bases).map((base) => base.path));
    this.#send({ type: MessageType.Error, code: error.code, message: publicMessage(error.message, paths) });
  }

  /** Manifest writes go one after another, so an older state never lands after a newer one. */
  #manifestChain: Promise<void> = Promise.resolve();
  #writeManifest(outcome: Outcome, reason?: string): Promise<void> {
    const write = this.#manifestChain.then(() => writeManifest(this.dir, this.#files.manifest(this.id, outcome, this.startedAt, reason)));
    this.#manifestChain = write.catch(() => {});
    return write;
  }
}

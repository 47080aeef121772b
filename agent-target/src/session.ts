import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import {
  decodeMessage, decodePageRecords, encodeControl, PROTOCOL_VERSION, ErrorCode, FerryError, hexToDigest, MessageType, PAGE_TABLE_CHUNK_PAGES,
  toFerryError, type ControlMessage, type Hello, type Limits, type Message,
} from '@ferry/protocol';
import type { PageHasher } from '@ferry/pages';
import { BlobSink } from './blob-sink.js';
import type { ImageSink } from './image-sink.js';
import { createSessionFiles } from './session-files.js';
import { writeManifest, type Outcome } from './manifest.js';
import { checkAccepted, nextPhase, survivesDisconnect, type TargetPhase } from './phases.js';
import type { CommitHook, TargetEvent } from './types.js';

/** The socket side of a session, so the session can be driven (and tested) without a server. */
export interface Peer {
  send(message: Uint8Array): void;
  close(code: number, reason: string): void;
}

export interface SessionContext {
  readonly dir: string;
  readonly hasher: PageHasher;
  readonly limits: Limits;
  readonly logger: Logger;
  readonly bases: Readonly<Record<string, string>>;
  readonly commitHook: CommitHook | undefined;
  /** How long a session cut during pre-copy waits for its source to come back. */
  readonly resumeGraceMs: number;
  readonly onEvent: (event: TargetEvent) => void;
  readonly onEnd: (session: TargetSession, outcome: 'committed' | 'failed', reason?: string) => void;
}

const ACK_EVERY_MESSAGES = 32;

/** One migration on the target: its files, its phase, and the connection currently feeding it. */
export class TargetSession {
  readonly id: string;
  readonly dir: string;
  readonly images: readonly ImageSink[];
  readonly startedAt = new Date();
  /** True when the images were seeded from --base copies. */
  readonly seeded: boolean;
  readonly #ctx: SessionContext;
  readonly #log: Logger;
  readonly #blobs = new Map<string, BlobSink>();
  readonly #verified = new Set<number>();
  #blob: BlobSink | undefined;
  #phase: TargetPhase = 'precopy';
  #peer: Peer | undefined;
  #graceTimer: NodeJS.Timeout | undefined;
  #pass = 0;
  #passes = 0;
  #messages = 0;
  bytesReceived = 0;

  private constructor(id: string, dir: string, images: ImageSink[], seeded: boolean, ctx: SessionContext) {
    this.id = id;
    this.dir = dir;
    this.images = images;
    this.seeded = seeded;
    this.#ctx = ctx;
    this.#log = ctx.logger.child({ migrationId: id, role: 'target' });
  }

  /** Creates DIR/<id> and an empty (or --base seeded) sparse image for each image of the HELLO. */
  static create(hello: Hello, ctx: SessionContext): TargetSession {
    const { dir, images, seeded } = createSessionFiles(hello, ctx.dir, ctx.bases, ctx.hasher);
    return new TargetSession(hello.migrationId, dir, images, seeded, ctx);
  }

  get phase(): TargetPhase {
    return this.#phase;
  }

  get attached(): boolean {
    return this.#peer !== undefined;
  }

  /** Whether a HELLO with these images describes this session (same names and geometry). */
  matches(hello: Hello): boolean {
    return hello.images.length === this.images.length &&
      hello.images.every((image, i) => image.name === this.images[i]?.name && image.size === this.images[i].pageCount * this.images[i].pageSize && image.pageSize === this.images[i].pageSize);
  }

  /**
   * Takes a (new) connection and answers its HELLO. `resumed`: the target holds pages (a kept session or
   * --base seeds) and sends its page tables so the source sends only what differs.
   */
  attach(peer: Peer, resumed: boolean): void {
    if (this.#graceTimer) clearTimeout(this.#graceTimer);
    this.#graceTimer = undefined;
    this.#peer = peer;
    this.#send({ type: MessageType.Welcome, version: PROTOCOL_VERSION, resumed });
    if (resumed) {
      for (const [image, sink] of this.images.entries()) {
        for (let first = 0; first < sink.pageCount; first += PAGE_TABLE_CHUNK_PAGES) {
          const entries = Math.min(PAGE_TABLE_CHUNK_PAGES, sink.pageCount - first);
          const hashes = new Uint8Array(sink.hashes.buffer, sink.hashes.byteOffset + first * 8, entries * 8);
          this.#send({ type: MessageType.PageTable, image, firstPage: first, hashes });
        }
      }
    }
    this.#log.info({ resumed, images: this.images.map((i) => i.name) }, 'source attached');
    this.#ctx.onEvent({ event: 'attached', migrationId: this.id, resumed });
  }

  /** The connection is gone: wait for a resume during pre-copy, else the migration has failed. */
  detach(peer: Peer, reason: string): void {
    if (this.#peer !== peer) return; // an older connection that a resume already replaced
    this.#peer = undefined;
    if (this.#phase === 'committed' || this.#phase === 'failed' || this.#phase === 'committing') return;
    if (survivesDisconnect(this.#phase) && this.#ctx.resumeGraceMs > 0) {
      this.#log.warn({ reason, graceMs: this.#ctx.resumeGraceMs }, 'source disconnected during pre-copy; keeping the session for a resume');
      this.#ctx.onEvent({ event: 'detached', migrationId: this.id, reason });
      this.#graceTimer = setTimeout(() => this.fail(new FerryError(ErrorCode.Disconnected, `the source did not come back within ${this.#ctx.resumeGraceMs} ms (${reason})`), false), this.#ctx.resumeGraceMs);
      return;
    }
    this.fail(new FerryError(ErrorCode.Disconnected, `the source disconnected in phase ${this.#phase}: ${reason}`), false);
  }

  /** One message from the attached source. Any error ends the session with ERROR to the source. */
  receive(data: Uint8Array): void {
    try {
      this.bytesReceived += data.length;
      const message = decodeMessage(data);
      checkAccepted(this.#phase, message.type);
      this.#handle(message);
    } catch (error) {
      this.fail(toFerryError(error), true);
    }
  }

  #handle(message: Message): void {
    switch (message.type) {
      case MessageType.PassBegin:
        this.#pass = message.pass;
        break;
      case MessageType.Pages: {
        const sink = this.images[message.imageIndex];
        if (!sink) throw new FerryError(ErrorCode.Malformed, `PAGES for image ${message.imageIndex}; this migration has ${this.images.length}`);
        sink.applyAll(decodePageRecords(message.bytes, sink));
        this.#verified.delete(message.imageIndex);
        if (++this.#messages % ACK_EVERY_MESSAGES === 0) this.#ack();
        break;
      }
      case MessageType.PassEnd:
        this.#passes = Math.max(this.#passes, message.pass + 1);
        this.#ack();
        this.#ctx.onEvent({ event: 'pass-end', migrationId: this.id, pass: message.pass, pages: message.pages, bytes: message.bytes });
        break;
      case MessageType.Paused:
        this.#log.info({ pass: this.#pass }, 'source paused; final pass');
        break;
      case MessageType.State:
        this.#startBlob(message.name, message.size);
        break;
      case MessageType.StateChunk:
        if (!this.#blob) throw new FerryError(ErrorCode.UnexpectedMessage, 'STATE_CHUNK outside a STATE blob');
        this.#blob.write(message.data);
        break;
      case MessageType.StateEnd:
        if (!this.#blob) throw new FerryError(ErrorCode.UnexpectedMessage, 'STATE_END outside a STATE blob');
        this.#blob.end(message.name, message.xxh64);
        this.#blob = undefined;
        break;
      case MessageType.Verify:
        this.#verify(message);
        break;
      case MessageType.Go:
        void this.#commit();
        break;
      case MessageType.Abort:
        this.fail(new FerryError(ErrorCode.Aborted, `the source aborted: ${message.reason}`), false);
        return;
      default:
        throw new FerryError(ErrorCode.UnexpectedMessage, `message type ${message.type} is not for the target`);
    }
    this.#phase = nextPhase(this.#phase, message.type, this.#verified.size === this.images.length);
    if (this.#phase === 'commit-ready' && message.type === MessageType.Verify) this.#ready();
  }

  #startBlob(name: string, size: number): void {
    if (this.#blob) throw new FerryError(ErrorCode.UnexpectedMessage, `STATE ${name} before STATE_END of ${this.#blob.name}`);
    if (this.#blobs.has(name)) throw new FerryError(ErrorCode.Conflict, `state blob ${name} was sent twice`);
    if (this.#blobs.size >= this.#ctx.limits.maxBlobs) throw new FerryError(ErrorCode.Limit, `more than ${this.#ctx.limits.maxBlobs} state blobs`);
    this.#blob = new BlobSink(name, size, join(this.dir, 'state', name), this.#ctx.hasher, this.#ctx.limits);
    this.#blobs.set(name, this.#blob);
  }

  #verify(message: Extract<ControlMessage, { type: typeof MessageType.Verify }>): void {
    if (this.#blob) throw new FerryError(ErrorCode.UnexpectedMessage, `VERIFY before STATE_END of blob ${this.#blob.name}`);
    const sink = this.images[message.image];
    if (!sink) throw new FerryError(ErrorCode.Malformed, `VERIFY of image ${message.image}; this migration has ${this.images.length}`);
    const digests = new Uint8Array(message.blockDigests); // aligned copy
    const result = sink.verify({
      pageCount: message.pageCount, digest: hexToDigest(message.digest), blockPages: message.blockPages,
      blockDigests: new BigUint64Array(digests.buffer, 0, digests.length / 8),
    });
    if (result.ok) this.#verified.add(message.image);
    else this.#verified.delete(message.image);
    this.#log.info({ image: sink.name, ok: result.ok, ranges: result.mismatches.length }, 'verify');
    this.#ctx.onEvent({ event: 'verify', migrationId: this.id, image: sink.name, ok: result.ok });
    this.#send({ type: MessageType.VerifyResult, image: message.image, ok: result.ok, mismatches: result.mismatches });
  }

  /** Everything is verified: make it durable, then tell the source it may send GO. */
  #ready(): void {
    for (const sink of this.images) sink.sync();
    void this.#manifest('ready').then(() => {
      if (this.#phase !== 'commit-ready') return;
      this.#send({ type: MessageType.CommitReady });
      this.#ctx.onEvent({ event: 'commit-ready', migrationId: this.id });
    }, (error: unknown) => this.fail(toFerryError(error, ErrorCode.Io), true));
  }

  /** GO: the commit point. Files take their final names, then the workload is resumed here. */
  async #commit(): Promise<void> {
    try {
      for (const sink of this.images) {
        sink.close();
        await sink.publish();
      }
      for (const blob of this.#blobs.values()) blob.publish();
      await this.#manifest('committed');
    } catch (error) {
      this.#endAfterGo(toFerryError(error, ErrorCode.Io));
      return;
    }
    try {
      await this.#ctx.commitHook?.({
        dir: this.dir,
        migrationId: this.id,
        images: Object.fromEntries(this.images.map((i) => [i.name, i.finalPath])),
        blobs: Object.fromEntries([...this.#blobs.values()].map((b) => [b.name, b.finalPath])),
      });
    } catch (error) {
      const failure = toFerryError(error, ErrorCode.Hook);
      this.#log.error({ err: failure }, 'the images are committed but resuming the workload here failed');
      await this.#manifest('resume-failed', failure.message).catch(() => {});
      this.#endAfterGo(failure);
      return;
    }
    this.#phase = 'committed';
    this.#send({ type: MessageType.Resumed });
    this.#log.info({ bytesReceived: this.bytesReceived }, 'committed and resumed');
    this.#ctx.onEvent({ event: 'committed', migrationId: this.id });
    this.#peer?.close(1000, 'committed');
    this.#ctx.onEnd(this, 'committed');
  }

  /**
   * A failure after GO: files are left as they are (some may already carry their final names), and the
   * source hears the error; not knowing the outcome, it stays paused for a person to decide.
   */
  #endAfterGo(error: FerryError): void {
    this.#phase = 'failed';
    this.#sendError(error);
    this.#peer?.close(1011, error.code);
    this.#ctx.onEnd(this, 'failed', error.message);
  }

  /** Ends the session: no committed file is left behind, the source hears why (when `notify`). */
  fail(error: FerryError, notify: boolean): void {
    if (this.#phase === 'failed' || this.#phase === 'committed' || this.#phase === 'committing') {
      if (this.#phase === 'committing' && notify) this.#sendError(error);
      return;
    }
    this.#phase = 'failed';
    if (this.#graceTimer) clearTimeout(this.#graceTimer);
    this.#log.warn({ err: error }, 'migration failed on the target');
    if (notify) this.#sendError(error);
    this.#peer?.close(error.code === ErrorCode.Aborted ? 1000 : 1008, error.code);
    this.#peer = undefined;
    for (const sink of this.images) sink.close();
    for (const blob of this.#blobs.values()) blob.close();
    for (const sink of this.images) rmSync(sink.partialPath, { force: true });
    rmSync(join(this.dir, 'state'), { recursive: true, force: true });
    void this.#manifest('failed', `${error.code}: ${error.message}`).catch(() => {});
    this.#ctx.onEvent({ event: 'failed', migrationId: this.id, code: error.code, reason: error.message });
    this.#ctx.onEnd(this, 'failed', error.message);
  }

  status(): Record<string, unknown> {
    return {
      migrationId: this.id, phase: this.#phase, attached: this.attached, pass: this.#pass, bytesReceived: this.bytesReceived,
      pagesApplied: this.#pagesApplied(),
      images: this.images.map((i) => ({ name: i.name, size: i.pageCount * i.pageSize })), startedAt: this.startedAt.toISOString(),
    };
  }

  #pagesApplied(): number {
    return this.images.reduce((sum, i) => sum + i.pagesApplied, 0);
  }

  #ack(): void {
    this.#send({ type: MessageType.Ack, pass: this.#pass, bytesApplied: this.bytesReceived, pagesApplied: this.#pagesApplied() });
  }

  #send(message: ControlMessage): void {
    this.#peer?.send(encodeControl(message));
  }

  #sendError(error: FerryError): void {
    this.#send({ type: MessageType.Error, code: error.code, message: error.message });
  }

  #manifest(outcome: Outcome, reason?: string): Promise<void> {
    const partial = outcome !== 'committed' && outcome !== 'resume-failed';
    return writeManifest(this.dir, {
      migrationId: this.id, outcome, ...(reason ? { reason } : {}),
      images: this.images.map((i) => ({ name: i.name, size: i.pageCount * i.pageSize, pageSize: i.pageSize, file: partial ? i.partialPath : i.finalPath })),
      blobs: [...this.#blobs.values()].map((b) => ({ name: b.name, size: b.size, file: partial ? b.partialPath : b.finalPath })),
      startedAt: this.startedAt.toISOString(), updatedAt: new Date().toISOString(),
      bytesReceived: this.bytesReceived, passes: this.#passes,
    });
  }
}

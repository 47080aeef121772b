import type { Logger } from 'pino';
import { encodeControl, ErrorCode, FerryError, MessageType, type ControlMessage, type Message } from '@ferry/protocol';
import {
  BEFORE_FIRST_PASS, checkAccepted, isFinished, nextPassOrder, step, type PassOrder, type TargetPhase,
} from './phases.js';
import { PassClock, type ApplyTimes } from './pass-clock.js';
import type { FinalPhase } from './session-commit.js';
import type { Link } from './session-link.js';
import type { SessionFiles } from './session-state.js';
import type { TargetEvent } from './types.js';
import { YoungGarbage } from './young-garbage.js';

const ACK_EVERY_MESSAGES = 32;
/**
 * Also an ACK once this many bytes arrived since the last (WELCOME says so): the source paces itself to
 * the link from the ACKs, and a PAGES message is at most 1 MiB, so in practice one ACK per message.
 */
export const ACK_EVERY_BYTES = 256 * 1024;
/** Received PAGES bytes between young-generation collections (see YoungGarbage): bounds the dead socket reads held. */
const COLLECT_EVERY_BYTES = 4 * 1024 * 1024;

const since = (now: ApplyTimes, then: ApplyTimes): ApplyTimes =>
  ({ decodeMs: now.decodeMs - then.decodeMs, writeMs: now.writeMs - then.writeMs, hashMs: now.hashMs - then.hashMs });

/** What a receiver needs of its session: the files, the connection of the moment, and how to end. */
export interface ReceiverHost {
  readonly id: string;
  readonly log: Logger;
  readonly files: SessionFiles;
  readonly final: FinalPhase;
  readonly onEvent: (event: TargetEvent) => void;
  /** The connection feeding the session now, if any. */
  link(): Link | undefined;
  fail(error: FerryError, notify: boolean): Promise<void>;
  /** Tells the source of an error, without the operator's paths. */
  sendError(error: FerryError): void;
  ended(outcome: 'committed' | 'failed', reason?: string): void;
}

/**
 * A session's messages, phase by phase: the phase itself, where the source is in its passes, and the
 * I/O each accepted message needs. phases.ts decides what a message may do and where it leads; the
 * session around it owns the connection and the session's end.
 */
export class Receiver {
  readonly #host: ReceiverHost;
  readonly #young = new YoungGarbage(COLLECT_EVERY_BYTES);
  #phase: TargetPhase = 'precopy';
  #pass = 0;
  #passes: PassOrder = BEFORE_FIRST_PASS;
  #messages = 0;
  /** The session's bytesReceived in the last ACK. */
  #ackedBytes = 0;
  #progressed = false;
  readonly #clock = new PassClock();
  #applyAtBegin: ApplyTimes = { decodeMs: 0, writeMs: 0, hashMs: 0 };

  constructor(host: ReceiverHost) {
    this.#host = host;
  }

  get phase(): TargetPhase {
    return this.#phase;
  }

  get pass(): number {
    return this.#pass;
  }

  /** Set once pages arrived or a pass ended: a session that never got this far is not kept for a resume. */
  get progressed(): boolean {
    return this.#progressed;
  }

  /** The session failed before GO: nothing more is handled. */
  failed(): void {
    this.#phase = step(this.#phase, { kind: 'failed' });
  }

  async handle(message: Message): Promise<void> {
    const started = performance.now();
    try {
      await this.#handle(message);
    } finally {
      this.#clock.handled(performance.now() - started);
    }
  }

  async #handle(message: Message): Promise<void> {
    const { files, log, id, onEvent } = this.#host;
    checkAccepted(this.#phase, message.type);
    this.#passes = nextPassOrder(this.#passes, message);
    switch (message.type) {
      case MessageType.PassBegin:
        this.#pass = message.pass;
        // A second pass means pre-copy is under way: the workload's process starts now, so that it is up
        // before the pause rather than inside it.
        if (message.pass >= 1) this.#prelaunch();
        this.#clock.begin();
        this.#applyAtBegin = files.applyTimes;
        break;
      case MessageType.Pages:
        files.applyPages(message);
        this.#young.received(message.bytes.length);
        this.#progressed = true;
        if (++this.#messages % ACK_EVERY_MESSAGES === 0) this.#ack();
        break;
      case MessageType.PassEnd:
        files.passEnded(message.pass);
        log.info({ pass: message.pass, stages: this.#clock.report(since(files.applyTimes, this.#applyAtBegin)) }, 'pass applied');
        this.#progressed = true;
        this.#ack();
        onEvent({ event: 'pass-end', migrationId: id, pass: message.pass, pages: message.pages, bytes: message.bytes });
        break;
      case MessageType.Paused:
        log.info({ pass: this.#pass }, 'source paused; final pass');
        this.#prelaunch();
        break;
      case MessageType.State:
        files.startBlob(message.name, message.size);
        break;
      case MessageType.StateChunk:
        files.blobChunk(message.data);
        break;
      case MessageType.StateEnd:
        await files.endBlob(message.name, message.xxh64);
        break;
      case MessageType.Verify:
        this.#verify(message);
        break;
      case MessageType.Abort:
        await this.#host.fail(new FerryError(ErrorCode.Aborted, `the source aborted: ${message.reason}`), false);
        return;
      case MessageType.Go:
        break;
      default:
        throw new FerryError(ErrorCode.UnexpectedMessage, `message type ${message.type} is not for the target`);
    }
    this.#phase = step(this.#phase, { kind: 'message', type: message.type, allVerified: files.allVerified });
    if (files.bytesReceived - this.#ackedBytes >= ACK_EVERY_BYTES && !isFinished(this.#phase)) this.#ack();
    if (this.#phase === 'verified') await this.#ready();
    if (this.#phase === 'committing') await this.#commit();
  }

  #verify(message: Extract<ControlMessage, { type: typeof MessageType.Verify }>): void {
    const { files, log, id, onEvent } = this.#host;
    const result = files.verify(message);
    log.info({ image: message.image, ok: result.ok, ranges: result.mismatches.length }, 'verify');
    onEvent({ event: 'verify', migrationId: id, image: files.images[message.image]?.name, ok: result.ok });
    this.#send({ type: MessageType.VerifyResult, image: message.image, ok: result.ok, mismatches: result.mismatches });
  }

  /** Starts the workload's process ahead of GO, once (a later call does nothing); one that fails fails the migration. */
  #prelaunch(): void {
    this.#host.final.prelaunch((error) => void this.#host.fail(error, true));
  }

  /** Everything is verified: once it is durable, tell the source it may send GO (and only then accept it). */
  async #ready(): Promise<void> {
    const durableUs = await this.#host.final.makeDurable(() => this.#phase === 'verified');
    if (durableUs === undefined) return;
    this.#send({ type: MessageType.CommitReady, durableUs });
    this.#phase = step(this.#phase, { kind: 'commit-ready-sent' });
    this.#host.onEvent({ event: 'commit-ready', migrationId: this.#host.id });
  }

  /** GO: the commit (FinalPhase), awaited by the message loop: nothing else runs meanwhile. */
  async #commit(): Promise<void> {
    const { final, log, files, id, onEvent } = this.#host;
    const outcome = await final.commit();
    if (outcome instanceof FerryError) return this.#endAfterGo(outcome);
    this.#phase = step(this.#phase, { kind: 'committed' });
    const link = this.#host.link();
    link?.stopIdle();
    await link?.peer.send(encodeControl({ type: MessageType.Resumed, ...outcome }));
    log.info({ bytesReceived: files.bytesReceived }, 'committed and resumed');
    onEvent({ event: 'committed', migrationId: id });
    this.#host.link()?.peer.close(1000, 'committed');
    this.#host.ended('committed');
  }

  /**
   * A failure after GO: files are left as they are (the manifest says how far the commit got), and the
   * source hears the error; not knowing the outcome, it stays paused for a person to decide.
   */
  #endAfterGo(error: FerryError): void {
    this.#host.final.abandonAfterGo();
    this.#phase = step(this.#phase, { kind: 'failed' });
    const link = this.#host.link();
    link?.stopIdle();
    this.#host.log.warn({ err: error }, 'the commit failed after GO');
    this.#host.sendError(error);
    link?.peer.close(1011, error.code);
    this.#host.ended('failed', error.message);
  }

  #ack(): void {
    const { files } = this.#host;
    this.#ackedBytes = files.bytesReceived;
    this.#send({ type: MessageType.Ack, pass: this.#pass, bytesReceived: files.bytesReceived, pagesApplied: files.pagesApplied });
  }

  #send(message: ControlMessage): void {
    this.#host.link()?.send(message);
  }
}

import { join } from 'node:path';
import { ErrorCode, FerryError, type Hello } from '@ferry/protocol';
import { TableBudget, type TableAccount } from './budget.js';
import { CopySlots } from './seed.js';
import { readOutcome } from './manifest.js';
import { isFinished } from './phases.js';
import { TargetSession, type Peer, type SessionContext } from './session.js';

/**
 * The sessions a target holds, and the rules for who may open or resume one. `maxMigrations` bounds the
 * live sessions (connected, or being opened) and, separately, the sessions kept for a resume after a
 * cut, so sources that leave cannot hold the slots of new migrations. Page tables are paid for as they
 * grow, from one budget in which each live session is owed a share (TableBudget); a kept session ends
 * only by its secret-bearing resume, its grace, or when a live session needs its table memory.
 */
export class SessionRegistry {
  readonly #sessions = new Map<string, TargetSession>();
  readonly #accounts = new Map<TargetSession, TableAccount>();
  /** Ids whose HELLO is being answered: a second HELLO for one of them waits for no one, it is refused. */
  readonly #opening = new Set<string>();
  /** New sessions whose files and manifest are being written: they hold a slot already. */
  #creating = 0;
  readonly #budget: TableBudget;
  readonly #maxMigrations: number;
  /** One `--base` copy at a time, target-wide. */
  readonly #copySlots = new CopySlots(1);

  constructor(maxMigrations: number, maxTableBytes: number) {
    this.#maxMigrations = maxMigrations;
    this.#budget = new TableBudget(maxTableBytes, maxMigrations);
  }

  get all(): TargetSession[] {
    return [...this.#sessions.values()];
  }

  get tableBytesReserved(): number {
    return this.#budget.used;
  }

  /** The table memory each live session is sure to get (see TableBudget). */
  get tableShare(): number {
    return this.#budget.share;
  }

  /** Answers a HELLO: resumes the session it proves it owns, or creates a new one. Throws what the source is told. */
  async open(peer: Peer, hello: Hello, context: SessionContext): Promise<TargetSession> {
    if (this.#opening.has(hello.migrationId)) throw new FerryError(ErrorCode.Conflict, `migration ${hello.migrationId} is being opened by another connection`);
    this.#opening.add(hello.migrationId);
    try {
      const existing = this.#sessions.get(hello.migrationId);
      if (existing && hello.resume) return this.#resume(existing, peer, hello);
      if (existing) await this.#endForNewAttempt(existing, hello, context);
      return await this.#create(peer, hello, context);
    } finally {
      this.#opening.delete(hello.migrationId);
    }
  }

  /**
   * A new attempt with the id of a session this target still holds. Only its own source (the secret) may
   * replace a session kept for a resume; anyone else waits for the grace to end, so a HELLO cannot make
   * the real source's resume fail. A session that has already failed is let finish its clean-up first.
   */
  async #endForNewAttempt(existing: TargetSession, hello: Hello, context: SessionContext): Promise<void> {
    if (isFinished(existing.phase)) {
      await existing.fail(new FerryError(ErrorCode.Aborted, 'ended'), false);
      return;
    }
    if (existing.keptForResume && existing.provenBy(hello)) {
      await existing.fail(new FerryError(ErrorCode.Aborted, 'replaced by a new attempt of its own source'), false);
      return;
    }
    if (existing.keptForResume) {
      const grace = Math.round(context.resumeGraceMs / 1000);
      throw new FerryError(ErrorCode.Conflict, `migration ${hello.migrationId} is waiting for its source to resume (kept up to ${grace} s after its cut); only that source, with the secret it got in WELCOME, can resume it: wait, or use another --id`);
    }
    throw new FerryError(ErrorCode.Conflict, `migration ${hello.migrationId} is already in progress on this target (phase ${existing.phase})`);
  }

  #resume(existing: TargetSession, peer: Peer, hello: Hello): TargetSession {
    if (!existing.provenBy(hello)) {
      throw new FerryError(ErrorCode.Auth, `resume of migration ${hello.migrationId} refused: it does not present the session secret its source received in WELCOME`);
    }
    if (existing.phase !== 'precopy' || !existing.matches(hello)) {
      throw new FerryError(ErrorCode.Conflict, `migration ${hello.migrationId} cannot be resumed (phase ${existing.phase}${existing.matches(hello) ? '' : ', different images'})`);
    }
    existing.attach(peer, true);
    return existing;
  }

  async #create(peer: Peer, hello: Hello, context: SessionContext): Promise<TargetSession> {
    if (readOutcome(join(context.dir, hello.migrationId)) === 'committed') {
      throw new FerryError(ErrorCode.Conflict, `migration ${hello.migrationId} was already committed on this target; use another --id`);
    }
    const live = this.all.filter((s) => !s.keptForResume).length + this.#creating;
    if (live >= this.#maxMigrations) {
      throw new FerryError(ErrorCode.Limit, `this target already receives ${live} migrations (limit ${this.#maxMigrations}, --max-migrations)`);
    }
    this.#budget.checkFits(hello);
    const account = this.#budget.account(hello.migrationId);
    let session: TargetSession;
    this.#creating += 1;
    try {
      const own = { ...context, copySlots: this.#copySlots, mayKeep: (cut: TargetSession) => this.#makeRoomToKeep(cut) };
      session = await TargetSession.create(hello, own, account);
    } catch (error) {
      this.#budget.close(account);
      throw error;
    } finally {
      this.#creating -= 1;
    }
    this.#sessions.set(session.id, session);
    this.#accounts.set(session, account);
    this.#budget.bind(account, {
      get kept() { return session.keptForResume; },
      get evictable() { return !isFinished(session.phase) && session.phase !== 'committing'; },
      evict: (error) => void session.fail(error, true),
    });
    await session.start(peer, hello);
    return session;
  }

  /**
   * At most `maxMigrations` sessions wait for a resume. When one more is cut, the one that received the
   * fewest bytes makes room: a source that sends little cannot push out a migration well under way.
   */
  #makeRoomToKeep(cut: TargetSession): boolean {
    const kept = this.all.filter((s) => s !== cut && s.keptForResume);
    if (kept.length < this.#maxMigrations) return true;
    const weakest = kept.reduce((least, s) => (s.bytesReceived < least.bytesReceived ? s : least));
    if (weakest.bytesReceived >= cut.bytesReceived) return false;
    void weakest.fail(new FerryError(ErrorCode.Limit, `dropped while waiting for a resume: its place went to a cut migration that had received more (${cut.id})`), false);
    return true;
  }

  /** A session ended: its slot and its table memory are free again. */
  ended(session: TargetSession): void {
    if (this.#sessions.get(session.id) === session) this.#sessions.delete(session.id);
    const account = this.#accounts.get(session);
    if (account) this.#budget.close(account);
    this.#accounts.delete(session);
  }
}

import { join } from 'node:path';
import { ErrorCode, FerryError, type Hello } from '@ferry/protocol';
import { tableBytesFor, TableBudget } from './budget.js';
import { readOutcome } from './manifest.js';
import { TargetSession, type Peer, type SessionContext } from './session.js';

/**
 * The sessions a target holds, and the rules for who may open or resume one: --max-migrations, the
 * table-memory budget, the committed-id check, and the session secret a resume must present.
 */
export class SessionRegistry {
  readonly #sessions = new Map<string, TargetSession>();
  readonly #reserved = new Map<TargetSession, number>();
  /** Ids whose HELLO is being answered: a second HELLO for one of them waits for no one, it is refused. */
  readonly #opening = new Set<string>();
  /** New sessions whose files and manifest are being written: they hold a slot already. */
  #creating = 0;
  readonly #budget: TableBudget;
  readonly #maxMigrations: number;

  constructor(maxMigrations: number, maxTableBytes: number) {
    this.#maxMigrations = maxMigrations;
    this.#budget = new TableBudget(maxTableBytes);
  }

  get all(): TargetSession[] {
    return [...this.#sessions.values()];
  }

  get tableBytesReserved(): number {
    return this.#budget.used;
  }

  /** Answers a HELLO: resumes the session it proves it owns, or creates a new one. Throws what the source is told. */
  async open(peer: Peer, hello: Hello, context: SessionContext): Promise<TargetSession> {
    if (this.#opening.has(hello.migrationId)) throw new FerryError(ErrorCode.Conflict, `migration ${hello.migrationId} is being opened by another connection`);
    this.#opening.add(hello.migrationId);
    try {
      const existing = this.#sessions.get(hello.migrationId);
      if (existing && hello.resume) return this.#resume(existing, peer, hello);
      if (existing && !existing.attached && existing.phase === 'precopy') {
        // A session kept for a resume, but its source started over: the new attempt replaces it.
        await existing.fail(new FerryError(ErrorCode.Aborted, 'replaced by a new attempt with the same migration id'), false);
      } else if (existing) {
        throw new FerryError(ErrorCode.Conflict, `migration ${hello.migrationId} is already in progress on this target (phase ${existing.phase})`);
      }
      return await this.#create(peer, hello, context);
    } finally {
      this.#opening.delete(hello.migrationId);
    }
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
    const held = this.#sessions.size + this.#creating;
    if (held >= this.#maxMigrations) {
      throw new FerryError(ErrorCode.Limit, `this target already receives ${held} migrations (limit ${this.#maxMigrations})`);
    }
    const bytes = tableBytesFor(hello);
    this.#budget.reserve(bytes, hello.migrationId);
    let session: TargetSession;
    this.#creating += 1;
    try {
      session = await TargetSession.create(hello, context);
    } catch (error) {
      this.#budget.release(bytes);
      throw error;
    } finally {
      this.#creating -= 1;
    }
    this.#sessions.set(session.id, session);
    this.#reserved.set(session, bytes);
    session.attach(peer, session.seeded);
    return session;
  }

  /** A session ended: its slot and its table memory are free again. */
  ended(session: TargetSession): void {
    if (this.#sessions.get(session.id) === session) this.#sessions.delete(session.id);
    this.#budget.release(this.#reserved.get(session) ?? 0);
    this.#reserved.delete(session);
  }
}

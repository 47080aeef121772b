/**
 * The autopilot's side of a `ferry source` daemon's HTTP API: GET /status, POST /migrations and the
 * /events WebSocket, each with the bearer token; POSTs say `Content-Type: application/json`, and no
 * request carries an Origin (the daemon refuses web pages).
 */
import { WebSocket } from 'ws';
import type { ObservedMigration } from './fleet.js';

const REQUEST_TIMEOUT_MS = 10_000;
/** How long a feed that dropped may take to come back before its migrations count as lost. */
const RECONNECT_FOR_MS = 30_000;

/** How a migration ended, as far as the autopilot can tell. */
export interface Outcome {
  readonly result: 'committed' | 'rolled-back' | 'unknown' | 'failed-to-start' | 'lost';
  /** The source's summary (the `ferry migrate --json` last line), when it sent one. */
  readonly summary?: Record<string, unknown>;
  readonly error?: string;
}

export class DaemonError extends Error {
  override readonly name = 'DaemonError';
}

export class SourceClient {
  readonly url: string;
  readonly #token: string;

  constructor(url: string, token: string) {
    this.url = url.replace(/\/$/, '');
    this.#token = token;
  }

  async status(): Promise<ObservedMigration[]> {
    const body = await this.#request('GET', '/status') as { migrations?: Array<Record<string, unknown>> };
    return (body.migrations ?? []).map((m) => {
      const summary = m['summary'] as { result?: ObservedMigration['result'] } | undefined;
      return { migrationId: String(m['migrationId']), result: summary?.result, error: typeof m['error'] === 'string' ? m['error'] : undefined };
    });
  }

  /** Starts a migration; a refusal (HTTP 4xx) is thrown as DaemonError with the daemon's reason. */
  async start(body: Record<string, unknown>): Promise<void> {
    await this.#request('POST', '/migrations', body);
  }

  /** Opens /events; open it before POSTing so that no end is missed. */
  async watch(): Promise<EventWatch> {
    const watch = new EventWatch(this);
    await watch.connect();
    return watch;
  }

  openEvents(): WebSocket {
    return new WebSocket(`${this.url.replace(/^http/, 'ws')}/events`, { headers: { authorization: `Bearer ${this.#token}` }, perMessageDeflate: false });
  }

  async #request(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.#token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(`${this.url}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }), signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    } catch (error) {
      const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : error instanceof Error ? error.message : String(error);
      throw new DaemonError(`${this.url} does not answer: ${cause}`);
    }
    const text = await response.text();
    if (!response.ok) {
      let reason = text.trim();
      try { reason = String((JSON.parse(text) as { error?: unknown }).error ?? reason); } catch { /* the body as it is */ }
      throw new DaemonError(`${this.url} answered ${method} ${path} with HTTP ${response.status}: ${reason}`);
    }
    return JSON.parse(text) as unknown;
  }
}

/**
 * One daemon's /events feed, waited on per migration. Ends that arrive before anyone waits are kept; a
 * feed that drops is reopened and the daemon's /status read for what ended meanwhile.
 */
export class EventWatch {
  readonly #client: SourceClient;
  readonly #ended = new Map<string, Outcome>();
  readonly #waiters = new Map<string, (outcome: Outcome) => void>();
  #socket: WebSocket | undefined;
  #closed = false;

  constructor(client: SourceClient) {
    this.#client = client;
  }

  async connect(): Promise<void> {
    const ws = this.#client.openEvents();
    await new Promise<void>((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', (error) => reject(new DaemonError(`${this.#client.url}/events: ${error.message}`)));
    });
    ws.on('error', () => { /* 'close' follows and reconnects */ });
    ws.on('message', (data: Buffer) => {
      let event: unknown;
      try {
        event = JSON.parse(data.toString('utf8'));
      } catch {
        return; // not an event of ferry's: /status settles what it was about
      }
      if (typeof event === 'object' && event !== null) this.#onEvent(event as Record<string, unknown>);
    });
    ws.once('close', () => void this.#reconnect());
    this.#socket = ws;
  }

  wait(migrationId: string): Promise<Outcome> {
    const ended = this.#ended.get(migrationId);
    if (ended) return Promise.resolve(ended);
    return new Promise((resolve) => this.#waiters.set(migrationId, resolve));
  }

  close(): void {
    this.#closed = true;
    this.#socket?.terminate();
  }

  #onEvent(event: Record<string, unknown>): void {
    const id = String(event['migrationId']);
    if (event['event'] === 'summary') {
      const summary = (event['summary'] ?? {}) as Record<string, unknown>;
      this.#end(id, { result: summary['result'] as Outcome['result'], summary, ...(summary['error'] ? { error: String((summary['error'] as { message?: unknown }).message) } : {}) });
    } else if (event['event'] === 'failed-to-start') {
      this.#end(id, { result: 'failed-to-start', error: String(event['error']) });
    }
  }

  #end(id: string, outcome: Outcome): void {
    const waiter = this.#waiters.get(id);
    this.#waiters.delete(id);
    if (waiter) waiter(outcome);
    else this.#ended.set(id, outcome);
  }

  async #reconnect(): Promise<void> {
    const deadline = Date.now() + RECONNECT_FOR_MS;
    while (!this.#closed && this.#waiters.size > 0) {
      try {
        await this.connect();
        for (const m of await this.#client.status()) {
          if (!this.#waiters.has(m.migrationId)) continue;
          if (m.error !== undefined) this.#end(m.migrationId, { result: 'failed-to-start', error: m.error });
          else if (m.result) this.#end(m.migrationId, { result: m.result });
        }
        return;
      } catch (error) {
        if (Date.now() > deadline) {
          for (const id of [...this.#waiters.keys()]) this.#end(id, { result: 'lost', error: `${this.#client.url} went away during the migration (${error instanceof Error ? error.message : String(error)})` });
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  }
}

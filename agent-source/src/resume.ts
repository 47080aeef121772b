import { ErrorCode, FerryError, MessageType, PROTOCOL_VERSION, toFerryError, type Hello } from '@ferry/protocol';
import { zeroPageHash, type PageHasher, type ScanPool } from '@ferry/pages';
import { TargetConnection, type ConnectOptions } from './connection.js';

export interface HandshakeResult {
  readonly connection: TargetConnection;
  /** True when the target already held pages and sent its tables (adopted into the pools). */
  readonly resumed: boolean;
  /** Pages the target holds with non-zero content, per its tables. */
  readonly heldPages: number;
  /** The target's secret for this session (WELCOME): a later resume presents it in HELLO. */
  readonly sessionSecret: string | undefined;
  /** How the target ACKs on this connection (WELCOME), or undefined: an older target, nothing to pace on. */
  readonly acks: AckCadence | undefined;
}

/**
 * The target ACKs every `everyBytes`. Its counts and the source's meter meet at WELCOME: `received` and
 * `sent` are each side's count then, so an ACK's bytesReceived minus `received` is what arrived of the
 * bytes the source sent after `sent` (what a cut lost on an earlier connection is in neither).
 */
export interface AckCadence {
  readonly everyBytes: number;
  readonly received: number;
  readonly sent: number;
}

/** Connects, then `greet`s; the connection is closed again if the greeting fails. */
export async function handshake(
  connect: ConnectOptions,
  hello: Omit<Hello, 'type' | 'version'>,
  pools: readonly ScanPool[],
  hasher: PageHasher,
  signal: AbortSignal,
): Promise<HandshakeResult> {
  const connection = await TargetConnection.connect(connect, signal);
  try {
    return await greet(connection, hello, pools, hasher, connect.timeoutMs, signal);
  } catch (error) {
    connection.close();
    throw error;
  }
}

/**
 * Says HELLO and reads WELCOME. When the target answers `resumed` (it kept the session across a cut, or
 * starts from a --base copy) it sends PAGE_TABLE messages for every image; the pools adopt them so that
 * only pages that differ are sent. When it does not, the target holds nothing: the pools adopt an
 * all-zero table, which makes the next pass send everything again.
 */
export async function greet(
  connection: TargetConnection,
  hello: Omit<Hello, 'type' | 'version'>,
  pools: readonly ScanPool[],
  hasher: PageHasher,
  replyTimeoutMs: number,
  signal: AbortSignal,
): Promise<HandshakeResult> {
  await connection.sendControl({ type: MessageType.Hello, version: PROTOCOL_VERSION, ...hello });
  // Decoding WELCOME checks the target's version first (a FerryError Version if it differs).
  const welcome = await connection.expect([MessageType.Welcome], replyTimeoutMs, 'HELLO', signal);
  const tables = welcome.resumed ? await receiveTables(connection, pools, replyTimeoutMs, signal) : undefined;
  // A first connection to a target that holds nothing: the pools already say so.
  const sessionSecret = welcome.sessionSecret;
  const { ackEveryBytes, bytesReceived } = welcome;
  const acks = ackEveryBytes !== undefined && bytesReceived !== undefined
    ? { everyBytes: ackEveryBytes, received: bytesReceived, sent: connection.bytesSent } : undefined;
  if (!tables && !hello.resume) return { connection, resumed: false, heldPages: 0, sessionSecret, acks };
  let heldPages = 0;
  for (const [index, pool] of pools.entries()) {
    const zero = zeroPageHash(hasher, pool.pageSize);
    const table = tables?.[index] ?? new BigUint64Array(pool.pageCount).fill(zero);
    await pool.adoptTargetHashes(table);
    for (const hash of table) if (hash !== zero) heldPages += 1;
  }
  return { connection, resumed: welcome.resumed, heldPages, sessionSecret, acks };
}

async function receiveTables(connection: TargetConnection, pools: readonly ScanPool[], replyTimeoutMs: number, signal: AbortSignal): Promise<BigUint64Array[]> {
  const tables = pools.map((pool) => new BigUint64Array(pool.pageCount));
  const filled = pools.map(() => 0);
  for (const [image, pool] of pools.entries()) {
    while ((filled[image] ?? 0) < pool.pageCount) {
      const chunk = await connection.expect([MessageType.PageTable], replyTimeoutMs, 'the page tables (PAGE_TABLE)', signal);
      const entries = chunk.hashes.length / 8;
      if (chunk.image !== image || chunk.firstPage !== filled[image] || chunk.firstPage + entries > pool.pageCount) {
        throw new FerryError(ErrorCode.Malformed, `PAGE_TABLE for image ${chunk.image} pages ${chunk.firstPage}+${entries} is out of order or out of range`);
      }
      const aligned = new Uint8Array(chunk.hashes); // copy: the view may not be 8-byte aligned
      tables[image]!.set(new BigUint64Array(aligned.buffer, 0, entries), chunk.firstPage);
      filled[image] = chunk.firstPage + entries;
    }
  }
  return tables;
}

/**
 * Retries `attempt` with exponential backoff (200 ms doubling to 5 s) until it succeeds or `timeoutMs`
 * has passed. Only link failures (disconnects, timeouts) are retried; anything else is thrown at once.
 */
export async function retryUntil<T>(
  timeoutMs: number,
  wait: (ms: number) => Promise<unknown>,
  attempt: () => Promise<T>,
  cause: FerryError,
): Promise<{ result: T; attempts: number }> {
  const deadline = performance.now() + timeoutMs;
  let delayMs = 200;
  for (let attempts = 1; ; attempts++) {
    await wait(Math.min(delayMs, Math.max(0, deadline - performance.now())));
    try {
      return { result: await attempt(), attempts };
    } catch (thrown) {
      const error = toFerryError(thrown);
      if (error.code !== ErrorCode.Disconnected && error.code !== ErrorCode.Timeout) throw error;
      if (performance.now() >= deadline) {
        throw new FerryError(ErrorCode.Disconnected, `${cause.message}; reconnecting failed for ${Math.round(timeoutMs / 1000)} s (last: ${error.message})`, { cause });
      }
      delayMs = Math.min(delayMs * 2, 5000);
    }
  }
}

/**
 * QMP steps shared by the source driver, the target launcher and the benchmark: capabilities, the
 * migration URI for a device-state file, waiting for a migration or a run state.
 *
 * Facts these rely on (QEMU's qapi/migration.json and measurements on QEMU 7.2):
 * - `x-ignore-shared` skips RAM blocks backed by a shared file (`memory-backend-file,share=on`); it must
 *   be on at both ends, and on the target it is set before `migrate-incoming` (with `-incoming defer`).
 * - The `file:` URI exists from QEMU 8.2 on; older QEMU writes and reads a file through `exec:`, which
 *   runs the command with `/bin/sh -c`.
 * - A migration whose source was paused leaves the target paused too: it needs `cont`.
 */
import { QmpError, type QmpClient, type QmpEvent } from './qmp.js';

/** The `return` of query-migrate (the fields ferry reads). */
export interface MigrationInfo {
  readonly status?: string;
  readonly 'error-desc'?: string;
  readonly 'total-time'?: number;
  readonly downtime?: number;
  readonly 'setup-time'?: number;
  readonly ram?: { readonly transferred?: number; readonly total?: number; readonly 'dirty-sync-count'?: number };
  /** QEMU names it `xbzrle-cache` (qapi/migration.json MigrationInfo); present once xbzrle is on. */
  readonly 'xbzrle-cache'?: { readonly bytes?: number; readonly pages?: number; readonly 'cache-miss'?: number };
  /** Percent of vCPU time auto-converge takes away. */
  readonly 'cpu-throttle-percentage'?: number;
}

export interface RunStatus {
  readonly running: boolean;
  readonly status: string;
}

const TERMINAL = new Set(['completed', 'failed', 'cancelled']);
const POLL_MS = 100;

/** Sets migration capabilities, e.g. `{ 'x-ignore-shared': true, events: true }`. */
export async function setCapabilities(qmp: QmpClient, capabilities: Record<string, boolean>): Promise<void> {
  const list = Object.entries(capabilities).map(([capability, state]) => ({ capability, state }));
  await qmp.execute('migrate-set-capabilities', { capabilities: list });
}

export const queryMigrate = (qmp: QmpClient): Promise<MigrationInfo> => qmp.execute<MigrationInfo>('query-migrate');
export const queryStatus = (qmp: QmpClient): Promise<RunStatus> => qmp.execute<RunStatus>('query-status');

/** POSIX shell single quoting: `it's` → `'it'\''s'`. */
export const shellQuote = (text: string): string => `'${text.replaceAll("'", `'\\''`)}'`;

/** True when this QEMU has the `file:` migration URI (8.2 and later). */
export function hasFileUri(qmp: QmpClient): boolean {
  const { major, minor } = qmp.greeting.version;
  return major > 8 || (major === 8 && minor >= 2);
}

/**
 * Waits until the migration (outgoing, or incoming on a target) reaches `completed` and returns
 * query-migrate's answer; throws with QEMU's `error-desc` on `failed` or `cancelled`. It listens to
 * MIGRATION events (capability `events`) and also polls every `pollMs`, so it works whether or not
 * events are on. An event that arrives while a query is on its way makes the next query go at once: a
 * missed one would hold the pause for a whole poll interval.
 */
export async function waitForMigration(qmp: QmpClient, timeoutMs: number, pollMs = POLL_MS): Promise<MigrationInfo> {
  const deadline = Date.now() + timeoutMs;
  let changed = false;
  let wake: (() => void) | undefined;
  const off = qmp.onEvent((event: QmpEvent) => {
    if (event.event !== 'MIGRATION') return;
    changed = true;
    wake?.();
  });
  try {
    for (;;) {
      changed = false;
      const info = await queryMigrate(qmp);
      const status = info.status ?? 'none';
      if (status === 'completed') return info;
      if (TERMINAL.has(status)) {
        throw new QmpError('qemu', `migration ${status}: ${info['error-desc'] ?? 'QEMU gave no reason'}`, { command: 'query-migrate' });
      }
      if (Date.now() >= deadline) {
        throw new QmpError('timeout', `migration still '${status}' after ${timeoutMs} ms`, { command: 'query-migrate' });
      }
      if (!changed) await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(pollMs, Math.max(1, deadline - Date.now())));
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
  } finally {
    off();
  }
}

/** Polls query-status until `accept` says yes; returns the last status. */
export async function waitForRunState(qmp: QmpClient, accept: (status: RunStatus) => boolean, timeoutMs: number): Promise<RunStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await queryStatus(qmp);
    if (accept(status)) return status;
    if (Date.now() >= deadline) {
      throw new QmpError('timeout', `VM still '${status.status}' after ${timeoutMs} ms`, { command: 'query-status' });
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

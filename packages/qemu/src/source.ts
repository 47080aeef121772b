/**
 * The source side of a QEMU migration: the VM's RAM is a shared file that ferry copies itself, so QEMU
 * only has to pause, write its device state (`x-ignore-shared` skips the RAM), and either resume
 * (rollback) or quit (committed).
 *
 *     pause()              stop; wait until query-status says not running
 *     saveDeviceState(p)   x-ignore-shared on; migrate to file p; wait for completed (VM stays paused)
 *     resume()             cancel a migration still running; cont; wait until running
 *     quit()               quit; the socket closes
 *
 * resume() and close() first put back the migration settings saveDeviceState changed (x-ignore-shared,
 * events, max-bandwidth), outside the pause, so a later plain `migrate` of this VM still sends its RAM.
 */
import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { silentLogger, type QemuLogger } from './logger.js';
import { queryMigrate, setCapabilities, waitForMigration, waitForRunState } from './migration.js';
import { QmpClient, QmpError } from './qmp.js';
import { stateOut } from './state-stream.js';

export interface QemuSourceOptions {
  /** Connect timeout, and the limit for each step (pause, device state, resume). Default 30 s. */
  readonly timeoutMs?: number;
  readonly logger?: QemuLogger;
}

export interface DeviceStateResult {
  readonly bytes: number;
  readonly durationMs: number;
}

/** Fast enough that a few hundred KiB of device state never waits on the 32 MiB/s default limit. */
const DEVICE_STATE_BANDWIDTH = 8 * 1024 * 1024 * 1024;

export class QemuSourceDriver {
  readonly #qmp: QmpClient;
  readonly #timeoutMs: number;
  readonly #log: QemuLogger;
  /** Puts back the migration settings saveDeviceState changed; run after the pause, not during it. */
  #restore: (() => Promise<void>) | undefined;

  private constructor(qmp: QmpClient, timeoutMs: number, log: QemuLogger) {
    this.#qmp = qmp;
    this.#timeoutMs = timeoutMs;
    this.#log = log;
  }

  static async connect(qmpSocketPath: string, options: QemuSourceOptions = {}): Promise<QemuSourceDriver> {
    const timeoutMs = options.timeoutMs ?? 30_000;
    const qmp = await QmpClient.connect(qmpSocketPath, { timeoutMs: Math.min(timeoutMs, 10_000), commandTimeoutMs: timeoutMs });
    const log = options.logger ?? silentLogger;
    const { major, minor, micro } = qmp.greeting.version;
    log.info({ qmp: qmpSocketPath, qemu: `${major}.${minor}.${micro}` }, 'connected to source QEMU');
    return new QemuSourceDriver(qmp, timeoutMs, log);
  }

  /** The QMP connection: QEMU's monitor socket takes one client, so the disk bitmaps and the throttle share it. */
  get qmp(): QmpClient {
    return this.#qmp;
  }

  async pause(): Promise<void> {
    await this.#qmp.execute('stop');
    await waitForRunState(this.#qmp, (s) => !s.running, this.#timeoutMs);
    this.#log.debug({}, 'source QEMU paused');
  }

  async resume(): Promise<void> {
    const { status } = await queryMigrate(this.#qmp);
    if (status === 'setup' || status === 'active' || status === 'device' || status === 'pre-switchover') {
      await this.#qmp.execute('migrate_cancel');
      await waitForMigration(this.#qmp, this.#timeoutMs).catch(() => undefined); // ends as 'cancelled'
    }
    await this.#qmp.execute('cont');
    await waitForRunState(this.#qmp, (s) => s.running, this.#timeoutMs);
    this.#log.info({}, 'source QEMU resumed');
    await this.#restoreSettings();
  }

  /**
   * Writes QEMU's device state (everything but the shared RAM) to `path`, in a folder only ferry's user
   * can enter (a QEMU without `file:` writes through a socket there). Call it paused: the VM then stays
   * paused (QEMU's `postmigrate` state) until resume() or quit(). Once per pause: QEMU 7.2 refuses a
   * second `migrate` in postmigrate ("Can't migrate the vm that was paused due to previous migration").
   */
  async saveDeviceState(path: string): Promise<DeviceStateResult> {
    const started = performance.now();
    this.#restore ??= await this.#settingsToRestore();
    await setCapabilities(this.#qmp, { 'x-ignore-shared': true, events: true });
    await this.#qmp.execute('migrate-set-parameters', { 'max-bandwidth': DEVICE_STATE_BANDWIDTH });
    const stream = await stateOut(this.#qmp, path, dirname(path));
    try {
      await this.#qmp.execute('migrate', { uri: stream.uri });
      await waitForMigration(this.#qmp, this.#timeoutMs);
      await stream.transfer();
    } catch (error) {
      if (error instanceof QmpError && error.kind === 'timeout') await this.#qmp.execute('migrate_cancel').catch(() => undefined);
      throw error;
    } finally {
      stream.close();
    }
    const { size } = await stat(path);
    const durationMs = Math.round(performance.now() - started);
    this.#log.info({ path, bytes: size, durationMs }, 'saved QEMU device state');
    return { bytes: size, durationMs };
  }

  /** Leaves the VM as it was: a later plain `migrate` of this VM must not skip its RAM. */
  async #restoreSettings(): Promise<void> {
    const restore = this.#restore;
    this.#restore = undefined;
    await restore?.().catch((error: unknown) => this.#log.warn({ err: String(error) }, 'could not restore the migration settings'));
  }

  async #settingsToRestore(): Promise<() => Promise<void>> {
    const capabilities = await this.#qmp.execute<Array<{ capability: string; state: boolean }>>('query-migrate-capabilities');
    const parameters = await this.#qmp.execute<{ 'max-bandwidth'?: number }>('query-migrate-parameters');
    const was = (name: string) => capabilities.find((c) => c.capability === name)?.state ?? false;
    const previous = { 'x-ignore-shared': was('x-ignore-shared'), events: was('events') };
    const bandwidth = parameters['max-bandwidth'];
    return async () => {
      await this.#waitUntilIdle();
      await setCapabilities(this.#qmp, previous);
      if (bandwidth !== undefined) await this.#qmp.execute('migrate-set-parameters', { 'max-bandwidth': bandwidth });
    };
  }

  /** Capabilities cannot change while a (cancelled) migration is still winding down. */
  async #waitUntilIdle(): Promise<void> {
    const deadline = Date.now() + this.#timeoutMs;
    while (['setup', 'active', 'cancelling', 'device', 'pre-switchover'].includes((await queryMigrate(this.#qmp)).status ?? 'none')) {
      if (Date.now() > deadline) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Tells QEMU to exit; resolves once it has (the socket closed). */
  async quit(): Promise<void> {
    this.#restore = undefined; // QEMU goes away with its settings
    const closed = new Promise<void>((resolve) => this.#qmp.onClose(() => resolve()));
    try {
      await this.#qmp.execute('quit');
    } catch (error) {
      if (!(error instanceof QmpError && error.kind === 'closed')) throw error;
    }
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, this.#timeoutMs).unref())]);
    this.#log.info({}, 'source QEMU told to quit');
  }

  /** Disconnects; QEMU keeps running (or stays paused, with --keep-source) with its settings restored. */
  async close(): Promise<void> {
    if (!this.#qmp.closed) await this.#restoreSettings();
    await this.#qmp.close();
  }
}

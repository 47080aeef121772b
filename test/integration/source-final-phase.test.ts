/**
 * The source's final phase in process, against a real target on loopback: `migrate()` with recording
 * hooks and a recording dirty tracker on a second image (a "disk"). The state hook starts once the disk's
 * last generation is frozen and read (whether the RAM scan still runs then is timing, so it is the
 * PassSender test in source-seams that checks the hook is started from inside the pass), and the blob
 * sent alongside the final pass arrives whole.
 */
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import {
  DEFAULT_PAGE_SIZE, migrate, type DirtyTracker, type MigrateOptions, type SourceEvent, type SourceHooks,
} from '@ferry/agent-source';
import { startTarget } from '@ferry/agent-target';
import type { PageRange } from '@ferry/protocol';
import { scratchDir } from '../helpers/ferry.js';

const PAGES = 256;

class FreezeLog implements DirtyTracker {
  readonly kind = 'recording';
  readonly calls: string[];
  #generation = 0;

  constructor(calls: string[]) {
    this.calls = calls;
  }

  async start(): Promise<void> {}
  async freeze(): Promise<{ generation: number; ranges: PageRange[] }> {
    this.calls.push(`freeze ${this.#generation}`);
    return { generation: this.#generation++, ranges: [[0, 2]] };
  }
  async release(): Promise<void> {}
  async close(): Promise<void> {}
}

t.test('the state hook runs after the last freeze; the images and blob arrive whole', async (t) => {
  const dir = scratchDir(t);
  const ram = join(dir, 'ram');
  const disk = join(dir, 'disk');
  writeFileSync(ram, Buffer.alloc(PAGES * DEFAULT_PAGE_SIZE, 7));
  writeFileSync(disk, Buffer.alloc(PAGES * DEFAULT_PAGE_SIZE, 9));
  const targetDir = scratchDir(t);
  const target = await startTarget({ host: '127.0.0.1', port: 0, dir: targetDir, logger: pino({ level: 'silent' }), insecure: true });
  t.teardown(() => target.close());
  const calls: string[] = [];
  const hooks: SourceHooks = {
    pause: async () => { calls.push('pause'); },
    resume: async () => { calls.push('resume'); },
    collectState: async (stateDir) => {
      calls.push('collect-state');
      writeFileSync(join(stateDir, 'device'), 'device state');
      return [{ name: 'device', path: join(stateDir, 'device') }];
    },
    committed: async () => { calls.push('committed'); },
  };
  const options: MigrateOptions = {
    url: target.url, migrationId: 'final-phase', images: [{ name: 'ram', path: ram }, { name: 'disk', path: disk }], pageSize: DEFAULT_PAGE_SIZE,
    stateFiles: [], policy: 'xen', delta: true, deltaCacheBytes: 1 << 20, compress: 'never', workers: 1, onTimeout: 'cancel', throttle: 'off',
    replyTimeoutMs: 10_000, verifyRetries: 1, reconnectTimeoutMs: 0, pausedTimeoutMs: 30_000, pacing: true,
  };
  const onEvent = (event: SourceEvent): void => {
    if (event.event === 'pass-end' && event['final'] === true) calls.push('final pass-end');
  };
  const summary = await migrate(options, { logger: pino({ level: 'silent' }), hooks, onEvent, dirtyTrackers: new Map([['disk', new FreezeLog(calls)]]) });
  t.equal(summary.result, 'committed');
  const finalFreeze = calls.map((c) => c.startsWith('freeze')).lastIndexOf(true);
  t.ok(calls.indexOf('pause') < finalFreeze, `the last freeze comes after the pause (${calls.join(', ')})`);
  t.ok(finalFreeze < calls.indexOf('collect-state'), 'the state hook starts after it');
  t.ok(calls.indexOf('collect-state') < calls.indexOf('committed'), 'and before the commit');
  t.same(readFileSync(join(targetDir, 'final-phase', 'ram')), readFileSync(ram), 'the RAM image arrived whole');
  t.same(readFileSync(join(targetDir, 'final-phase', 'disk')), readFileSync(disk), 'the disk image too');
  t.equal(readFileSync(join(targetDir, 'final-phase', 'state', 'device'), 'utf8'), 'device state', 'and the state blob');
});

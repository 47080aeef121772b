/**
 * What the `npm run bench:qemu` rows share: teardown lists, QEMU 10 (from bookworm-backports, unpacked
 * into .cache/qemu10 with a private apt state under .cache/apt: the system's sources are not touched),
 * free ports, and the check that the guest really continued on the target.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readHeartbeats, waitForHeartbeats, type Heartbeat } from '../test/helpers/qemu.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const QEMU10_DIR = join(ROOT, '.cache/qemu10');
const APT_DIR = join(ROOT, '.cache/apt');

export class Cleanup {
  readonly #fns: Array<() => unknown> = [];
  teardown(fn: () => unknown): void {
    this.#fns.push(fn);
  }
  async run(): Promise<void> {
    for (const fn of this.#fns.splice(0).reverse()) await fn();
  }
}

/** Downloads and unpacks QEMU 10 once; returns its command prefix, or why it cannot run here. */
export function qemu10(): { argv: string[] } | { reason: string } {
  const binary = join(QEMU10_DIR, 'usr/bin/qemu-system-x86_64');
  if (!existsSync(binary)) {
    mkdirSync(join(APT_DIR, 'lists/partial'), { recursive: true });
    mkdirSync(join(APT_DIR, 'cache/archives/partial'), { recursive: true });
    mkdirSync(join(APT_DIR, 'debs'), { recursive: true });
    const list = join(APT_DIR, 'backports.list');
    writeFileSync(list, 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm-backports main\n');
    const apt = [
      '-o', `Dir::Etc::SourceList=${list}`, '-o', 'Dir::Etc::SourceParts=/nonexistent',
      '-o', `Dir::State::Lists=${join(APT_DIR, 'lists')}`, '-o', `Dir::Cache=${join(APT_DIR, 'cache')}`, '-o', 'Debug::NoLocking=1',
    ];
    const steps: Array<[string, string[], string]> = [
      ['apt-get', [...apt, 'update'], ROOT],
      ['apt-get', [...apt, 'download', 'qemu-system-x86/bookworm-backports', 'qemu-system-data/bookworm-backports'], join(APT_DIR, 'debs')],
    ];
    for (const [command, args, cwd] of steps) {
      const result = spawnSync(command, args, { cwd, encoding: 'utf8' });
      if (result.status !== 0) return { reason: `${command} ${args.at(-1)} failed: ${(result.stderr || String(result.error)).trim().slice(-300)}` };
    }
    for (const deb of readdirSync(join(APT_DIR, 'debs')).filter((f) => f.endsWith('.deb'))) {
      const result = spawnSync('dpkg', ['-x', join(APT_DIR, 'debs', deb), QEMU10_DIR], { encoding: 'utf8' });
      if (result.status !== 0) return { reason: `dpkg -x ${deb} failed: ${result.stderr.trim()}` };
    }
  }
  const missingLibs = spawnSync('ldd', [binary], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.includes('not found'));
  if (missingLibs.length > 0) return { reason: `QEMU 10 needs libraries this host lacks: ${missingLibs.map((l) => l.trim()).join(', ')}` };
  const version = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  if (version.status !== 0) return { reason: `QEMU 10 does not start: ${(version.stderr || String(version.error)).trim()}` };
  return { argv: [binary, '-L', join(QEMU10_DIR, 'usr/share/qemu')] };
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/**
 * Did the guest continue on the target: counter carried on, `minBeats` heartbeats (with fast heartbeats,
 * enough to span a verify sweep), no bad page?
 */
export async function judgeGuest(lastSource: Heartbeat | undefined, targetSerial: string, exited: Promise<unknown>, minBeats = 12): Promise<string> {
  let beats: Heartbeat[];
  try {
    beats = await waitForHeartbeats(targetSerial, (b) => b.length >= minBeats || b.some((x) => x.bad > 0), 15_000 + minBeats * 100, exited);
  } catch (error) {
    beats = readHeartbeats(targetSerial);
    if (beats.length === 0) return `FAILED: no heartbeat on the target (${(error as Error).message.slice(0, 120)})`;
  }
  const first = beats[0]!;
  const bad = Math.max(...beats.map((b) => b.bad));
  const continued = lastSource !== undefined && first.counter > lastSource.counter && first.counter <= lastSource.counter + 3;
  const verdict = continued && bad === 0 && beats.length >= minBeats ? 'ok' : 'FAILED';
  return `${verdict}: HB ${lastSource?.counter ?? '?'}→${first.counter}, ${beats.length} beats, bad=${bad}${lastSource?.bad ? ` (source bad=${lastSource.bad})` : ''}`;
}

/** The summary's pause timeline, as `; parts: step ms, ...` (nothing when the run has none). */
export function pauseParts(timeline: unknown): string {
  if (!Array.isArray(timeline)) return '';
  const parts = (timeline as Array<{ step: string; ms: number }>).filter((part) => part.ms > 0).map((part) => `${part.step} ${part.ms}`);
  return `; parts (ms): ${parts.join(', ')}`;
}
